//! The behaviours the contract (API.md, "Contract rules") promises beyond single routes:
//! 405 on a known path, the bearer scheme in any case, plain error messages that name the
//! field, enveloped errors for requests too large to route, and `/auth/session` without an
//! OIDC issuer. The document itself is checked by `api`'s unit tests and by `tests/contract.rs`.

use integration_tests::{app, second_api, Api};
use serde_json::json;

#[tokio::test]
async fn an_unknown_method_on_a_known_path_is_405_with_allow() {
    let api = Api::new_user().await;
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/databases", "GET, POST"),
        (reqwest::Method::PATCH, "/databases/db_x", "GET, DELETE"),
        (reqwest::Method::GET, "/databases/db_x/stop", "POST"),
        (reqwest::Method::DELETE, "/me", "GET"),
    ] {
        let raw = reqwest::Client::new()
            .request(method.clone(), format!("{}/api/v1{path}", api.base))
            .bearer_auth(api.key.as_deref().expect("key"))
            .send()
            .await
            .expect("answers");
        assert_eq!(raw.status().as_u16(), 405, "{method} {path}");
        assert_eq!(raw.headers()["allow"], allow, "{method} {path}");
        let id = raw.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        let body: serde_json::Value = raw.json().await.expect("json");
        assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED", "{body}");
        assert_eq!(body["error"]["request_id"], id.as_str());
    }
    // An unknown path stays 404.
    api.send(reqwest::Method::PUT, "/no-such-route", None).await.expect_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn the_authorization_scheme_is_case_insensitive() {
    let api = Api::new_user().await;
    let key = api.key.clone().expect("key");
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/me", api.base))
            .header("authorization", format!("{scheme} {key}"))
            .send()
            .await
            .expect("answers");
        assert_eq!(r.status().as_u16(), 200, "{scheme}");
    }
    // Another scheme is still no credential.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/me", api.base))
        .header("authorization", format!("Basic {key}"))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status().as_u16(), 401);
}

/// Messages name the field and speak JSON, not Rust or the framework.
#[tokio::test]
async fn malformed_queries_and_bodies_get_plain_messages_naming_the_field() {
    let api = Api::new_user().await;
    let leaks = ["deserialize", "invalid digit", "struct", "u64", "i64", "CreateDatabase", "NewRule", "Query"];
    let check = |r: &integration_tests::Resp, field: &str| {
        r.expect_error(400, "INVALID_REQUEST");
        let msg = r.body["error"]["message"].as_str().expect("message");
        assert!(msg.contains(&format!("`{field}`")), "{msg}");
        for leak in leaks {
            assert!(!msg.contains(leak), "{leak} in {msg}");
        }
    };
    check(&api.get("/databases?limit=abc").await, "limit");
    check(&api.get("/activity?since=yesterday").await, "since");
    check(&api.get("/activity?limit=1.5").await, "limit");
    check(&api.post("/databases", json!({ "name": 5 })).await, "name");
    check(&api.post("/databases/db_x/allowlist", json!({ "cidr": "10.0.0.0/8", "ttl_seconds": -1 })).await, "ttl_seconds");
    let r = api.post_raw("/databases", r#"["a", "postgres"]"#).await;
    r.expect_error(400, "INVALID_REQUEST");
    let msg = r.body["error"]["message"].as_str().expect("message");
    assert!(msg.contains("JSON object") && !msg.contains("struct"), "{msg}");
}

/// Requests too large to route (a huge header, a huge path) still get the error envelope
/// and a request id.
#[tokio::test]
async fn requests_too_large_to_route_get_the_envelope_and_a_request_id() {
    let base = &app().api_url;
    let long_path = format!("{base}/api/v1/databases/{}", "a".repeat(70_000));
    let huge_header = "x".repeat(1 << 20);
    let client = reqwest::Client::new();
    let attempts = [
        client.get(&long_path).send().await,
        client.get(format!("{base}/api/v1/me")).header("x-padding", huge_header.as_str()).send().await,
    ];
    for (i, r) in attempts.into_iter().enumerate() {
        let r = r.expect("answers");
        let status = r.status().as_u16();
        assert!([400, 414, 431].contains(&status), "attempt {i}: {status}");
        assert!(r.headers().get("x-request-id").is_some(), "attempt {i}: no x-request-id");
        let body: serde_json::Value = r.json().await.expect("a JSON body");
        assert_eq!(body["error"]["code"], "INVALID_REQUEST", "attempt {i}: {body}");
        assert!(body["error"]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{body}");
    }
    // The server is unharmed.
    Api::new(None).get("/healthz").await.expect(200);
}

#[tokio::test]
async fn session_sign_in_without_an_oidc_issuer_is_404() {
    // The shared platform has an issuer; a second API process has none.
    let base = second_api().await;
    let r = Api::new(None).at(&base).post("/auth/session", json!({ "id_token": "x.y.z" })).await;
    r.expect_error(404, "NOT_FOUND");
    assert!(r.request_id.is_some());
}
