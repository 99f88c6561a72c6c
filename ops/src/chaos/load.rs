//! The load of a trial: a few concurrent clients sending a random mix of the requests people
//! send (create, delete, backup, restore, branch, stop/start, reset-password, allowlist
//! changes) through the public API, each answer written to a ledger the check reads later.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Delete,
    Backup,
    Restore,
    Branch,
    Stop,
    Start,
    ResetPassword,
    AllowAdd,
    AllowRemove,
}

/// One request as sent and, if it was answered, its answer.
#[derive(Debug, Clone)]
pub struct Entry {
    pub trial: usize,
    pub action: Action,
    /// The database the request acted on (for creations: none).
    pub database: Option<String>,
    /// The name a creation asked for.
    pub name: Option<String>,
    /// The backup or rule the request acted on.
    pub object: Option<String>,
    /// None: no answer (the platform died under it).
    pub status: Option<u16>,
    /// The id the answer named (database, backup or rule).
    pub created: Option<String>,
}

impl Entry {
    pub fn acknowledged(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What every client knows exists, shared so that the clients act on each other's objects.
#[derive(Default)]
pub struct Known {
    pub databases: Vec<String>,
    pub backups: Vec<(String, String)>,
    pub rules: Vec<(String, String)>,
}

pub struct Load {
    pub api: String,
    pub key: String,
    pub http: reqwest::Client,
    pub known: Mutex<Known>,
    pub ledger: Mutex<Vec<Entry>>,
    pub stop: AtomicBool,
}

/// The CIDRs rules use: one that admits the loopback clients of the check, one that does not.
pub const RULE_CIDRS: [&str; 2] = ["127.0.0.1/32", "10.0.0.0/8"];
/// Beyond this many known databases, creations turn into deletions.
const MAX_LIVE: usize = 10;

impl Load {
    pub fn new(api: &str, key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            api: api.to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
            known: Mutex::new(Known::default()),
            ledger: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        })
    }

    /// Runs `clients` clients until `stop` is set or the platform stops answering.
    pub async fn run(self: &Arc<Self>, trial: usize, clients: usize) {
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let me = self.clone();
                tokio::spawn(async move { me.client(trial).await })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }

