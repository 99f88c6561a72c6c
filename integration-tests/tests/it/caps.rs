//! Caps a tenant cannot talk its way past: API keys per account, the selected-databases
//! list, manual backups per database per day, anonymous sign-ups per address (across API
//! processes), database users per database, and the claimer's database slots.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use integration_tests::fixtures::{free_quotas, id_token, limits};
use integration_tests::{app, unique_name, Api};
use serde_json::{json, Value};

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn an_api_key_request_is_refused_by_plan_before_its_list_is_read_and_the_list_is_capped() {
    let (free, _) = Api::new_user_on(domain::Plan::Free).await;
    // 30,000 ids that name nothing: the plan answers first, without a look at any of them.
    let many = vec!["db_01J00000000000000000000000"; 30_000];
    let started = Instant::now();
    let r = free.post("/api-keys", json!({ "label": "k", "scope": "selected", "database_ids": many })).await;
    r.expect_error(403, "PLAN_REQUIRED");
    assert!(started.elapsed() < Duration::from_secs(3), "refused in {:?}", started.elapsed());

    let pro = Api::new_user().await;
    let db = id_of(&pro.create_running(&unique_name("sel")).await);
    let r = pro
        .post("/api-keys", json!({ "label": "k", "scope": "selected", "database_ids": vec![db.clone(); 30_000] }))
        .await;
    r.expect_error(400, "INVALID_REQUEST");
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("database_ids") && m.contains("100")));
    // Within the cap, repeats count once.
    let r = pro
        .post("/api-keys", json!({ "label": "k", "scope": "selected", "database_ids": vec![db.clone(); 100] }))
        .await;
    r.expect(201);
    assert_eq!(r.data()["database_ids"], json!([db]));
    // The cap is in the OpenAPI document.
    let doc = Api::new(None).get("/api/v1/openapi.json").await;
    let schema = &doc.body["components"]["schemas"]["CreateKey"]["properties"]["database_ids"];
    assert_eq!(schema["maxItems"], 100, "{schema}");
}

#[tokio::test]
async fn live_api_keys_per_account_are_capped_and_revoking_one_frees_a_place() {
    let api = Api::new_user().await;
    let cap = limits().api_keys_per_account;
    let live = api.get("/api-keys").await.body["data"].as_array().expect("keys").len();
    let mut ids = Vec::new();
    for i in live..cap {
        ids.push(api.create_key(json!({ "label": format!("k{i}") })).await.0);
    }
    let r = api.post("/api-keys", json!({ "label": "one too many" })).await;
    r.expect_error(403, "QUOTA_EXCEEDED");
    api.delete(&format!("/api-keys/{}", ids[0])).await.expect(204);
    api.create_key(json!({ "label": "in its place" })).await;
    api.post("/api-keys", json!({ "label": "again too many" })).await.expect_error(403, "QUOTA_EXCEEDED");
}

#[tokio::test]
async fn manual_backups_per_database_per_day_are_capped() {
    let api = Api::new_user().await;
    let db = id_of(&api.create_running(&unique_name("bkcap")).await);
    for _ in 0..limits().manual_backups_per_day {
        api.post(&format!("/databases/{db}/backups"), json!({})).await.expect(202);
    }
    let r = api.post(&format!("/databases/{db}/backups"), json!({})).await;
    r.expect_error(403, "QUOTA_EXCEEDED");
    let listed = api.get(&format!("/databases/{db}/backups")).await;
    assert_eq!(listed.body["data"].as_array().expect("backups").len() as i64, limits().manual_backups_per_day);
    // Another database has its own allowance.
    let other = id_of(&api.create_running(&unique_name("bkcap2")).await);
    api.post(&format!("/databases/{other}/backups"), json!({})).await.expect(202);
}

async fn sign_up(base: &str, source: IpAddr) -> reqwest::Response {
    let http = reqwest::Client::builder().local_address(source).build().expect("a client");
    http.post(format!("{base}/api/v1/auth/anonymous")).send().await.expect("the API answers")
}

#[tokio::test]
async fn anonymous_sign_ups_per_address_are_capped_across_api_processes() {
    let source: IpAddr = "127.0.0.9".parse().expect("an address");
    let (first, second) = (app().api_url.clone(), integration_tests::second_api().await);
    let cap = limits().anonymous_signups_per_hour;
    for i in 0..cap {
        // Alternate between the two processes: the count is the control plane's.
        let base = if i % 2 == 0 { &first } else { &second };
        assert_eq!(sign_up(base, source).await.status().as_u16(), 201, "sign-up {i}");
    }
    for base in [&first, &second] {
        let r = sign_up(base, source).await;
        assert_eq!(r.status().as_u16(), 429);
        let wait: u64 = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a retry-after header");
        assert!((1..=3600).contains(&wait), "retry-after {wait}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
    }
    // Another address is not affected.
    assert_eq!(sign_up(&first, "127.0.0.10".parse().expect("address")).await.status().as_u16(), 201);
}

#[tokio::test]
async fn database_users_per_database_come_from_the_plan() {
    let (api, _) = Api::new_user_on(domain::Plan::Free).await;
    let db = id_of(&api.create_running(&unique_name("usrcap")).await);
    for i in 0..free_quotas().database_users {
        let r = api.post(&format!("/databases/{db}/users"), json!({ "username": format!("user{i}") })).await;
        assert!(r.status == 201 || r.status == 202, "{}", r.body);
    }
    let r = api.post(&format!("/databases/{db}/users"), json!({ "username": "onemore" })).await;
    r.expect_error(403, "QUOTA_EXCEEDED");
    let me = api.get("/me").await;
    assert_eq!(me.data()["quotas"]["database_users"], free_quotas().database_users);
}

#[tokio::test]
async fn a_claim_that_would_exceed_the_claimers_slots_moves_nothing() {
    let email = format!("claimer-{}@example.com", uuid::Uuid::new_v4().simple());
    let r = Api::new(None).post("/auth/session", json!({ "id_token": id_token("claim-cap", &email, json!({})) })).await;
    r.expect(200);
    let claimer = Api::new(Some(r.data()["token"].as_str().expect("token")));
    let mine = id_of(&claimer.create_running(&unique_name("mine")).await);

    let anon = Api::from_source(None, "127.0.0.11".parse().expect("address")).post("/auth/anonymous", json!({})).await;
    anon.expect(201);
    let a = Api::new(Some(anon.data()["token"].as_str().expect("token")));
    for _ in 0..free_quotas().databases {
        a.create_running(&unique_name("anon")).await;
    }
    let creds = json!({ "account_id": anon.data()["account_id"], "anonymous_secret": anon.data()["anonymous_secret"] });
    claimer.post("/auth/claim", creds.clone()).await.expect_error(403, "QUOTA_EXCEEDED");
    let listed = claimer.get("/databases").await;
    assert_eq!(listed.body["data"].as_array().expect("list").len(), 1, "nothing moved: {}", listed.body);
    let theirs = a.get("/databases").await;
    assert_eq!(theirs.body["data"].as_array().expect("list").len() as i64, free_quotas().databases);

    // With room made, the claim goes through.
    let r = claimer.delete(&format!("/databases/{mine}")).await;
    assert!(r.status == 202 || r.status == 200, "{}", r.body);
    claimer.wait_state(&mine, "deleted").await;
    claimer.post("/auth/claim", creds).await.expect(200);
    let listed = claimer.get("/databases").await;
    assert_eq!(listed.body["data"].as_array().expect("list").len() as i64, free_quotas().databases);
}
