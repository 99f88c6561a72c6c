//! `berth bench move`: a database moved between two tenant hosts of the bench's platform
//! while clients write to it through the connection string its owner holds, against an
//! operator copying the same database between the same two clusters by hand (`pg_dump |
//! psql` as the superuser, writes stopped) in the same run.
//!
//! The clients are ours, not pgbench: pgbench's clients abort when their connection drops,
//! and a move drops every client of the database once (as a failover does); ours reconnect
//! every 50 ms, as an application's pool does, and each transaction is pgbench's TPC-B
//! shape (update an account, append to the history). Reported per run and as medians: the
//! **write pause** (the longest time no client committed, around the move), the move's total
//! time (request → operation succeeded) against the by-hand copy's, and the clients' TPS
//! during the move against the TPS before it. Every committed transaction is checked to be in
//! the moved database (a count of the history), so the figures are of a move that lost
//! nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::Rng;
use serde_json::{json, Value};

use crate::harness;
use crate::local::{LocalHost, LocalHostOptions, PgCluster};

/// Bytes per `accounts` row on disk (with its filler), for `--size-mb`.
const ROW_BYTES: u64 = 250;

struct Api<'a> {
    http: reqwest::Client,
    h: &'a harness::Harness,
}

impl Api<'_> {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let mut req =
            self.http.request(method, format!("{}/api/v1{path}", self.h.api_url)).bearer_auth(&self.h.admin_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    /// Polls operation `id` until it ends; fails unless it succeeded.
    async fn finish(&self, id: &str) -> anyhow::Result<()> {
        loop {
            let (_, op) = self.send(reqwest::Method::GET, &format!("/operations/{id}"), None).await?;
            match op["data"]["state"].as_str() {
                Some("succeeded") => return Ok(()),
                Some("failed") => bail!("operation {id} failed: {}", op["data"]["error"]),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// Commit times of every client, since `since`.
#[derive(Default)]
struct Commits(Mutex<Vec<Duration>>);

impl Commits {
    fn between(&self, from: Duration, to: Duration) -> Vec<Duration> {
        let mut v: Vec<Duration> =
            self.0.lock().expect("commits").iter().copied().filter(|t| *t >= from && *t <= to).collect();
        v.sort();
        v
    }
}

/// One client: TPC-B-shaped transactions through `url` until `stop`, reconnecting on errors.
async fn client(url: String, accounts: i64, since: Instant, commits: Arc<Commits>, stop: Arc<AtomicBool>) {
    let mut conn: Option<tokio_postgres::Client> = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            conn = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                Ok((c, driver)) => {
                    tokio::spawn(driver);
                    Some(c)
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
        }
        let Some(c) = conn.as_mut() else { continue };
        let (aid, delta) = {
            let mut r = rand::thread_rng();
            (r.gen_range(1..=accounts), r.gen_range(-5000..=5000i64))
        };
        let done = async {
            let tx = c.transaction().await?;
            tx.execute("update accounts set balance = balance + $1 where id = $2", &[&delta, &aid]).await?;
            tx.execute("insert into history (aid, delta) values ($1, $2)", &[&aid, &delta]).await?;
            tx.commit().await
        }
        .await;
        match done {
            Ok(()) => commits.0.lock().expect("commits").push(since.elapsed()),
            Err(_) => conn = None,
        }
    }
}

/// The longest time without a commit in `[from, to]` (commit times sorted).
fn longest_gap(commits: &[Duration], from: Duration, to: Duration) -> Duration {
    let mut points = vec![from];
    points.extend_from_slice(commits);
    points.push(to);
    points.windows(2).map(|w| w[1].saturating_sub(w[0])).max().unwrap_or_default()
}

/// `pg_dump` of `db` on `from` piped into `psql` on `to` (both as their superusers, the
/// passwords in the tools' environment), the way an operator would copy it by hand.
fn copy_by_hand(from: &PgCluster, to: &PgCluster, db: &str, into: &str) -> anyhow::Result<Duration> {
    use std::process::{Command, Stdio};
    let bins = hostctl::bins::PgBins::find()?;
    let env = |cmd: &mut Command, pg: &PgCluster, dbname: &str| {
        cmd.env("PGHOST", pg.host())
            .env("PGPORT", pg.port().to_string())
            .env("PGUSER", pg.superuser())
            .env("PGPASSWORD", pg.superuser_password())
            .env("PGDATABASE", dbname);
    };
    let started = Instant::now();
    let mut dump = Command::new(bins.tool("pg_dump"));
    dump.args(["--format=plain", "--no-owner", "--no-privileges"]).stdout(Stdio::piped());
    env(&mut dump, from, db);
    let mut dump = dump.spawn().context("pg_dump")?;
    let mut load = Command::new(bins.tool("psql"));
    load.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]).stdout(Stdio::null());
    load.stdin(dump.stdout.take().context("pg_dump's stdout")?);
    env(&mut load, to, into);
    let loaded = load.status().context("psql")?;
    let dumped = dump.wait()?;
    anyhow::ensure!(dumped.success() && loaded.success(), "pg_dump {dumped}, psql {loaded}");
    Ok(started.elapsed())
}

struct Run {
    pause: Duration,
    total: Duration,
    by_hand: Duration,
    tps_before: f64,
    tps_during: f64,
    committed: usize,
}

pub async fn run(size_mb: u64, runs: usize, clients: usize) -> anyhow::Result<()> {
    anyhow::ensure!(size_mb > 0 && runs > 0 && clients > 0, "--size-mb, --runs and --clients must be positive");
    let h = harness::shared();
    let api = Api { http: reqwest::Client::new(), h };
    let dir = crate::local::testing::scratch_dir("bench-move")?;
    let second = LocalHost::start(&dir.join("second"), &LocalHostOptions::for_tests()).await?;
    let store = h.store();
    let second_id =
        crate::platform::register_local_host_in(&store, "bench-second", (domain::DEFAULT_REGION, 10_000), &second)
            .await?;
    let local_id = store.hosts().await?.into_iter().find(|x| x.name == "local").context("the local host")?.id;
    let accounts = (size_mb * 1024 * 1024 / ROW_BYTES).max(1000) as i64;
    let mut results = Vec::new();
    for i in 0..runs {
        let name = format!("bm{i}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let (status, created) = api.send(reqwest::Method::POST, "/databases", Some(json!({ "name": name }))).await?;
        anyhow::ensure!(status == 201 || status == 202, "create: {status} {created}");
        if status == 202 {
            api.finish(created["data"]["operation_id"].as_str().context("operation")?).await?;
        }
        let id = created["data"]["id"].as_str().context("id")?.to_owned();
        let url = created["data"]["connection_string"].as_str().context("url")?.to_owned();
        eprintln!("run {}/{runs}: filling {name} with {accounts} accounts (~{size_mb} MB)…", i + 1);
        let (owner, driver) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(driver);
        owner
            .execute(
                "create table accounts as select g as id, 0::bigint as balance, repeat(md5(g::text), 6) as filler
                 from generate_series(1, $1::bigint) g",
                &[&accounts],
            )
            .await?;
        owner
            .batch_execute(
                "alter table accounts add primary key (id);
                 create table history (id bigserial primary key, aid bigint not null, delta bigint not null,
                                       at timestamptz not null default now());",
            )
            .await?;
        owner.batch_execute("vacuum analyze accounts").await?;
        let size: i64 = owner.query_one("select pg_database_size(current_database())", &[]).await?.get(0);
        drop(owner);
        let db_id = domain::DatabaseId::parse(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
        let here = store.database(db_id).await?.host_id;
        let (to, from_pg, to_pg) = if here == local_id {
            (second_id, &h.platform.host.pg, &second.pg)
        } else {
            (local_id, &second.pg, &h.platform.host.pg)
        };

        // Clients write; the TPS before the move over 5 s, then the move.
        let (since, commits, stop) = (Instant::now(), Arc::new(Commits::default()), Arc::new(AtomicBool::new(false)));
        let tasks: Vec<_> = (0..clients)
            .map(|_| tokio::spawn(client(url.clone(), accounts, since, commits.clone(), stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before_from = since.elapsed();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before_to = since.elapsed();
        let requested = since.elapsed();
        let (status, moving) = api
            .send(
                reqwest::Method::POST,
                &format!("/admin/databases/{id}/move"),
                Some(json!({ "host_id": to.to_string() })),
            )
            .await?;
        anyhow::ensure!(status == 202, "move: {status} {moving}");
        api.finish(moving["data"]["operation_id"].as_str().context("operation")?).await?;
        let moved = since.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await?;
        }
        let before = commits.between(before_from, before_to).len() as f64 / (before_to - before_from).as_secs_f64();
        let during_commits = commits.between(requested, moved);
        let during = during_commits.len() as f64 / (moved - requested).as_secs_f64();
        // Around the move: from its request to 2 s after it ended.
        let around = commits.between(requested, moved + Duration::from_secs(2));
        let pause = longest_gap(&around, requested, moved + Duration::from_secs(2));
        let committed = commits.0.lock().expect("commits").len();
        let (owner, driver) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(driver);
        let kept: i64 = owner.query_one("select count(*) from history", &[]).await?.get(0);
        drop(owner);
        anyhow::ensure!(
            kept as usize >= committed,
            "{committed} transactions committed but {kept} in the moved database"
        );

        // By hand: the same database copied between the same two clusters, from where it is
        // now back to where it was (into a scratch database there).
        let scratch = format!("bench_move_hand_{i}");
        let back = crate::local::connect(&from_pg.dsn("postgres")).await?;
        back.batch_execute(&format!("DROP DATABASE IF EXISTS {scratch}")).await?;
        back.batch_execute(&format!("CREATE DATABASE {scratch}")).await?;
        let by_hand = copy_by_hand(to_pg, from_pg, &name, &scratch)?;
        back.batch_execute(&format!("DROP DATABASE {scratch}")).await?;
        let (status, body) = api.send(reqwest::Method::DELETE, &format!("/databases/{id}"), None).await?;
        anyhow::ensure!(status == 202 || status == 200 || status == 204, "delete: {status} {body}");
        let r = Run { pause, total: moved - requested, by_hand, tps_before: before, tps_during: during, committed };
        eprintln!(
            "  {:.0} MB: pause {:.2} s, move {:.2} s, by hand {:.2} s, TPS {:.0} before / {:.0} during, {} commits kept",
            size as f64 / 1e6,
            r.pause.as_secs_f64(),
            r.total.as_secs_f64(),
            r.by_hand.as_secs_f64(),
            r.tps_before,
            r.tps_during,
            r.committed
        );
        results.push(r);
    }
    second.stop()?;
    report(size_mb, clients, &results);
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(size_mb: u64, clients: usize, runs: &[Run]) {
    let pauses: Vec<f64> = runs.iter().map(|r| r.pause.as_secs_f64()).collect();
    let max_pause = pauses.iter().copied().fold(0.0, f64::max);
    let total = median(runs.iter().map(|r| r.total.as_secs_f64()).collect());
    let by_hand = median(runs.iter().map(|r| r.by_hand.as_secs_f64()).collect());
    let tps = median(runs.iter().map(|r| r.tps_during / r.tps_before.max(1e-9)).collect());
    println!("bench move: ~{size_mb} MB, {clients} writing clients (TPC-B shape, reconnecting), {} runs", runs.len());
    println!("  write pause: p50 {:.2} s, max {max_pause:.2} s (target ≤ 2 s)", median(pauses));
    println!("  move, request → done: median {total:.2} s; by hand (pg_dump | psql, writes stopped) {by_hand:.2} s; ratio {:.2}x", total / by_hand.max(1e-9));
    println!("  TPS during the move / before it: median {tps:.2}x (target ≥ 0.7x)");
    println!("  every committed transaction was in the moved database, every run");
}
