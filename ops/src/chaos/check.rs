//! After a trial: wait for the platform to settle, then hold what it says against what the
//! clients were told, the host, PgBouncer, the backup store and the event log.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::load::{Action, Entry, Load, RULE_CIDRS};

/// What one check found; each item names its object, so that a problem still there at the
/// next trial's check is counted once.
#[derive(Debug, Default)]
pub struct Findings {
    pub lost: Vec<String>,
    pub duplicated: Vec<String>,
    pub orphaned: Vec<String>,
    pub stuck: Vec<String>,
    pub mismatched: Vec<String>,
    pub replay: Vec<String>,
    pub server_errors: Vec<String>,
    pub logins: usize,
}

/// Operations still pending or running: polled until none is left or `deadline` passes.
pub async fn settle(control: &tokio_postgres::Client, within: Duration) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + within;
    loop {
        let rows = control
            .query(
                "select id::text, kind, state, attempts from operations where state in ('pending', 'running') order by created_at",
                &[],
            )
            .await?;
        let open: Vec<String> = rows
            .iter()
            .map(|r| {
                let (id, kind, state, attempts): (String, String, String, i32) =
                    (r.get(0), r.get(1), r.get(2), r.get(3));
                format!("operation {id} ({kind}) still {state} after {} s, {attempts} attempts", within.as_secs())
            })
            .collect();
        if open.is_empty() || Instant::now() > deadline {
            return Ok(open);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every database the key sees, by id: (name, state).
async fn databases(load: &Load) -> anyhow::Result<HashMap<String, (String, String)>> {
    let mut out = HashMap::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/databases?limit=200{cursor}");
        let (status, body) = load.send("GET", &path, Value::Null).await;
        anyhow::ensure!(status == Some(200), "GET {path} answered {status:?}");
        for d in body["data"].as_array().into_iter().flatten() {
            let id = d["id"].as_str().unwrap_or_default().to_owned();
            let name = d["name"].as_str().unwrap_or_default().to_owned();
            out.insert(id, (name, d["state"].as_str().unwrap_or_default().to_owned()));
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return Ok(out),
        }
    }
}

/// Acknowledged requests whose effect is missing, and 5xx answers.
pub async fn ledger(
    load: &Load,
    ledger: &[Entry],
    control_restarted: &HashSet<usize>,
    f: &mut Findings,
) -> anyhow::Result<HashMap<String, (String, String)>> {
    let listed = databases(load).await?;
    let delete_sent: HashSet<&str> =
        ledger.iter().filter(|e| e.action == Action::Delete).filter_map(|e| e.database.as_deref()).collect();
    let removal_sent: HashSet<&str> =
        ledger.iter().filter(|e| e.action == Action::AllowRemove).filter_map(|e| e.object.as_deref()).collect();
    for e in ledger {
        let honest = e.status == Some(503) && control_restarted.contains(&e.trial);
        if e.status.is_some_and(|s| s >= 500) && !honest {
            f.server_errors
                .push(format!("{:?} on {:?} answered {:?} (trial {})", e.action, e.database, e.status, e.trial));
        }
        if !e.acknowledged() {
            continue;
        }
        let sent = Sent { delete: &delete_sent, removal: &removal_sent };
        if let Some(problem) = effect_missing(load, e, &listed, &sent).await? {
            f.lost.push(problem);
        }
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (name, _) in listed.values() {
        *names.entry(name.as_str()).or_default() += 1;
    }
    for e in ledger {
        if let Some(n) = e.name.as_deref().filter(|n| names.get(n).is_some_and(|c| *c > 1)) {
            f.duplicated.push(format!("database name {n:?} listed {} times", names[n]));
        }
    }
    Ok(listed)
}

/// What was sent to remove something, answered or not (a request cut by the kill may
/// still have taken effect).
struct Sent<'a> {
    delete: &'a HashSet<&'a str>,
    removal: &'a HashSet<&'a str>,
}

/// The acknowledged request `e`'s effect, if it is missing.
async fn effect_missing(
    load: &Load,
    e: &Entry,
    listed: &HashMap<String, (String, String)>,
    sent: &Sent<'_>,
) -> anyhow::Result<Option<String>> {
    let db = e.database.as_deref().unwrap_or_default();
    let what = format!("{:?} acknowledged with {:?} in trial {}", e.action, e.status, e.trial);
    let created = e.created.as_deref().unwrap_or_default();
    let db_alive = !sent.delete.contains(db);
    Ok(match e.action {
        Action::Create | Action::Restore | Action::Branch => (!sent.delete.contains(created)
            && !listed.contains_key(created))
        .then(|| format!("database {created} ({:?}): {what}, but it is gone", e.name)),
        Action::Delete => {
            listed.get(db).map(|(_, state)| format!("database {db}: delete {what}, but it is still listed ({state})"))
        }
        Action::Backup if db_alive => {
            let (status, _) = load.send("GET", &format!("/databases/{db}/backups/{created}"), Value::Null).await;
            (status != Some(200)).then(|| format!("backup {created} of {db}: {what}, but GET answers {status:?}"))
        }
        Action::AllowAdd if db_alive && !sent.removal.contains(created) => {
            let listed = rules(load, db).await?.iter().any(|(r, _)| r == created);
            (!listed).then(|| format!("allowlist rule {created} of {db}: {what}, but it is not listed"))
        }
        Action::AllowRemove if db_alive => {
            let id = e.object.as_deref().unwrap_or_default();
            let listed = rules(load, db).await?.iter().any(|(r, _)| r == id);
            listed.then(|| format!("allowlist rule {id} of {db}: removal {what}, but it is still listed"))
        }
        _ => None,
    })
}

async fn rules(load: &Load, db: &str) -> anyhow::Result<Vec<(String, String)>> {
    let (status, body) = load.send("GET", &format!("/databases/{db}/allowlist"), Value::Null).await;
    anyhow::ensure!(status == Some(200), "GET allowlist of {db} answered {status:?}");
    Ok(body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["id"].as_str().unwrap_or_default().to_owned(), r["cidr"].as_str().unwrap_or_default().to_owned()))
        .collect())
}

