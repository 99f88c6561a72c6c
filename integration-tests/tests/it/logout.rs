//! Ending sessions: `POST /auth/logout` revokes the token it is called with (and only it),
//! and claiming an anonymous account ends that account's sessions.

use integration_tests::{has_action, Api};
use serde_json::json;

fn email() -> String {
    format!("logout-{}@example.com", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn logout_revokes_the_calling_session_only() {
    let address = email();
    let first = Api::sign_in(&address, "logout-sub").await;
    let second = Api::sign_in(&address, "logout-sub").await;
    first.get("/me").await.expect(200);
    let r = first.post("/auth/logout", json!({})).await;
    r.expect(204);
    first.get("/me").await.expect_error(401, "UNAUTHENTICATED");
    first.post("/auth/logout", json!({})).await.expect_error(401, "UNAUTHENTICATED");
    second.get("/me").await.expect(200);
    // Recorded as the user's activity.
    second.wait_activity("/activity?action=session.logout", |e| has_action(e, "session.logout")).await;
    // A fresh sign-in works.
    Api::sign_in(&address, "logout-sub").await.get("/me").await.expect(200);
}

#[tokio::test]
async fn an_api_key_cannot_log_out_and_keeps_working() {
    let api = Api::new_user().await;
    let r = api.post("/auth/logout", json!({})).await;
    r.expect_error(403, "FORBIDDEN");
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("api-keys")), "{}", r.body);
    api.get("/me").await.expect(200);
    Api::new(None).post("/auth/logout", json!({})).await.expect_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_logged_out_token_is_refused_by_every_api_process() {
    // The revocation is in the control plane, not in one process's memory.
    let other = integration_tests::second_api().await;
    let api = Api::sign_in(&email(), "logout-elsewhere").await;
    api.at(&other).get("/me").await.expect(200);
    api.post("/auth/logout", json!({})).await.expect(204);
    api.at(&other).get("/me").await.expect_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn claiming_an_anonymous_account_ends_its_sessions() {
    let anon = Api::from_source(None, "127.0.0.12".parse().expect("address")).post("/auth/anonymous", json!({})).await;
    anon.expect(201);
    let creds = json!({ "account_id": anon.data()["account_id"], "anonymous_secret": anon.data()["anonymous_secret"] });
    let first = Api::new(Some(anon.data()["token"].as_str().expect("token")));
    let refreshed = Api::new(None).post("/auth/anonymous/refresh", creds.clone()).await;
    refreshed.expect(200);
    let second = Api::new(Some(refreshed.data()["token"].as_str().expect("token")));
    first.get("/me").await.expect(200);
    second.get("/me").await.expect(200);

    let user = Api::sign_in(&email(), "claims-anon").await;
    user.post("/auth/claim", creds).await.expect(200);
    first.get("/me").await.expect_error(401, "UNAUTHENTICATED");
    second.get("/databases").await.expect_error(401, "UNAUTHENTICATED");
    user.get("/me").await.expect(200);
}
