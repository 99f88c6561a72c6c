//! The data API: `GET /data/{id}/rest/v1/items?select=*&limit=100` with a publishable key
//! (key check, the plan, the statement under the anon role in its own transaction, the
//! per-query audit record) against the same `SELECT` through tokio-postgres over PgBouncer
//! on connections kept open (what an application's pool does), same run, same number of
//! concurrent clients; rounds alternate and each side's median round is kept.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::stats::{ms, summarize, Summary};
use crate::harness;

const QUERY: &str = "select * from items order by id limit 100";

async fn api_round(url: &str, key: &str, requests: usize, clients: usize) -> anyhow::Result<Summary> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (http, url, key, next) = (http.clone(), url.to_owned(), key.to_owned(), next.clone());
        set.spawn(async move {
            let mut samples = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let t = Instant::now();
                let resp = http.get(&url).header("apikey", &key).send().await?;
                anyhow::ensure!(resp.status().is_success(), "{url}: {}", resp.status());
                // PostgREST's page header says how many rows came; the body is received
                // whole and not parsed, as the baseline's rows are received and not decoded.
                let range = resp.headers().get("content-range").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let body = resp.bytes().await?;
                anyhow::ensure!(
                    range.as_deref() == Some("0-99/*") && body.first() == Some(&b'['),
                    "the API answered {range:?}: {}",
                    String::from_utf8_lossy(&body)
                );
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        });
    }
    let mut all = Vec::with_capacity(requests);
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    Ok(summarize(&all, start.elapsed()))
}

async fn pg_round(conns: &[Arc<tokio_postgres::Client>], requests: usize) -> anyhow::Result<Summary> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for c in conns {
        let (c, next) = (c.clone(), next.clone());
        set.spawn(async move {
            let mut samples = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let t = Instant::now();
                let rows = c.query(QUERY, &[]).await?;
                anyhow::ensure!(rows.len() == 100, "the baseline read {} rows", rows.len());
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        });
    }
    let mut all = Vec::with_capacity(requests);
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    Ok(summarize(&all, start.elapsed()))
}

pub async fn run(requests: usize, clients: usize) -> anyhow::Result<()> {
    anyhow::ensure!(requests > 0 && clients > 0, "--requests and --clients must be positive");
    let h = harness::shared();
    let http = reqwest::Client::new();
    let name = format!("data-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let created: serde_json::Value = http
        .post(format!("{}/api/v1/databases", h.api_url))
        .bearer_auth(&h.admin_key)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await?
        .json()
        .await?;
    let id = created["data"]["id"].as_str().context("the database's id")?.to_owned();
    let url = created["data"]["connection_string"].as_str().context("its connection string")?.to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let owner = loop {
        match crate::local::connect(&url).await {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => return Err(e).context("the database never accepted its owner"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let key: serde_json::Value = http
        .post(format!("{}/api/v1/databases/{id}/publishable-keys", h.api_url))
        .bearer_auth(&h.admin_key)
        .json(&serde_json::json!({ "name": "bench" }))
        .send()
        .await?
        .json()
        .await?;
    let key = key["data"]["publishable_key"].as_str().with_context(|| format!("a publishable key: {key}"))?.to_owned();
    owner
        .batch_execute(&format!(
            "create table items as select g as id, md5(g::text) as label, (g * 1.5)::numeric as amount, now() as at
               from generate_series(1, 1000) g;
             alter table items add primary key (id);
             grant select on items to \"{name}.anon\";"
        ))
        .await
        .context("setting up the table")?;
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(Arc::new(crate::local::connect(&url).await.context("connecting through PgBouncer")?));
    }
    let endpoint = format!("{}/data/{id}/rest/v1/items?select=*&order=id&limit=100", h.api_url);

    println!("bench data: {requests} requests a round, {clients} clients, 3 rounds each, alternating");
    api_round(&endpoint, &key, 200, clients).await?;
    pg_round(&conns, 200).await?;
    let (mut api, mut pg) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        api.push(api_round(&endpoint, &key, requests, clients).await?);
        pg.push(pg_round(&conns, requests).await?);
        eprint!(".");
    }
    eprintln!();
    let median = |v: &mut Vec<Summary>| {
        v.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
        v.swap_remove(1)
    };
    let (a, p) = (median(&mut api), median(&mut pg));
    println!(
        "  data API (GET /rest/v1/items, 100 rows)   {:>8.0} req/s  p50 {}  p99 {}",
        a.per_second(),
        ms(a.p50),
        ms(a.p99)
    );
    println!(
        "  tokio-postgres over PgBouncer, kept open  {:>8.0} req/s  p50 {}  p99 {}",
        p.per_second(),
        ms(p.p50),
        ms(p.p99)
    );
    println!(
        "  throughput ratio data API / baseline: {:.2}x (target >= 0.5x)",
        a.per_second() / p.per_second().max(1e-9)
    );
    Ok(())
}
