//! A hostile tenant against its neighbours: another account's provision latency (create →
//! running, as its client sees it) and a backup's duration (requested → succeeded, the
//! backup's own timestamps) while one tenant runs its worst, against the same measurements
//! on the quiet host, same run. The hostile tenant (a free-plan account, as anyone can get):
//! keeps a table locked in an open transaction so that its backups stall, queues the most
//! manual backups it may, holds silent sockets to PgBouncer (reopened as PgBouncer closes
//! them), and takes more locks in one transaction than its share (taken again each time the
//! lock watchdog cuts it off). Bounded: loopback only, a fixed number of sockets and locks,
//! and it all ends with the phase.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use super::http::Api;
use super::stats::{ms, summarize, Summary};
use crate::harness;

/// How long a create or backup of the neighbour may take before the bench gives up.
const WITHIN: Duration = Duration::from_secs(120);

/// One round of the neighbour: create → running, then a backup of it (with a little data).
async fn round(api: &Api, name: &str) -> anyhow::Result<(Duration, Duration)> {
    let t = Instant::now();
    let a = api.post("/databases", json!({ "name": name })).await;
    anyhow::ensure!(matches!(a.status, Some(201 | 202)), "create {name}: {:?} {}", a.status, a.body);
    let id = a.field("id").context("id")?;
    if a.status == Some(202) {
        let op = a.field("operation_id").context("operation_id")?;
        let end = api.wait_operation(&op, WITHIN).await;
        anyhow::ensure!(end.as_deref() == Some("succeeded"), "create {name}: {end:?}");
    }
    let provision = t.elapsed();
    let url = a.field("connection_string").context("connection_string")?;
    let c = crate::local::connect(&url).await.context("the neighbour logs in")?;
    c.batch_execute("create table t as select g as id, md5(g::text) as v from generate_series(1, 10000) g").await?;
    drop(c);
    let b = api.post(&format!("/databases/{id}/backups"), json!({})).await;
    let backup = b.field("id").with_context(|| format!("backup of {name}: {:?} {}", b.status, b.body))?;
    let end = api.wait_backup(&id, &backup, WITHIN).await;
    anyhow::ensure!(end.as_deref() == Some("succeeded"), "backup of {name}: {end:?}");
    let row = api.get(&format!("/databases/{id}/backups/{backup}")).await;
    let stamp = |f: &str| row.field(f).and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok());
    let took = match (stamp("created_at"), stamp("finished_at")) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
        _ => anyhow::bail!("backup {backup} has no timestamps"),
    };
    let d = api.delete(&format!("/databases/{id}")).await;
    if let Some(op) = d.field("operation_id") {
        api.wait_operation(&op, WITHIN).await;
    }
    Ok((provision, took))
}

async fn rounds(api: &Api, label: &str, n: usize) -> anyhow::Result<(Summary, Summary)> {
    let run = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let (mut provision, mut backup) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for i in 0..n {
        let (p, b) = round(api, &format!("nb-{label}-{run}-{i}")).await?;
        provision.push(p);
        backup.push(b);
        eprint!("\r{label}: {}/{n}", i + 1);
    }
    eprintln!();
    Ok((summarize(&provision, started.elapsed()), summarize(&backup, started.elapsed())))
}

/// What the hostile tenant keeps doing until `stop`, and what happened to it.
#[derive(Default)]
struct Hostile {
    stop: AtomicBool,
    /// Sockets to PgBouncer open now, and how many PgBouncer closed.
    open: AtomicUsize,
    closed: AtomicUsize,
    /// Times the lock hog held its locks, and times it was cut off.
    held: AtomicUsize,
    cut: AtomicUsize,
}

