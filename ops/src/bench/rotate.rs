//! Password rotation: from `POST /databases/{id}/reset-password` to the new password logging
//! in through PgBouncer, against doing it by hand on the same host — SCRAM verifier,
//! `ALTER ROLE … PASSWORD`, the auth_file line, RELOAD + RECONNECT on PgBouncer's console,
//! then the same login. Interleaved round by round.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::stats::{ms, summarize};
use crate::harness;

pub async fn run(count: usize) -> anyhow::Result<()> {
    anyhow::ensure!(count > 0, "--count must be positive");
    let h = harness::shared();
    let http = reqwest::Client::new();
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let ours_db = create(&http, h, &format!("rot-{run_id}")).await?;
    let raw_db = create(&http, h, &format!("rawrot-{run_id}")).await?;
    let superuser = crate::local::connect(&h.platform.host.pg.dsn("postgres")).await.context("superuser")?;
    let admin = crate::local::connect(&h.platform.host.bouncer.admin_dsn()).await.context("pgbouncer console")?;

    let (mut ours, mut base) = (Vec::new(), Vec::new());
    let (mut ours_total, mut base_total) = (Duration::ZERO, Duration::ZERO);
    for i in 0..=count {
        let t = Instant::now();
        let password = reset_via_api(&http, h, &ours_db.0).await?;
        login(h, &ours_db.1, &password).await.context("the reset password does not work through PgBouncer")?;
        let d = t.elapsed();
        let t = Instant::now();
        raw_rotate(h, &superuser, &admin, &raw_db.1, &format!("raw-{run_id}-{i}")).await.context("raw rotation")?;
        let b = t.elapsed();
        // Round 0 warms both paths (connections, pools) and is not counted.
        if i > 0 {
            ours.push(d);
            ours_total += d;
            base.push(b);
            base_total += b;
        }
        eprint!("\rrotated {i}/{count}");
    }
    eprintln!();
    let (o, b) = (summarize(&ours, ours_total), summarize(&base, base_total));
    println!("bench rotate: {count} password resets, sequential, same tenant host");
    println!("  api (reset-password → new password logs in via PgBouncer): p50 {}  p95 {}", ms(o.p50), ms(o.p95));
    println!("  raw (SCRAM + ALTER ROLE + auth_file + RELOAD/RECONNECT → login): p50 {}  p95 {}", ms(b.p50), ms(b.p95));
    println!("  ratio api/raw p50: {:.2}x  p95: {:.2}x", ratio(o.p50, b.p50), ratio(o.p95, b.p95));
    breakdown(&h.control_url, &ours_db.0).await
}

/// Where the API path spends its time, from the events' own timestamps (medians): request
/// event → job attempt started (dispatch + queue pickup), → reset recorded (the job).
async fn breakdown(control_url: &str, id: &str) -> anyhow::Result<()> {
    let stream = domain::StreamId::database(domain::DatabaseId::parse(id).map_err(|e| anyhow::anyhow!("{e}"))?);
    let c = crate::local::connect(control_url).await?;
    let row = c
        .query_one(
            "with e as (select type, occurred_at, data->>'operation_id' as op from events where stream_id = $1),
             t as (select (select occurred_at from e where op = r.op and type = 'OperationAttemptStarted') - r.occurred_at as pickup,
                          (select occurred_at from e where op = r.op and type = 'PasswordReset')
                            - (select occurred_at from e where op = r.op and type = 'OperationAttemptStarted') as work
                   from e r where r.type = 'PasswordResetRequested')
             select percentile_cont(0.5) within group (order by extract(epoch from pickup)) * 1000,
                    percentile_cont(0.5) within group (order by extract(epoch from work)) * 1000 from t",
            &[&stream.as_str()],
        )
        .await?;
    let (pickup, work): (Option<f64>, Option<f64>) = (row.get(0), row.get(1));
    println!(
        "  api path medians: request event → job started {:.1} ms, job started → reset recorded {:.1} ms",
        pickup.unwrap_or_default(),
        work.unwrap_or_default()
    );
    Ok(())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// Creates a database through the API; returns (id, name).
async fn create(http: &reqwest::Client, h: &harness::Harness, name: &str) -> anyhow::Result<(String, String)> {
    let resp = http
        .post(format!("{}/api/v1/databases", h.api_url))
        .bearer_auth(&h.admin_key)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    anyhow::ensure!(status.as_u16() == 201, "create {name}: {status} {body}");
    Ok((body["data"]["id"].as_str().context("id")?.to_owned(), name.to_owned()))
}

async fn reset_via_api(http: &reqwest::Client, h: &harness::Harness, id: &str) -> anyhow::Result<String> {
    let resp = http
        .post(format!("{}/api/v1/databases/{id}/reset-password", h.api_url))
        .bearer_auth(&h.admin_key)
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    anyhow::ensure!(status.as_u16() == 200, "reset-password: {status} {body}");
    Ok(body["data"]["password"].as_str().context("password")?.to_owned())
}

/// One login through PgBouncer with `password`, and a query.
async fn login(h: &harness::Harness, name: &str, password: &str) -> anyhow::Result<()> {
    let client = crate::local::connect(&h.platform.host.bouncer.dsn(name, name, password)).await?;
    client.simple_query("select 1").await?;
    Ok(())
}

/// The hand-made rotation the platform automates.
async fn raw_rotate(
    h: &harness::Harness,
    superuser: &tokio_postgres::Client,
    admin: &tokio_postgres::Client,
    name: &str,
    password: &str,
) -> anyhow::Result<()> {
    let pw = password.to_owned();
    let verifier =
        tokio::task::spawn_blocking(move || postgres_protocol::password::scram_sha_256(pw.as_bytes())).await?;
    superuser.batch_execute(&format!("ALTER ROLE \"{name}\" PASSWORD '{verifier}'")).await?;
    let dir = h.platform.host.bouncer.config_dir();
    let users = dir.join(hostctl::pgbouncer::USERS_FILE);
    let text = std::fs::read_to_string(&users)?;
    let prefix = format!("\"{name}\" ");
    let rewritten: Vec<String> = text
        .lines()
        .map(|l| if l.starts_with(&prefix) { format!("{prefix}\"{verifier}\"") } else { l.to_owned() })
        .collect();
    // A new file, renamed into place: PgBouncer re-reads its auth_file on RELOAD only if the
    // file's stat changed, and an in-place rewrite of the same size within the same second
    // does not change it.
    let bytes = rewritten.join("\n") + "\n";
    hostctl::host::write_atomically(dir, hostctl::pgbouncer::USERS_FILE, bytes.as_bytes(), 0o600).await?;
    admin.simple_query("RELOAD").await?;
    admin.simple_query(&format!("RECONNECT \"{name}\"")).await?;
    login(h, name, password).await
}
