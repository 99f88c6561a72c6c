//! What the guard on PgBouncer's port costs a tenant's traffic: the same work through the
//! connection string (TCP to the guard, which reads the first packet and then copies bytes to
//! PgBouncer's Unix socket) and straight to PgBouncer's Unix socket, with the database's own
//! login, in the same run:
//! - `select 1` round trips on a connection kept open, interleaved query by query;
//! - login + `select 1` + disconnect, interleaved;
//! - throughput of `--clients` connections each sending `select 1` in a loop, the two paths
//!   alternated three times.
//!
//! The baseline also skips TCP itself (loopback TCP costs a little more than a Unix socket),
//! so the ratio is an upper bound on what the guard adds.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::stats::summarize;
use crate::harness;

pub async fn run(queries: usize, logins: usize, clients: usize) -> anyhow::Result<()> {
    anyhow::ensure!(queries > 0 && logins > 0 && clients > 0, "--queries, --logins and --clients must be positive");
    let h = harness::shared();
    let api = super::http::Api::new(&h.api_url, &h.admin_key)?;
    let name = format!("pooler-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let created = api.post("/databases", serde_json::json!({ "name": name })).await;
    anyhow::ensure!(created.ok(), "creating the database: {}", created.body);
    let id = created.field("id").context("the database's id")?;
    let running = api.wait_state(&format!("/databases/{id}"), &["running", "failed"], Duration::from_secs(60)).await;
    anyhow::ensure!(running.as_deref() == Some("running"), "the database is {running:?}");
    let guarded: tokio_postgres::Config = created
        .field("connection_string")
        .context("its connection string")?
        .parse()
        .context("the connection string")?;
    let mut direct = tokio_postgres::Config::new();
    direct
        .host_path(h.platform.host.bouncer.config_dir())
        .port(h.platform.host.bouncer.port())
        .user(guarded.get_user().context("user")?)
        .password(guarded.get_password().context("password")?)
        .dbname(guarded.get_dbname().context("dbname")?);
    let paths = [("through the guard (TCP)", guarded), ("PgBouncer's Unix socket", direct)];

    println!("bench pooler: one tenant database behind PgBouncer, same run");
    let sessions = [open(&paths[0].1).await?, open(&paths[1].1).await?];
    let mut rtt = [Vec::with_capacity(queries), Vec::with_capacity(queries)];
    for i in 0..=queries {
        for (k, s) in sessions.iter().enumerate() {
            let t = Instant::now();
            s.simple_query("select 1").await?;
            if i > 0 {
                rtt[k].push(t.elapsed());
            }
        }
    }
    report(&format!("select 1 on a kept-open connection ({queries} each, interleaved)"), &paths, &rtt);

    let mut login = [Vec::with_capacity(logins), Vec::with_capacity(logins)];
    for i in 0..=logins {
        for (k, (_, config)) in paths.iter().enumerate() {
            let t = Instant::now();
            open(config).await?.simple_query("select 1").await?;
            if i > 0 {
                login[k].push(t.elapsed());
            }
        }
    }
    report(&format!("login + select 1 + disconnect ({logins} each, interleaved)"), &paths, &login);

    let mut rates = [Vec::new(), Vec::new()];
    for _ in 0..3 {
        for (k, (_, config)) in paths.iter().enumerate() {
            rates[k].push(throughput(config, clients, Duration::from_secs(3)).await?);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ours, base) = (median(&mut rates[0]), median(&mut rates[1]));
    println!("  {clients} clients sending select 1 for 3 s, median of 3 alternated runs:");
    println!("    {:<28} {ours:>9.0} queries/s", paths[0].0);
    println!("    {:<28} {base:>9.0} queries/s", paths[1].0);
    println!("    ratio guard/unix: {:.2}x", ours / base.max(1e-9));
    Ok(())
}

async fn open(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = config.connect(tokio_postgres::NoTls).await.context("logging in")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn report(what: &str, paths: &[(&str, tokio_postgres::Config); 2], samples: &[Vec<Duration>; 2]) {
    let (a, b) = (summarize(&samples[0], Duration::ZERO), summarize(&samples[1], Duration::ZERO));
    let us = |d: Duration| format!("{:.0} µs", d.as_secs_f64() * 1e6);
    println!("  {what}:");
    println!("    {:<28} p50 {:>8}  p99 {:>8}", paths[0].0, us(a.p50), us(a.p99));
    println!("    {:<28} p50 {:>8}  p99 {:>8}", paths[1].0, us(b.p50), us(b.p99));
    let r = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64().max(1e-9);
    println!("    ratio guard/unix: p50 {:.2}x  p99 {:.2}x", r(a.p50, b.p50), r(a.p99, b.p99));
}

/// Queries per second from `clients` sessions, each looping `select 1` for `window`.
async fn throughput(config: &tokio_postgres::Config, clients: usize, window: Duration) -> anyhow::Result<f64> {
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(open(config).await?);
    }
    let until = Instant::now() + window;
    let counts = futures::future::try_join_all(sessions.iter().map(|s| async move {
        let mut n = 0u64;
        while Instant::now() < until {
            s.simple_query("select 1").await?;
            n += 1;
        }
        Ok::<_, tokio_postgres::Error>(n)
    }))
    .await?;
    Ok(counts.iter().sum::<u64>() as f64 / window.as_secs_f64())
}
