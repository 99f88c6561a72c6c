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
    check(
        &api.post("/databases/db_x/allowlist", json!({ "cidr": "10.0.0.0/8", "ttl_seconds": -1 })).await,
        "ttl_seconds",
    );
    let r = api.post_raw("/databases", r#"["a", "postgres"]"#).await;
    r.expect_error(400, "INVALID_REQUEST");
    let msg = r.body["error"]["message"].as_str().expect("message");
    assert!(msg.contains("JSON object") && !msg.contains("struct"), "{msg}");
}

/// Sends `head` (a raw HTTP/1.1 request head) and reads the answer until the server closes.
async fn raw(head: String) -> (u16, String, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app().api_url.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connects");
    // The server may answer and close before it has read everything: a failed write is fine.
    let _ = conn.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// Requests too large to route (a 1 MB header, a 70,000-character path) still get the error
/// envelope and a request id.
#[tokio::test]
async fn requests_too_large_to_route_get_the_envelope_and_a_request_id() {
    let long_path = format!("GET /api/v1/databases/{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let huge_header = format!("GET /api/v1/me HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n", "x".repeat(1 << 20));
    for (what, head) in [("a long path", long_path), ("a huge header", huge_header)] {
        let (status, headers, body) = raw(head).await;
        assert!([400, 414, 431].contains(&status), "{what}: {status} {headers}");
        assert!(headers.contains("\r\nx-request-id: req_"), "{what}: no x-request-id in {headers}");
        assert_eq!(body["error"]["code"], "INVALID_REQUEST", "{what}: {body}");
        assert!(body["error"]["request_id"].as_str().is_some_and(|id| headers.contains(id)), "{what}: {body}");
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
