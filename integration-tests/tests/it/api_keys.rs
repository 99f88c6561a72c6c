//! API keys: shown once, replaced or revoked at once, scoped to some databases, a paid
//! feature.

use std::time::Duration;

use domain::Plan;
use integration_tests::{app, eventually_every, unique_name, Api};
use serde_json::json;

#[tokio::test]
async fn keys_are_shown_once_and_replaced_or_revoked_keys_fail_at_once() {
    let api = Api::new_user().await;
    let (id, key) = api.create_key(json!({ "label": "ci" })).await;
    assert!(key.starts_with("brth_"));
    let k = Api::new(Some(&key));
    k.get("/databases").await.expect(200);

    let list = api.get("/api-keys").await;
    list.expect(200);
    let entry =
        list.body["data"].as_array().expect("array").iter().find(|e| e["id"] == id.as_str()).cloned().expect("listed");
    assert_eq!(entry["label"], "ci");
    assert_eq!(entry["scope"], "all");
    assert!(entry.get("key").is_none(), "no secret in the list");
    assert!(!list.body.to_string().contains(&key[14..]));

    let r = api.post(&format!("/api-keys/{id}/replace"), json!({})).await;
    r.expect(200);
    let new_key = r.data()["key"].as_str().expect("new key").to_owned();
    assert_eq!(r.data()["label"], "ci");
    k.get("/databases").await.expect_error(401, "UNAUTHENTICATED");
    let k2 = Api::new(Some(&new_key));
    k2.get("/databases").await.expect(200);

    api.delete(&format!("/api-keys/{id}")).await.expect(204);
    k2.get("/databases").await.expect_error(401, "UNAUTHENTICATED");
    api.delete(&format!("/api-keys/{id}")).await.expect_error(404, "NOT_FOUND");
    api.post(&format!("/api-keys/{id}/replace"), json!({})).await.expect_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn last_used_at_is_kept_without_a_write_per_request() {
    let api = Api::new_user().await;
    let (id, key) = api.create_key(json!({ "label": "used" })).await;
    let entry = |body: &serde_json::Value| {
        body["data"].as_array().expect("array").iter().find(|e| e["id"] == id.as_str()).cloned().expect("listed")
    };
    assert!(entry(&api.get("/api-keys").await.body)["last_used_at"].is_null());
    Api::new(Some(&key)).get("/databases").await.expect(200);
    let every = Duration::from_millis(100);
    eventually_every("last_used_at to be recorded", Duration::from_secs(15), every, || async {
        entry(&api.get("/api-keys").await.body)["last_used_at"].is_string()
    })
    .await;
}

#[tokio::test]
async fn the_free_plan_has_no_api_keys_until_an_admin_changes_the_plan() {
    let (api, user) = Api::new_user_on(Plan::Free).await;
    api.post("/api-keys", json!({ "label": "x" })).await.expect_error(403, "PLAN_REQUIRED");
    // Only platform admins set plans.
    let path = format!("/admin/accounts/{}", user.account_id);
    api.patch(&path, json!({ "plan": "pro" })).await.expect_error(403, "FORBIDDEN");
    let admin = Api::new(Some(&app().admin_key));
    admin.patch(&path, json!({ "plan": "platinum" })).await.expect_error(400, "INVALID_REQUEST");
    admin
        .patch("/admin/accounts/acct_01J00000000000000000000000", json!({ "plan": "pro" }))
        .await
        .expect_error(404, "NOT_FOUND");
    admin.patch(&path, json!({ "plan": "pro" })).await.expect(200);
    assert_eq!(api.get("/me").await.data()["plan"], "pro");
    api.create_key(json!({ "label": "now allowed" })).await;
    let activity = api.wait_activity("/activity?action=account.plan_change", |e| !e.is_empty()).await;
    assert_eq!(activity.body["data"].as_array().expect("array").len(), 1, "{}", activity.body);
}

#[tokio::test]
async fn a_selected_key_sees_only_its_databases_and_no_account_routes() {
    let api = Api::new_user().await;
    let mine = api.create_running(&unique_name("sel-in")).await;
    let other = api.create_running(&unique_name("sel-out")).await;
    let (in_id, out_id) = (mine["id"].as_str().expect("id"), other["id"].as_str().expect("id"));
    let (_, key) = api.create_key(json!({ "label": "one db", "scope": "selected", "database_ids": [in_id] })).await;
    let k = Api::new(Some(&key));
    let list = k.get("/databases").await;
    list.expect(200);
    let ids: Vec<&str> = list.body["data"].as_array().expect("array").iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids, vec![in_id]);
    k.get(&format!("/databases/{in_id}")).await.expect(200);
    k.get(&format!("/databases/{out_id}")).await.expect_error(404, "DATABASE_NOT_FOUND");
    k.delete(&format!("/databases/{out_id}")).await.expect_error(404, "DATABASE_NOT_FOUND");
    k.create_database(&unique_name("nope")).await.expect_error(403, "KEY_SCOPE_DENIED");
    k.get("/api-keys").await.expect_error(403, "KEY_SCOPE_DENIED");
    k.post("/api-keys", json!({ "label": "escalate" })).await.expect_error(403, "KEY_SCOPE_DENIED");
    // Selection is checked: unknown or foreign databases cannot be selected.
    let foreign = Api::new_user().await.create_running(&unique_name("foreign")).await;
    let r = api.post("/api-keys", json!({ "label": "x", "scope": "selected", "database_ids": [foreign["id"]] })).await;
    r.expect_error(404, "DATABASE_NOT_FOUND");
    api.post("/api-keys", json!({ "label": "x", "scope": "selected", "database_ids": [] }))
        .await
        .expect_error(400, "INVALID_REQUEST");
    api.post("/api-keys", json!({ "label": "x", "scope": "some" })).await.expect_error(400, "INVALID_REQUEST");
}