    async fn client(&self, trial: usize) {
        while !self.stop.load(Ordering::Relaxed) {
            let entry = self.one(trial).await;
            let dead = entry.status.is_none();
            self.ledger.lock().expect("ledger").push(entry);
            if dead {
                return;
            }
            let pause = rand::thread_rng().gen_range(0..120);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    fn pick(&self) -> (Action, Option<String>, Option<String>) {
        let known = self.known.lock().expect("known");
        let mut rng = rand::thread_rng();
        let db = known.databases.choose(&mut rng).cloned();
        let weights: [(Action, u32); 10] = [
            (Action::Create, 4),
            (Action::Delete, 2),
            (Action::Backup, 3),
            (Action::Restore, 1),
            (Action::Branch, 1),
            (Action::Stop, 2),
            (Action::Start, 2),
            (Action::ResetPassword, 2),
            (Action::AllowAdd, 2),
            (Action::AllowRemove, 1),
        ];
        let mut action = weights.choose_weighted(&mut rng, |w| w.1).map(|w| w.0).unwrap_or(Action::Create);
        if db.is_none() {
            action = Action::Create;
        } else if action == Action::Create && known.databases.len() >= MAX_LIVE {
            action = Action::Delete;
        }
        let object = match action {
            Action::Restore => known.backups.choose(&mut rng).map(|(d, b)| format!("{d}/{b}")),
            Action::AllowRemove => known.rules.choose(&mut rng).map(|(d, r)| format!("{d}/{r}")),
            _ => None,
        };
        (action, db, object)
    }

    async fn one(&self, trial: usize) -> Entry {
        let (mut action, mut database, object) = self.pick();
        let name = format!("chaos-{:010x}", rand::thread_rng().gen::<u64>() & 0xff_ffff_ffff);
        let mut object_id = None;
        let (method, path, body) = match (action, &object) {
            (Action::Restore, Some(o)) | (Action::AllowRemove, Some(o)) => {
                let (d, id) = o.split_once('/').unwrap_or_default();
                database = Some(d.to_owned());
                object_id = Some(id.to_owned());
                if action == Action::Restore {
                    ("POST", format!("/databases/{d}/restore"), json!({"backup_id": id, "target_name": name}))
                } else {
                    ("DELETE", format!("/databases/{d}/allowlist/{id}"), Value::Null)
                }
            }
            (Action::Restore | Action::AllowRemove, None) => {
                action = Action::Backup;
                self.path_of(action, database.as_deref(), &name)
            }
            _ => self.path_of(action, database.as_deref(), &name),
        };
        if action == Action::Create {
            database = None;
        }
        let (status, answer) = self.send(method, &path, body).await;
        let created = answer["data"]["id"].as_str().map(str::to_owned);
        let entry = Entry {
            trial,
            action,
            database: database.clone(),
            name: matches!(action, Action::Create | Action::Restore | Action::Branch).then_some(name),
            object: object_id,
            status,
            created: created.clone(),
        };
        if entry.acknowledged() {
            self.learn(&entry);
        }
        entry
    }

    fn path_of(&self, action: Action, db: Option<&str>, name: &str) -> (&'static str, String, Value) {
        let db = db.unwrap_or_default();
        match action {
            Action::Create => ("POST", "/databases".into(), json!({ "name": name })),
            Action::Delete => ("DELETE", format!("/databases/{db}"), Value::Null),
            Action::Backup => ("POST", format!("/databases/{db}/backups"), json!({"label": "chaos"})),
            Action::Branch => ("POST", format!("/databases/{db}/branch"), json!({ "name": name })),
            Action::Stop => ("POST", format!("/databases/{db}/stop"), Value::Null),
            Action::Start => ("POST", format!("/databases/{db}/start"), Value::Null),
            Action::ResetPassword => ("POST", format!("/databases/{db}/reset-password"), Value::Null),
            Action::AllowAdd => {
                let cidr = RULE_CIDRS.choose(&mut rand::thread_rng()).copied().unwrap_or(RULE_CIDRS[0]);
                ("POST", format!("/databases/{db}/allowlist"), json!({ "cidr": cidr, "label": "chaos" }))
            }
            // Handled by the caller (they need a known object).
            Action::Restore | Action::AllowRemove => ("GET", format!("/databases/{db}"), Value::Null),
        }
    }

    fn learn(&self, e: &Entry) {
        let mut k = self.known.lock().expect("known");
        match (e.action, &e.created, &e.database) {
            (Action::Create | Action::Restore | Action::Branch, Some(id), _) => k.databases.push(id.clone()),
            (Action::Delete, _, Some(db)) => {
                k.databases.retain(|d| d != db);
                k.backups.retain(|(d, _)| d != db);
                k.rules.retain(|(d, _)| d != db);
            }
            (Action::Backup, Some(id), Some(db)) => k.backups.push((db.clone(), id.clone())),
            (Action::AllowAdd, Some(id), Some(db)) => k.rules.push((db.clone(), id.clone())),
            (Action::AllowRemove, _, Some(db)) => {
                let rule = e.object.as_deref().unwrap_or_default();
                k.rules.retain(|(d, r)| !(d == db && r == rule));
            }
            _ => {}
        }
    }

    /// Sends one request; `None` when no answer came (connection refused or cut).
    pub async fn send(&self, method: &str, path: &str, body: Value) -> (Option<u16>, Value) {
        let url = format!("{}/api/v1{path}", self.api);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, url).bearer_auth(&self.key);
        if !body.is_null() {
            req = req.json(&body);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let value = r.json::<Value>().await.unwrap_or(Value::Null);
                (Some(status), value)
            }
            Err(_) => (None, Value::Null),
        }
    }
}
