//! Secrets (API keys, tenant passwords, anonymous secrets, session tokens) appear nowhere
//! they could leak from: not in logs, not in the control-plane database, not in the events.

use integration_tests::{app, fixtures::captured_logs, unique_name, Api};
use serde_json::json;

async fn control_plane_dump() -> String {
    let out = tokio::process::Command::new("pg_dump")
        .arg(&app().control_url)
        .args(["--no-owner", "--data-only"])
        .output()
        .await
        .expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn no_secret_is_logged_stored_in_clear_or_put_in_an_event() {
    let api = Api::new_user().await;
    let (_, key) = api.create_key(json!({ "label": "secret-check" })).await;
    let (id, _) = api.create_key(json!({ "label": "to-replace" })).await;
    let replaced = api.post(&format!("/api-keys/{id}/replace"), json!({})).await;
    let new_key = replaced.data()["key"].as_str().expect("key").to_owned();
    let db = api.create_running(&unique_name("secret")).await;
    let password = db["password"].as_str().expect("password").to_owned();
    let anon = Api::new(None).post("/auth/anonymous", json!({})).await;
    let anon_secret = anon.data()["anonymous_secret"].as_str().expect("secret").to_owned();
    let anon_token = anon.data()["token"].as_str().expect("token").to_owned();
    // Use the credentials so they pass through every layer that could log them.
    Api::new(Some(&key)).get("/databases").await.expect(200);
    Api::new(Some(&new_key)).get("/me").await.expect(200);
    Api::new(Some(&anon_token)).get("/me").await.expect(200);
    Api::new(Some(&format!("{key}x"))).get("/me").await.expect_error(401, "UNAUTHENTICATED");

    let secrets: Vec<(&str, String)> = vec![
        ("api key secret", key.rsplit('_').next().expect("secret part").to_owned()),
        ("replaced key secret", new_key.rsplit('_').next().expect("secret part").to_owned()),
        ("tenant password", password),
        ("anonymous secret", anon_secret),
        ("session token", anon_token),
    ];
    let dump = control_plane_dump().await;
    let store = app().store();
    let mut events = String::new();
    for db_event in store.read_after(Default::default(), 1_000_000).await.expect("events") {
        events.push_str(&db_event.data.to_string());
        events.push_str(&serde_json::to_string(&db_event.metadata).expect("metadata"));
    }
    let logs = captured_logs();
    assert!(logs.len() > 1000, "the log capture works ({} bytes)", logs.len());
    for (what, secret) in &secrets {
        assert!(!dump.contains(secret.as_str()), "{what} is in the control-plane database");
        assert!(!events.contains(secret.as_str()), "{what} is in the event log");
        assert!(!logs.contains(secret.as_str()), "{what} is in the logs");
    }
}
