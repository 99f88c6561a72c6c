//! SQL over HTTP: `POST /databases/{id}/sql` for a `SELECT` of 1 row and of 10,000 rows,
//! against the same query through tokio-postgres over PgBouncer with the database's own
//! login, interleaved round by round in the same run.
//!
//! Two baselines, because the API opens a session per request (the rule: no session
//! outlives its request, so no tenant state leaks between requests):
//! - `session`: connect through PgBouncer, query, disconnect — what the API does, done by
//!   hand (the target ratio is against this one);
//! - `pooled`: the query on a connection kept open — the floor no per-request session meets.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::stats::{ms, summarize};
use crate::harness;

const SETUP: &str = "create table bench_rows as
    select g as id, md5(g::text) as label, (g * 1.5)::numeric as amount, now() as at
    from generate_series(1, 10000) g;
    alter table bench_rows add primary key (id);";

struct Case {
    label: &'static str,
    query: &'static str,
    rows: usize,
}

const CASES: [Case; 2] = [
    Case { label: "1 row", query: "select * from bench_rows where id = 1", rows: 1 },
    Case { label: "10,000 rows", query: "select * from bench_rows", rows: 10_000 },
];

pub async fn run(rounds: usize) -> anyhow::Result<()> {
    anyhow::ensure!(rounds > 0, "--rounds must be positive");
    let h = harness::shared();
    let http = reqwest::Client::new();
    let name = format!("sql-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let created = http
        .post(format!("{}/api/v1/databases", h.api_url))
        .bearer_auth(&h.admin_key)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?;
    let id = created["data"]["id"].as_str().context("the database's id")?.to_owned();
    let url = created["data"]["connection_string"].as_str().context("its connection string")?.to_owned();
    api_sql(&http, h, &id, SETUP, 0).await.context("setting up the table")?;
    let pooled = crate::local::connect(&url).await.context("connecting through PgBouncer")?;

    println!("bench sql: {rounds} rounds, interleaved, one tenant database behind PgBouncer");
    // Progress on a terminal; a log gets the results alone.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for case in &CASES {
        let (mut api, mut session, mut kept, mut parsed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..=rounds {
            let t = Instant::now();
            let body = api_sql_body(&http, h, &id, case.query).await?;
            let a = t.elapsed();
            let t = Instant::now();
            check_rows(&body, case.rows)?;
            let parse = t.elapsed();
            let t = Instant::now();
            let c = crate::local::connect(&url).await?;
            let n = c.query(case.query, &[]).await?.len();
            drop(c);
            let s = t.elapsed();
            anyhow::ensure!(n == case.rows, "the baseline read {n} rows, not {}", case.rows);
            let t = Instant::now();
            pooled.query(case.query, &[]).await?;
            let p = t.elapsed();
            // Round 0 warms every path and is not counted.
            if i > 0 {
                api.push(a);
                parsed.push(parse);
                session.push(s);
                kept.push(p);
            }
            if tty {
                eprint!("\r{}: {i}/{rounds}", case.label);
            }
        }
        if tty {
            eprintln!();
        }
        let p50 = |v: &[Duration]| summarize(v, Duration::ZERO).p50;
        let (a, s, k) = (p50(&api), p50(&session), p50(&kept));
        println!("  SELECT of {}:", case.label);
        println!("    api (POST /sql, JSON)                  p50 {}", ms(a));
        println!("      (then parsing the JSON into values   p50 {}, not counted)", ms(p50(&parsed)));
        println!("    tokio-postgres, session per query      p50 {}", ms(s));
        println!("    tokio-postgres, connection kept open   p50 {}", ms(k));
        println!("    ratio api/session: {:.2}x   api/kept-open: {:.2}x", ratio(a, s), ratio(a, k));
    }
    Ok(())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// Runs `query` through the API; checks the row count when `rows` > 0.
async fn api_sql(
    http: &reqwest::Client,
    h: &harness::Harness,
    id: &str,
    query: &str,
    rows: usize,
) -> anyhow::Result<()> {
    check_rows(&api_sql_body(http, h, id, query).await?, rows)
}

/// Runs `query` through the API: the answer's body, received whole and not parsed — the
/// point the baselines stop at too (tokio-postgres' rows received, not decoded).
async fn api_sql_body(
    http: &reqwest::Client,
    h: &harness::Harness,
    id: &str,
    query: &str,
) -> anyhow::Result<bytes::Bytes> {
    let body = if query.contains(';') {
        serde_json::json!({ "file_content": query })
    } else {
        serde_json::json!({ "query": query })
    };
    let resp = http
        .post(format!("{}/api/v1/databases/{id}/sql", h.api_url))
        .bearer_auth(&h.admin_key)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    anyhow::ensure!(status.as_u16() == 200, "POST /sql: {status} {}", String::from_utf8_lossy(&body));
    Ok(body)
}

/// Checks a `POST /sql` answer has `rows` rows (any number when 0).
fn check_rows(body: &[u8], rows: usize) -> anyhow::Result<()> {
    let body: serde_json::Value = serde_json::from_slice(body)?;
    let got = body["data"]["rows"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        rows == 0 || got == rows,
        "the API returned {got} rows, not {rows}: truncated {}",
        body["data"]["truncated"]
    );
    Ok(())
}
