//! API keys, sharing, plans and quotas.

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

#[tokio::test]
async fn sharing_gives_a_collaborator_exactly_their_role() {
    let owner = Api::new_user().await;
    let friend = Api::new_user().await;
    let db = owner.create_running(&unique_name("shared")).await;
    let id = db["id"].as_str().expect("id");
    friend.get(&format!("/databases/{id}")).await.expect_error(404, "DATABASE_NOT_FOUND");

    let email = friend.email().await;
    let r = owner.post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": "viewer" })).await;
    r.expect(201);
    let user_id = r.data()["user_id"].as_str().expect("user id").to_owned();
    assert_eq!(r.data()["role"], "viewer");
    owner
        .post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": "admin" }))
        .await
        .expect_error(409, "CONFLICT");
    owner
        .post(&format!("/databases/{id}/collaborators"), json!({ "email": "nobody@berth.test", "role": "viewer" }))
        .await
        .expect_error(404, "NOT_FOUND");
    owner
        .post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": "owner" }))
        .await
        .expect_error(400, "INVALID_REQUEST");

    let listed = friend.get("/databases").await;
    let entry = listed.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["id"] == id)
        .cloned()
        .expect("shared db listed");
    assert_eq!(entry["role"], "viewer");
    friend.get(&format!("/databases/{id}")).await.expect(200);
    friend.delete(&format!("/databases/{id}")).await.expect_error(403, "FORBIDDEN");
    friend.get(&format!("/databases/{id}/collaborators")).await.expect_error(403, "FORBIDDEN");

    owner.patch(&format!("/databases/{id}/collaborators/{user_id}"), json!({ "role": "admin" })).await.expect(200);
    let collabs = friend.get(&format!("/databases/{id}/collaborators")).await;
    collabs.expect(200);
    assert_eq!(collabs.body["data"][0]["email"], email.as_str());
    friend.delete(&format!("/databases/{id}")).await.expect_error(403, "FORBIDDEN");

    owner.delete(&format!("/databases/{id}/collaborators/{user_id}")).await.expect(204);
    friend.get(&format!("/databases/{id}")).await.expect_error(404, "DATABASE_NOT_FOUND");
    owner.delete(&format!("/databases/{id}/collaborators/{user_id}")).await.expect_error(404, "NOT_FOUND");

    let listing = owner
        .wait_activity(&format!("/activity?database_id={id}"), |e| integration_tests::has_action(e, "database.unshare"))
        .await;
    let actions: Vec<String> = listing.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["action"].as_str().map(str::to_owned))
        .collect();
    assert!(actions.iter().filter(|a| *a == "database.share").count() >= 2, "{actions:?}");
    assert!(actions.contains(&"database.unshare".to_owned()), "{actions:?}");
}

#[tokio::test]
async fn the_database_quota_allows_exactly_the_plan_limit() {
    let (api, _) = Api::new_user_on(Plan::Free).await;
    let limit = integration_tests::fixtures::free_quotas().databases;
    let mut ids = Vec::new();
    for i in 0..limit {
        let r = api.create_database(&unique_name(&format!("q{i}"))).await;
        assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
        ids.push(r.data()["id"].as_str().expect("id").to_owned());
    }
    api.create_database(&unique_name("one-over")).await.expect_error(403, "QUOTA_EXCEEDED");
    let me = api.get("/me").await;
    assert_eq!(me.data()["usage"]["databases"], limit);
    assert_eq!(me.data()["quotas"]["databases"], limit);
    // Deleting one frees its slot.
    api.wait_state(&ids[0], "running").await;
    let del = api.delete(&format!("/databases/{}", ids[0])).await;
    api.wait_operation(del.data()["operation_id"].as_str().expect("op")).await;
    let r = api.create_database(&unique_name("again")).await;
    assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
}

#[tokio::test]
async fn concurrent_creates_at_the_limit_cannot_overshoot_it() {
    let (api, _) = Api::new_user_on(Plan::Free).await;
    api.create_database(&unique_name("first")).await;
    let tries = (0..4).map(|i| {
        let api = api.clone();
        async move { api.create_database(&unique_name(&format!("race{i}"))).await }
    });
    let results = futures::future::join_all(tries).await;
    let made = results.iter().filter(|r| r.status == 201 || r.status == 202).count();
    assert_eq!(made, 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(results.iter().filter(|r| r.status == 403).all(|r| r.code() == "QUOTA_EXCEEDED"));
    assert_eq!(api.get("/me").await.data()["usage"]["databases"], 2);
}

#[tokio::test]
async fn an_account_over_its_storage_quota_cannot_create_databases() {
    let (api, _) = Api::new_user_on(Plan::Free).await;
    let db = api.create_running(&unique_name("big")).await;
    let client = integration_tests::connect(db["connection_string"].as_str().expect("url")).await.expect("connects");
    // Push the account past its storage quota (24 MB on the test plan). Over it, the
    // database is locked (see storage_quota.rs), which may end this session before the
    // statement finishes: the rows it wrote stay on disk either way (the table exists
    // already), so the account stays over.
    client.batch_execute("create table filler (pad bytea)").await.expect("creates the table");
    let _ = client
        .batch_execute(
            "insert into filler select (select decode(string_agg(md5(random()::text || g || i), ''), 'hex')
                                        from generate_series(1, 128) i)
             from generate_series(1, 14000) g",
        )
        .await;
    let every = Duration::from_millis(200);
    eventually_every("usage to be measured past the quota", Duration::from_secs(30), every, || async {
        let used = api.get("/me").await.data()["usage"]["storage_mb"].as_f64().unwrap_or(0.0);
        if used >= 24.0 {
            Ok(())
        } else {
            Err(format!("{used} MB"))
        }
    })
    .await;
    api.create_database(&unique_name("more")).await.expect_error(403, "QUOTA_EXCEEDED");
    // The database is locked, so space is freed by deleting it.
    let id = db["id"].as_str().expect("id");
    let r = api.delete(&format!("/databases/{id}")).await;
    assert!(r.status == 200 || r.status == 202, "{} {}", r.status, r.body);
    api.wait_state(id, "deleted").await;
    eventually_every("a create under the quota after freeing space", Duration::from_secs(30), every, || async {
        let r = api.create_database(&unique_name("after")).await;
        if r.status == 201 || r.status == 202 {
            return Ok(());
        }
        assert_eq!(r.code(), "QUOTA_EXCEEDED");
        Err(r.body.to_string())
    })
    .await;
}
