//! Provisioning through the API (create → running, as a client sees it) against the raw
//! statements on the same tenant host, interleaved pair by pair so both see the same
//! machine state (checkpoints, cache).

use std::time::{Duration, Instant};

use anyhow::Context;

use super::stats::{ms, summarize};
use crate::harness;

pub async fn run(count: usize) -> anyhow::Result<()> {
    anyhow::ensure!(count > 0, "--count must be positive");
    let h = harness::shared();
    let http = reqwest::Client::new();
    let raw = crate::local::connect(&h.platform.host.pg.dsn("postgres")).await?;
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    // Warm both paths once (first connections, first pool).
    create_via_api(&http, h, &format!("bw-{run_id}")).await?;
    raw_create(&raw, &format!("rw-{run_id}")).await?;

    let (mut ours, mut base) = (Vec::new(), Vec::new());
    let (mut ours_total, mut base_total) = (Duration::ZERO, Duration::ZERO);
    for i in 0..count {
        let t = Instant::now();
        create_via_api(&http, h, &format!("b{i}-{run_id}")).await?;
        let d = t.elapsed();
        ours.push(d);
        ours_total += d;
        let t = Instant::now();
        raw_create(&raw, &format!("r{i}-{run_id}")).await?;
        let d = t.elapsed();
        base.push(d);
        base_total += d;
        eprint!("\rprovisioned {}/{count}", i + 1);
    }
    eprintln!();
    let (o, b) = (summarize(&ours, ours_total), summarize(&base, base_total));
    println!("bench provision: {count} databases, sequential, same tenant host");
    println!("  api (create → running): p50 {}  p95 {}  throughput {:.1}/s", ms(o.p50), ms(o.p95), o.per_second());
    println!(
        "  raw (CREATE ROLE + CREATE DATABASE + REVOKE): p50 {}  p95 {}  throughput {:.1}/s",
        ms(b.p50),
        ms(b.p95),
        b.per_second()
    );
    let ratio = o.p50.as_secs_f64() / b.p50.as_secs_f64();
    println!("  ratio api/raw p50: {ratio:.2}x (target ≤ 2.0x)");
    breakdown(&h.control_url, run_id).await
}

/// Where the API path spends its time, from the events' own timestamps (medians).
async fn breakdown(control_url: &str, run_id: &str) -> anyhow::Result<()> {
    let c = crate::local::connect(control_url).await?;
    let row = c
        .query_one(
            "with t as (
               select d.id,
                 (select occurred_at from events where stream_id = 'database-' || d.id and type = 'DatabaseCreationRequested') as req,
                 (select min(occurred_at) from events where stream_id = 'database-' || d.id and type = 'OperationAttemptStarted') as started,
                 (select occurred_at from events where stream_id = 'database-' || d.id and type = 'DatabaseProvisioned') as done
               from databases d where d.name like 'b%-' || $1)
             select percentile_cont(0.5) within group (order by extract(epoch from started - req)) * 1000,
                    percentile_cont(0.5) within group (order by extract(epoch from done - started)) * 1000
             from t",
            &[&run_id],
        )
        .await?;
    let (pickup, work): (Option<f64>, Option<f64>) = (row.get(0), row.get(1));
    println!(
        "  api path medians: event → job started {:.1} ms, job started → provisioned {:.1} ms",
        pickup.unwrap_or_default(),
        work.unwrap_or_default()
    );
    Ok(())
}

async fn create_via_api(http: &reqwest::Client, h: &harness::Harness, name: &str) -> anyhow::Result<()> {
    let resp = http
        .post(format!("{}/api/v1/databases", h.api_url))
        .bearer_auth(&h.admin_key)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    match status.as_u16() {
        201 => Ok(()),
        202 => {
            let op = body["data"]["operation_id"].as_str().context("operation_id")?.to_owned();
            loop {
                let o: serde_json::Value = http
                    .get(format!("{}/api/v1/operations/{op}", h.api_url))
                    .bearer_auth(&h.admin_key)
                    .send()
                    .await?
                    .json()
                    .await?;
                match o["data"]["state"].as_str() {
                    Some("succeeded") => return Ok(()),
                    Some("failed") => anyhow::bail!("provisioning failed: {}", o["data"]["error"]),
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }
        _ => anyhow::bail!("create {name}: {status} {body}"),
    }
}

async fn raw_create(client: &tokio_postgres::Client, name: &str) -> anyhow::Result<()> {
    let q = format!("\"{name}\"");
    client
        .batch_execute(&format!("CREATE ROLE {q} LOGIN PASSWORD 'bench-password-{name}' CONNECTION LIMIT 20"))
        .await?;
    client.batch_execute(&format!("CREATE DATABASE {q} OWNER {q}")).await?;
    client.batch_execute(&format!("REVOKE CONNECT ON DATABASE {q} FROM PUBLIC")).await?;
    Ok(())
}
