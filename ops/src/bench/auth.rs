//! Authenticated reads (`GET /api/v1/databases` with an API key: key lookup, hash check,
//! the listing query) against the unauthenticated `GET /healthz` on the same server, same
//! run, same client concurrency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stats::{ms, summarize, Summary};
use crate::harness;

async fn hammer(url: String, key: Option<String>, requests: usize, concurrency: usize) -> anyhow::Result<Summary> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (http, url, key, next) = (http.clone(), url.clone(), key.clone(), next.clone());
        set.spawn(async move {
            let mut samples = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                let mut req = http.get(&url);
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                let t = Instant::now();
                let resp = req.send().await?;
                anyhow::ensure!(resp.status().is_success(), "{url}: {}", resp.status());
                resp.bytes().await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        });
    }
    let mut all: Vec<Duration> = Vec::with_capacity(requests);
    while let Some(r) = set.join_next().await {
        all.extend(r??);
    }
    Ok(summarize(&all, start.elapsed()))
}

pub async fn run(requests: usize, concurrency: usize) -> anyhow::Result<()> {
    anyhow::ensure!(requests > 0 && concurrency > 0, "--requests and --concurrency must be positive");
    let h = harness::shared();
    let user = h.new_user("bench").await?;
    let http = reqwest::Client::new();
    for i in 0..3 {
        let name = format!("auth-{i}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        http.post(format!("{}/api/v1/databases", h.api_url))
            .bearer_auth(&user.key)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await?;
    }
    let list = format!("{}/api/v1/databases", h.api_url);
    let health = format!("{}/healthz", h.api_url);
    // Warm both paths, then alternate rounds and keep each one's median round.
    hammer(list.clone(), Some(user.key.clone()), 200, concurrency).await?;
    hammer(health.clone(), None, 200, concurrency).await?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        a.push(hammer(list.clone(), Some(user.key.clone()), requests, concurrency).await?);
        b.push(hammer(health.clone(), None, requests, concurrency).await?);
    }
    a.sort_by(|x, y| x.per_second().total_cmp(&y.per_second()));
    b.sort_by(|x, y| x.per_second().total_cmp(&y.per_second()));
    let (a, b) = (&a[1], &b[1]);
    println!("bench auth: {requests} requests × 3 rounds, concurrency {concurrency} (median round)");
    println!("  GET /api/v1/databases with a key: {:.0} req/s, p50 {}, p99 {}", a.per_second(), ms(a.p50), ms(a.p99));
    println!("  GET /healthz:                      {:.0} req/s, p50 {}, p99 {}", b.per_second(), ms(b.p50), ms(b.p99));
    println!("  ratio authenticated/healthz throughput: {:.2}x (target ≥ 0.5x)", a.per_second() / b.per_second());
    Ok(())
}