/// PgBouncer against the control plane: every running database's owner logs in from the
/// loopback address exactly when its allowlist admits it; a stopped one is refused.
pub async fn logins(load: &Load, listed: &HashMap<String, (String, String)>, f: &mut Findings) -> anyhow::Result<()> {
    for (id, (name, state)) in listed {
        if !matches!(state.as_str(), "running" | "stopped") {
            continue;
        }
        let (status, creds) = load.send("GET", &format!("/databases/{id}/credentials"), Value::Null).await;
        anyhow::ensure!(status == Some(200), "credentials of {id} answered {status:?}");
        let dsn = creds["data"]["connection_string"].as_str().unwrap_or_default().to_owned();
        let rules = rules(load, id).await?;
        let admitted = rules.is_empty() || rules.iter().any(|(_, c)| c == RULE_CIDRS[0]);
        let expected = state == "running" && admitted;
        let login = async {
            let (client, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client.simple_query("select 1").await.map(|_| ())
        };
        let outcome = tokio::time::timeout(Duration::from_secs(15), login).await;
        let worked = matches!(outcome, Ok(Ok(())));
        f.logins += 1;
        if worked != expected {
            f.mismatched.push(format!(
                "login to {name} ({state}, {} rules): expected {}, got {}",
                rules.len(),
                if expected { "success" } else { "refusal" },
                if worked { "success" } else { "refusal" }
            ));
        }
    }
    Ok(())
}

/// Succeeded backups against their objects; object keys shared by two backups.
pub async fn backups(
    control: &tokio_postgres::Client,
    objects: &opendal::Operator,
    f: &mut Findings,
) -> anyhow::Result<()> {
    let rows = control
        .query(
            "select id::text, object_key, size_bytes, sha256 from backups where state = 'succeeded' and object_key is not null",
            &[],
        )
        .await?;
    for r in rows {
        let (id, key, size, sha): (String, String, Option<i64>, Option<String>) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        match objects.read(&key).await {
            Ok(bytes) => {
                let bytes = bytes.to_vec();
                let actual = hex::encode(Sha256::digest(&bytes));
                if Some(bytes.len() as i64) != size || Some(&actual) != sha.as_ref() {
                    f.mismatched.push(format!(
                        "backup {id}: object {key} is {} bytes, sha256 {actual}; recorded {size:?}, {sha:?}",
                        bytes.len()
                    ));
                }
            }
            Err(e) => f.mismatched.push(format!("backup {id}: object {key} cannot be read: {e}")),
        }
    }
    let shared = control
        .query(
            "select object_key, count(*) from backups where object_key is not null group by 1 having count(*) > 1",
            &[],
        )
        .await?;
    for r in shared {
        let (key, n): (String, i64) = (r.get(0), r.get(1));
        f.duplicated.push(format!("backup object {key} named by {n} backups"));
    }
    Ok(())
}
