use integration_tests::{app, Api};

#[tokio::test]
async fn missing_or_wrong_credentials_are_unauthenticated() {
    let real = app().admin_key.clone();
    let (prefix_part, _) = real.rsplit_once('_').expect("key shape");
    let wrong_secret = format!("{prefix_part}_{}", "0".repeat(64));
    let cases: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("nonsense".into()),
        Some("brth_abcdefgh_".into()),
        Some(wrong_secret),
        Some(format!("brth_zzzzzzzz_{}", "a".repeat(64))),
        Some(real.to_uppercase()),
    ];
    for key in cases {
        let api = Api::new(key.as_deref());
        for path in ["/databases", "/activity", "/operations/op_01J00000000000000000000000"] {
            let r = api.get(path).await;
            r.expect_error(401, "UNAUTHENTICATED");
            assert!(r.body["error"]["request_id"].as_str().is_some_and(|s| !s.is_empty()));
        }
        api.create_database("would-be").await.expect_error(401, "UNAUTHENTICATED");
    }
    // The right key works.
    Api::new(Some(&real)).get("/databases").await.expect(200);
}

#[tokio::test]
async fn a_non_bearer_scheme_is_unauthenticated() {
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/databases", app().api_url))
        .header("Authorization", format!("Basic {}", app().admin_key))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn the_request_id_is_echoed_or_made() {
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/databases", app().api_url))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("answers");
    assert_eq!(r.headers()["x-request-id"], "trace-me-123");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["request_id"], "trace-me-123");
    let r = Api::new(None).get("/healthz").await;
    assert!(r.request_id.is_some_and(|id| id.starts_with("req_")));
}