impl Hostile {
    /// One silent socket after another: connect, say nothing, wait for PgBouncer to close it.
    async fn silent_socket(self: Arc<Self>, target: SocketAddr) {
        use tokio::io::AsyncReadExt;
        while !self.stop.load(Ordering::Relaxed) {
            let Ok(mut s) = tokio::net::TcpStream::connect(target).await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            self.open.fetch_add(1, Ordering::Relaxed);
            let mut buf = [0u8; 256];
            loop {
                tokio::select! {
                    r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { break },
                    _ = tokio::time::sleep(Duration::from_millis(200)) => if self.stop.load(Ordering::Relaxed) { break },
                }
            }
            self.open.fetch_sub(1, Ordering::Relaxed);
            self.closed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes `locks` locks in one transaction and holds them; again whenever cut off.
    async fn lock_hog(self: Arc<Self>, url: String, locks: i64) {
        while !self.stop.load(Ordering::Relaxed) {
            let Ok(c) = crate::local::connect(&url).await else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let taken = c
                .batch_execute(&format!("begin; select pg_advisory_xact_lock(g) from generate_series(1, {locks}) g"))
                .await;
            if taken.is_ok() {
                self.held.fetch_add(1, Ordering::Relaxed);
            }
            while taken.is_ok() && !self.stop.load(Ordering::Relaxed) && c.simple_query("select 1").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            if !self.stop.load(Ordering::Relaxed) {
                self.cut.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The share of the host's lock table a free-plan database may hold (see `worker::locks`).
async fn free_share(h: &harness::Harness) -> anyhow::Result<i64> {
    let su = crate::local::connect(&h.platform.host.pg.dsn("postgres")).await?;
    let per_backend: String = su.query_one("show max_locks_per_transaction", &[]).await?.get(0);
    let plans = domain::PlanQuotas::default();
    Ok(i64::from(plans.free.server_connections) * per_backend.parse::<i64>()?)
}

pub async fn run(rounds_n: usize, sockets: usize) -> anyhow::Result<()> {
    anyhow::ensure!(rounds_n > 0, "--rounds must be positive");
    anyhow::ensure!(sockets <= 2_000, "--sockets is at most 2000");
    crate::local::raise_open_files(None, sockets as u64 + 1_024)?;
    let h = harness::shared();
    let neighbour = Api::new(&h.api_url, &h.new_user("neighbour").await?.key)?;
    let hostile_user = h.new_user_on("hostile", domain::Plan::Free).await?;
    let hostile = Api::new(&h.api_url, &hostile_user.key)?;

    eprintln!("warming up, then the quiet host…");
    rounds(&neighbour, "warm", 1).await?;
    let (quiet_p, quiet_b) = rounds(&neighbour, "quiet", rounds_n).await?;

    // The hostile tenant's database, a table it keeps locked, and its worst.
    let name = format!("hostile-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let created = hostile.post("/databases", json!({ "name": name })).await;
    anyhow::ensure!(created.status == Some(201), "hostile create: {:?} {}", created.status, created.body);
    let (id, url) = (created.field("id").context("id")?, created.field("connection_string").context("url")?);
    let owner = crate::local::connect(&url).await?;
    owner.batch_execute("create table held as select g from generate_series(1, 1000) g").await?;
    let holder = crate::local::connect(&url).await?;
    holder.batch_execute("begin; lock table held in access exclusive mode").await?;
    let mut queued = Vec::new();
    loop {
        let b = hostile.post(&format!("/databases/{id}/backups"), json!({})).await;
        match (b.status, b.field("id")) {
            (Some(202), Some(backup)) => queued.push(backup),
            (Some(403), _) => break,
            other => anyhow::bail!("hostile backup: {other:?} {}", b.body),
        }
    }
    let state = Arc::new(Hostile::default());
    let locks = 2 * free_share(h).await?;
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(state.clone().lock_hog(url.clone(), locks));
    let bouncer = &h.platform.host.bouncer;
    let target: SocketAddr = format!("{}:{}", bouncer.host(), bouncer.port()).parse()?;
    for _ in 0..sockets {
        tasks.spawn(state.clone().silent_socket(target));
    }
    // At its worst before measuring: every socket open, the locks taken and cut off once by
    // the lock watchdog (every 5 s) and taken again, the first backup stalled on the lock.
    let ready = Instant::now();
    while (state.cut.load(Ordering::Relaxed) == 0
        || state.held.load(Ordering::Relaxed) < 2
        || state.open.load(Ordering::Relaxed) < sockets)
        && ready.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "hostile: {} backups queued on a locked table, {} silent sockets, {locks} locks in one transaction (cut off {} times so far)",
        queued.len(),
        state.open.load(Ordering::Relaxed),
        state.cut.load(Ordering::Relaxed),
    );
    let hostile_result = rounds(&neighbour, "hostile", rounds_n).await;
    state.stop.store(true, Ordering::Relaxed);
    let mut states = std::collections::BTreeMap::<String, usize>::new();
    for b in &queued {
        let s = hostile.get(&format!("/databases/{id}/backups/{b}")).await.field("state").unwrap_or_default();
        *states.entry(s).or_default() += 1;
    }
    holder.batch_execute("rollback").await.ok();
    while tasks.join_next().await.is_some() {}
    let (hostile_p, hostile_b) = hostile_result?;

    println!("bench neighbours: {rounds_n} rounds of another account (create → running, then a backup of 10,000 rows) on a quiet host, then beside a hostile tenant");
    println!(
        "  hostile tenant (free plan): a table held locked; {} manual backups queued behind it (at the end: {states:?}); {sockets} silent sockets to PgBouncer ({} closed by it and reopened); {locks} locks in one transaction, twice its share (held {} times, cut off by the lock watchdog {} times)",
        queued.len(),
        state.closed.load(Ordering::Relaxed),
        state.held.load(Ordering::Relaxed),
        state.cut.load(Ordering::Relaxed),
    );
    for (what, q, x) in [
        ("provision (create → running)", &quiet_p, &hostile_p),
        ("backup (requested → succeeded)", &quiet_b, &hostile_b),
    ] {
        println!(
            "  {what:<32} quiet p50 {:>9}  p95 {:>9}   hostile p50 {:>9}  p95 {:>9}   ratio p50 {:.2}x (target ≤ 1.5x)",
            ms(q.p50),
            ms(q.p95),
            ms(x.p50),
            ms(x.p95),
            x.p50.as_secs_f64() / q.p50.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}
