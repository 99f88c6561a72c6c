//! Provisioning through the API (create → running, as a client sees it) against the raw
//! statements on the same tenant host, interleaved pair by pair so both see the same
//! machine state (checkpoints, cache).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::stats::{ms, summarize};
use crate::harness;

/// The baseline's session: PostgreSQL's superuser, or MariaDB's platform account.
enum Raw {
    Postgres(tokio_postgres::Client),
    MariaDb(mysql_async::Conn),
}

impl Raw {
    async fn create(&mut self, name: &str) -> anyhow::Result<[Duration; 3]> {
        match self {
            Raw::Postgres(c) => raw_create(c, name).await,
            Raw::MariaDb(c) => super::maria::raw_create(c, name).await,
        }
    }

    fn statements(&self) -> [&'static str; 3] {
        match self {
            Raw::Postgres(_) => ["CREATE ROLE", "CREATE DATABASE", "REVOKE"],
            Raw::MariaDb(_) => ["CREATE DATABASE", "CREATE USER", "GRANT"],
        }
    }
}

pub async fn run(count: usize, engine: &str) -> anyhow::Result<()> {
    anyhow::ensure!(count > 0, "--count must be positive");
    let h = harness::shared();
    let http = reqwest::Client::new();
    let mut raw = match engine {
        "mariadb" => Raw::MariaDb(super::maria::admin(super::maria::server(h)?).await?),
        _ => Raw::Postgres(crate::local::connect(&h.platform.host.pg.dsn("postgres")).await?),
    };
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    // Warm both paths once (first connections, first pool).
    create_via_api(&http, h, &format!("bw-{run_id}"), engine).await?;
    raw.create(&format!("rw-{run_id}")).await?;

    let (mut ours, mut base, mut client_side, mut raw_steps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ours_total, mut base_total) = (Duration::ZERO, Duration::ZERO);
    for i in 0..count {
        let name = format!("b{i}-{run_id}");
        let t = Instant::now();
        let seen = create_via_api(&http, h, &name, engine).await?;
        let d = t.elapsed();
        ours.push(d);
        ours_total += d;
        client_side.push((name, seen));
        let t = Instant::now();
        raw_steps.push(raw.create(&format!("r{i}-{run_id}")).await?);
        let d = t.elapsed();
        base.push(d);
        base_total += d;
        eprint!("\rprovisioned {}/{count}", i + 1);
    }
    eprintln!();
    let (o, b) = (summarize(&ours, ours_total), summarize(&base, base_total));
    let names = raw.statements();
    println!("bench provision: {count} {engine} databases, sequential, same tenant host");
    println!("  api (create → running): p50 {}  p95 {}  throughput {:.1}/s", ms(o.p50), ms(o.p95), o.per_second());
    println!(
        "  raw ({} + {} + {}): p50 {}  p95 {}  throughput {:.1}/s",
        names[0],
        names[1],
        names[2],
        ms(b.p50),
        ms(b.p95),
        b.per_second()
    );
    let statement_median = |i: usize| {
        let mut v: Vec<Duration> = raw_steps.iter().map(|s: &[Duration; 3]| s[i]).collect();
        v.sort();
        ms(v[v.len() / 2])
    };
    println!(
        "    raw statements, medians: {} {}  {} {}  {} {}",
        names[0],
        statement_median(0),
        names[1],
        statement_median(1),
        names[2],
        statement_median(2)
    );
    let ratio = o.p50.as_secs_f64() / b.p50.as_secs_f64();
    println!("  ratio api/raw p50: {ratio:.2}x (target ≤ 2.0x)");
    let polled = client_side.iter().filter(|(_, s)| s.polled).count();
    println!(
        "  {} of {count} POSTs answered 201 (the API waited for the job); {polled} answered 202 and were polled every {} ms",
        count - polled,
        POLL.as_millis()
    );
    breakdown(&h.control_url, &client_side).await
}

/// The bench's poll period for a 202 (a client polls too; the API normally answers 201 after
/// waiting for the job itself, so this rarely matters).
const POLL: Duration = Duration::from_millis(5);

/// What the client saw of one create, by the wall clock (the same clock the control plane's
/// timestamps come from: one machine).
struct Seen {
    sent: DateTime<Utc>,
    done: DateTime<Utc>,
    polled: bool,
}

