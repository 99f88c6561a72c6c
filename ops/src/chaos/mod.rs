//! The crash-consistency experiment as a harness: `trials` times, a few clients send a random
//! mix of requests to a real `berth up`, which is killed with SIGKILL at a random moment and
//! restarted on the same data dir — or, in turn, one of the servers it runs (PgBouncer, the
//! tenant PostgreSQL, the control-plane PostgreSQL) is, and its supervisor must bring it back; once every operation has settled (or 90 s passed), the
//! check holds the platform against what the clients were told, the host, PgBouncer, the
//! backup store and the event log (`berth audit replay` and `verify`).
//!
//! Counted once per object over the run: **lost** (an acknowledged request whose effect is
//! missing), **duplicated** (two databases of one requested name, two backups of one object),
//! **orphaned** (the orphan reconciler's findings with no grace: what the host or the backup
//! store has that the control plane does not say, or lacks), **stuck** (operations not ended
//! after settling), **mismatched** (a succeeded backup whose object's size or sha256 differ
//! from the record; a PgBouncer login that does not match the database's state and
//! allowlist), **replay differences**, and **server errors** (5xx answers; a 503 is the honest
//! answer while the control-plane PostgreSQL restarts and is not counted in those trials).
//!
//! `BERTH_CHAOS_DEBUG=1` also prints every request of each trial with its answer.

mod check;
mod load;
pub mod node;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use serde_json::json;

use crate::local::{ClusterOptions, PgCluster};

#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub trials: usize,
    pub clients: usize,
    /// The kill comes this long after the load starts: uniformly between the two, in ms.
    pub kill_after_ms: (u64, u64),
    pub settle: Duration,
    /// For the harness's own test: before the last check, plant one orphan (a marked role
    /// and database on the host) and corrupt one succeeded backup's object, to prove the
    /// check sees what it counts.
    pub sabotage: bool,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self { trials: 3, clients: 3, kill_after_ms: (500, 4000), settle: Duration::from_secs(90), sabotage: false }
    }
}

/// The run's totals; `problems` lists every counted object once.
#[derive(Debug, Default)]
pub struct Totals {
    pub trials: usize,
    pub requests: usize,
    pub answered: usize,
    pub logins: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub orphaned: usize,
    pub stuck: usize,
    pub mismatched: usize,
    pub replay_differences: usize,
    pub server_errors: usize,
    pub problems: BTreeSet<String>,
}

impl Totals {
    pub fn clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn add(&mut self, f: &check::Findings) {
        let kinds: [(&str, &Vec<String>, &mut usize); 7] = [
            ("lost", &f.lost, &mut self.lost),
            ("duplicated", &f.duplicated, &mut self.duplicated),
            ("orphaned", &f.orphaned, &mut self.orphaned),
            ("stuck", &f.stuck, &mut self.stuck),
            ("mismatched", &f.mismatched, &mut self.mismatched),
            ("replay", &f.replay, &mut self.replay_differences),
            ("server error", &f.server_errors, &mut self.server_errors),
        ];
        for (kind, items, count) in kinds {
            for item in items {
                if self.problems.insert(format!("{kind}: {item}")) {
                    *count += 1;
                }
            }
        }
        self.logins += f.logins;
    }

    pub fn line(&self) -> String {
        format!(
            "{} trials, {} requests ({} answered), {} PgBouncer logins checked: lost {}, duplicated {}, orphaned {}, \
             stuck {}, mismatched {}, replay differences {}, server errors {}",
            self.trials,
            self.requests,
            self.answered,
            self.logins,
            self.lost,
            self.duplicated,
            self.orphaned,
            self.stuck,
            self.mismatched,
            self.replay_differences,
            self.server_errors
        )
    }
}

