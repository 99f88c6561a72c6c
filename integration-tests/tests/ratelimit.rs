//! Request budgets, in a test binary of their own so the small budgets apply to nobody else.

use integration_tests::Api;

fn configure() {
    let mut opts = ops::harness::HarnessOptions::default();
    opts.api.credential_budget = Some(api::ratelimit::Budget { rate: 0.5, burst: 5.0 });
    opts.api.ip_budget = Some(api::ratelimit::Budget { rate: 1.0, burst: 40.0 });
    ops::harness::configure(opts);
}

#[tokio::test]
async fn budgets_refuse_with_429_and_retry_after_then_refill() {
    configure();
    let api = Api::new_user().await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(api.get("/databases").await);
    }
    let ok = statuses.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        5,
        "the burst is allowed, then refused: {:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let limited = statuses.iter().find(|r| r.status == 429).expect("a 429");
    limited.expect_error(429, "RATE_LIMITED");
    // Another credential has its own budget.
    Api::new_user().await.get("/databases").await.expect(200);
    // The header says when to come back, and after that the request goes through.
    let raw = reqwest::Client::new()
        .get(format!("{}/api/v1/databases", api.base))
        .bearer_auth(api.key.as_deref().expect("key"))
        .send()
        .await
        .expect("answers");
    assert_eq!(raw.status().as_u16(), 429);
    let wait: u64 = raw.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=3).contains(&wait), "retry-after {wait}");
    // The pause is what is tested: after exactly `retry-after`, not on a later retry.
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    api.get("/databases").await.expect(200);
}

#[tokio::test]
async fn the_per_ip_budget_covers_unauthenticated_requests_but_not_health_probes() {
    configure();
    // From an address of its own, so the other test's requests do not share this bucket.
    let anonymous = Api::from_source(None, "127.0.0.2".parse().expect("ip"));
    let mut codes = Vec::new();
    for _ in 0..60 {
        codes.push(anonymous.get("/databases").await.status);
    }
    assert!(codes.contains(&401) && codes.contains(&429), "{codes:?}");
    anonymous.get("/healthz").await.expect(200);
}