/// Where the API path spends its time, from the client's clock and the events' own
/// timestamps (taken just before each append). Per-step times of the job are in the worker's
/// debug log (`BERTH_LOG=warn,worker::jobs=debug`).
async fn breakdown(control_url: &str, seen: &[(String, Seen)]) -> anyhow::Result<()> {
    let c = crate::local::connect(control_url).await?;
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    let rows = c
        .query(
            "select d.name,
               (select occurred_at from events where stream_id = 'database-' || d.id and type = 'DatabaseCreationRequested'),
               (select min(occurred_at) from events where stream_id = 'database-' || d.id and type = 'OperationAttemptStarted'),
               (select occurred_at from events where stream_id = 'database-' || d.id and type = 'DatabaseProvisioned')
             from databases d where d.name = any($1)",
            &[&names],
        )
        .await?;
    // (apalis's own timestamps do not help: `run_at` is whole seconds, and `lock_at` is
    // rewritten when the task is marked running, which may be after the job has started.)
    const PHASES: [&str; 4] = [
        "POST → creation appended (HTTP, auth, quota checks, SCRAM verifier, append)",
        "appended → attempt started (NOTIFY, dispatch, job queued and fetched, StartAttempt)",
        "attempt started → provisioned (the steps)",
        "provisioned → client has the answer (wake-up, response)",
    ];
    let mut phases: Vec<Vec<f64>> = vec![Vec::new(); PHASES.len()];
    for row in &rows {
        let name: String = row.get(0);
        let Some((_, s)) = seen.iter().find(|(n, _)| *n == name) else { continue };
        let stamps: [Option<DateTime<Utc>>; 3] = [row.get(1), row.get(2), row.get(3)];
        let [Some(req), Some(started), Some(done)] = stamps else { continue };
        let points = [s.sent, req, started, done, s.done];
        for (i, w) in points.windows(2).enumerate() {
            phases[i].push((w[1] - w[0]).num_microseconds().unwrap_or_default() as f64 / 1000.0);
        }
    }
    println!("  api path, median and p90 of each phase ({} of {} databases timed):", phases[0].len(), seen.len());
    for (label, mut values) in PHASES.iter().zip(phases) {
        values.sort_by(f64::total_cmp);
        let at = |p: f64| values.get(((values.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default();
        println!("    {:7.1} ms  {:7.1} ms  {label}", at(0.5), at(0.9));
    }
    Ok(())
}

async fn create_via_api(
    http: &reqwest::Client,
    h: &harness::Harness,
    name: &str,
    engine: &str,
) -> anyhow::Result<Seen> {
    let sent = Utc::now();
    let resp = http
        .post(format!("{}/api/v1/databases", h.api_url))
        .bearer_auth(&h.admin_key)
        .json(&serde_json::json!({ "name": name, "engine": engine }))
        .send()
        .await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    match status.as_u16() {
        201 => Ok(Seen { sent, done: Utc::now(), polled: false }),
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
                    Some("succeeded") => return Ok(Seen { sent, done: Utc::now(), polled: true }),
                    Some("failed") => anyhow::bail!("provisioning failed: {}", o["data"]["error"]),
                    _ => tokio::time::sleep(POLL).await,
                }
            }
        }
        _ => anyhow::bail!("create {name}: {status} {body}"),
    }
}

/// The raw statements, one after another on one connection; returns each one's time.
async fn raw_create(client: &tokio_postgres::Client, name: &str) -> anyhow::Result<[Duration; 3]> {
    let q = format!("\"{name}\"");
    let statements = [
        format!("CREATE ROLE {q} LOGIN PASSWORD 'bench-password-{name}' CONNECTION LIMIT 20"),
        format!("CREATE DATABASE {q} OWNER {q}"),
        format!("REVOKE CONNECT ON DATABASE {q} FROM PUBLIC"),
    ];
    let mut took = [Duration::ZERO; 3];
    for (sql, took) in statements.iter().zip(&mut took) {
        let t = Instant::now();
        client.batch_execute(sql).await?;
        *took = t.elapsed();
    }
    Ok(took)
}