/// Runs the experiment with the `berth` binary at `exe` in a scratch directory under
/// `TMPDIR`, reporting each trial through `progress`. The directory is removed when the run
/// is clean and kept (its path in the error) when it is not.
pub async fn run(exe: &Path, opts: &ChaosOptions, progress: &mut (dyn FnMut(String) + Send)) -> anyhow::Result<Totals> {
    let scratch = std::env::temp_dir().join(format!("berth-chaos-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&scratch)?;
    let data = scratch.join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let (mut node, key) = node::Node::boot(exe, &data, &format!("127.0.0.1:{port}")).await?;
    let result = trials(&mut node, key, opts, progress).await;
    let stopped = node.stop().await;
    let totals = result.with_context(|| format!("the run failed; its directory is kept: {}", scratch.display()))?;
    stopped?;
    // Kept for a look when the run found more than what the sabotage planted (two problems).
    let planted = if opts.sabotage { 2 } else { 0 };
    if totals.problems.len() <= planted {
        let _ = std::fs::remove_dir_all(&scratch);
    } else {
        progress(format!("kept {} (log: {})", scratch.display(), node.log().display()));
    }
    Ok(totals)
}

async fn trials(
    node: &mut node::Node,
    key: Option<String>,
    opts: &ChaosOptions,
    progress: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<Totals> {
    let key = key.context("berth up printed no admin key on its first start")?;
    let load = Arc::new(load::Load::new(&node.api, &key)?);
    let (_, me) = load.send("GET", "/me", serde_json::Value::Null).await;
    let account = me["data"]["account_id"].as_str().context("GET /me names no account")?.to_owned();
    let (status, _) = load.send("PATCH", &format!("/admin/accounts/{account}"), json!({"plan": "business"})).await;
    anyhow::ensure!(status == Some(200), "setting the plan answered {status:?}");
    let control = Control::attach(&node.dir).await?;
    let mut totals = Totals::default();
    // Trials whose control-plane PostgreSQL was killed: 503 answers are its honest answer.
    let mut control_restarted = std::collections::HashSet::new();
    for trial in 1..=opts.trials {
        let kill_after = rand::thread_rng().gen_range(opts.kill_after_ms.0..=opts.kill_after_ms.1);
        load.stop.store(false, Ordering::Relaxed);
        let before = load.ledger.lock().expect("ledger").len();
        let clients = {
            let load = load.clone();
            let n = opts.clients;
            tokio::spawn(async move { load.run(trial, n).await })
        };
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        let target = node::Target::of_trial(trial);
        let started = Instant::now();
        match target {
            node::Target::BerthUp => {
                node.kill9().await?;
                load.stop.store(true, Ordering::Relaxed);
                clients.await?;
                node.restart().await?;
            }
            node::Target::Server(server) => {
                node.kill_server(server).await?;
                load.stop.store(true, Ordering::Relaxed);
                clients.await?;
                if server == node::Server::ControlPostgres {
                    control_restarted.insert(trial);
                }
            }
        }
        let control = control.reconnect().await?;
        let mut f = check::Findings { stuck: check::settle(&control.client, opts.settle).await?, ..Default::default() };
        let settled = started.elapsed();
        let ledger = load.ledger.lock().expect("ledger").clone();
        let sent = &ledger[before..];
        totals.trials += 1;
        totals.requests += sent.len();
        totals.answered += sent.iter().filter(|e| e.status.is_some()).count();
        if std::env::var_os("BERTH_CHAOS_DEBUG").is_some() {
            for e in sent {
                progress(format!("  {:?} {:?} -> {:?} {:?}", e.action, e.database, e.status, e.created));
            }
        }
        let listed = check::ledger(&load, &ledger, &control_restarted, &mut f).await?;
        check::logins(&load, &listed, &mut f).await?;
        if opts.sabotage && trial == opts.trials {
            control.sabotage(&load, &listed).await?;
        }
        check::backups(&control.client, &control.objects, &mut f).await?;
        control.orphans(&mut f).await?;
        control.replay(&mut f).await?;
        totals.add(&f);
        progress(format!(
            "trial {trial}/{}: {} requests ({} answered), {target:?} killed after {:.1} s, back and settled in {:.1} s; {}",
            opts.trials,
            sent.len(),
            sent.iter().filter(|e| e.status.is_some()).count(),
            kill_after as f64 / 1000.0,
            settled.as_secs_f64(),
            totals.line()
        ));
    }
    Ok(totals)
}

/// The control plane of the node under test, as an operator's tools reach it.
struct Control {
    dir: PathBuf,
    client: tokio_postgres::Client,
    store: eventstore::Store,
    objects: opendal::Operator,
}

impl Control {
    async fn attach(dir: &Path) -> anyhow::Result<Control> {
        // The node's control cluster is running: this adopts it, it starts nothing.
        let cluster = PgCluster::start(&dir.join("control"), &ClusterOptions::default()).await?;
        let (dsn, url) = crate::platform::control_database(&cluster).await?;
        let client = crate::local::connect(&dsn).await?;
        let store = crate::platform::open_store_with_key_file(&url, &dir.join("master.key"), 2).await?;
        let config = crate::config::Config { data_dir: dir.to_owned(), ..Default::default() };
        let objects = config.backup_store().operator()?;
        Ok(Control { dir: dir.to_owned(), client, store, objects })
    }

    /// After a restart: new sessions (the old ones died with the server).
    async fn reconnect(&self) -> anyhow::Result<Control> {
        Control::attach(&self.dir).await
    }

    async fn orphans(&self, f: &mut check::Findings) -> anyhow::Result<()> {
        let mut rec = worker::drift::Reconciler::new(
            self.store.clone(),
            hostctl::Hosts::default(),
            domain::PlanQuotas::default(),
            Some(self.objects.clone()),
            Duration::ZERO,
        );
        for finding in rec.reconcile_once().await? {
            f.orphaned.push(format!("{}: {}", finding.resource, finding.what));
        }
        Ok(())
    }

    async fn sabotage(&self, load: &load::Load, listed: &HashMap<String, (String, String)>) -> anyhow::Result<()> {
        // A fresh backup of a running database, so that there is always one to corrupt.
        let db = listed.iter().find(|(_, (_, state))| state == "running").map(|(id, _)| id.clone());
        let db = db.context("sabotage needs a running database")?;
        let (status, made) = load.send("POST", &format!("/databases/{db}/backups"), json!({})).await;
        anyhow::ensure!(status == Some(202), "backup for the sabotage answered {status:?}: {made}");
        let id = made["data"]["id"].as_str().context("backup id")?.to_owned();
        let deadline = Instant::now() + Duration::from_secs(90);
        let key = loop {
            let (_, b) = load.send("GET", &format!("/databases/{db}/backups/{id}"), serde_json::Value::Null).await;
            match (b["data"]["state"].as_str(), b["data"]["object_key"].as_str()) {
                (Some("succeeded"), Some(key)) => break key.to_owned(),
                (Some("failed"), _) => anyhow::bail!("the sabotage's backup failed: {b}"),
                _ => anyhow::ensure!(Instant::now() < deadline, "the sabotage's backup did not finish in 90 s"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        self.objects.write(&key, b"not the backup that was recorded".to_vec()).await?;
        let host = self.store.hosts().await?.into_iter().next().context("no host")?;
        let conn = worker::hosts::open(&hostctl::Hosts::default(), &self.store, host.id).await?;
        let su = conn.pool.get().await?;
        let name = format!("chaos-orphan-{:08x}", rand::random::<u32>());
        su.batch_execute(&format!(
            "create role \"{name}\" login; comment on role \"{name}\" is 'berth:database:{}'",
            uuid::Uuid::new_v4()
        ))
        .await?;
        su.batch_execute(&format!("create database \"{name}\" owner \"{name}\"")).await?;
        Ok(())
    }

    async fn replay(&self, f: &mut check::Findings) -> anyhow::Result<()> {
        let mut out = Vec::new();
        if !crate::audit::replay(&self.store, &mut out).await? {
            let text = String::from_utf8_lossy(&out);
            f.replay.extend(text.lines().filter(|l| l.contains("only ")).map(|l| l.trim().to_owned()));
        }
        let mut out = Vec::new();
        if !crate::audit::verify(&self.store, None, &mut out).await? {
            f.replay.push(String::from_utf8_lossy(&out).trim().to_owned());
        }
        Ok(())
    }
}
