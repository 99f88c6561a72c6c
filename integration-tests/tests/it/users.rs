//! Database users: extra login roles confined to one database, through PgBouncer.

use integration_tests::{connect, error_text, host_objects, login_error, unique_name, wait_login, Api};
use serde_json::json;

#[tokio::test]
async fn a_database_user_logs_in_through_pgbouncer_to_its_database_only() {
    let api = Api::new_user().await;
    let name = unique_name("users");
    let d = api.create_running(&name).await;
    let other = api.create_running(&unique_name("elsewhere")).await;
    let id = d["id"].as_str().expect("id");
    let r = api.post(&format!("/databases/{id}/users"), json!({ "username": "reporting" })).await;
    r.expect(201);
    let role = format!("{name}.reporting");
    assert_eq!((r.data()["name"].as_str(), r.data()["username"].as_str()), (Some("reporting"), Some(role.as_str())));
    assert_eq!(r.data()["state"], "ready");
    let password = r.data()["password"].as_str().expect("password once");
    let url = r.data()["connection_string"].as_str().expect("url");
    assert!(url.contains(&format!(":{}/{name}", d["port"])), "through PgBouncer: {url}");

    let client = wait_login(url).await;
    let who: String = client.query_one("select current_user::text", &[]).await.expect("who").get(0);
    assert_eq!(who, role);
    let base = url.rsplit_once('/').expect("a path").0;
    let elsewhere = format!("{base}/{}", other["name"].as_str().expect("name"));
    let refused = login_error(&elsewhere).await;
    assert!(refused.contains("permission denied"), "confined to its database: {refused}");

    let list = api.get(&format!("/databases/{id}/users")).await;
    list.expect(200);
    assert_eq!(list.data().as_array().expect("list").len(), 1);
    assert!(!list.body.to_string().contains(password), "the password is shown once only");
    api.post(&format!("/databases/{id}/users"), json!({ "username": "reporting" })).await.expect_error(409, "CONFLICT");

    api.delete(&format!("/databases/{id}/users/reporting")).await.expect(204);
    assert_eq!(host_objects(&role).await.0, 0, "the role is gone from the host");
    assert!(client.simple_query("select 1").await.is_err(), "its session was ended");
    let refused = login_error(url).await;
    assert!(!refused.is_empty());
    assert!(api.get(&format!("/databases/{id}/users")).await.data().as_array().expect("list").is_empty());
    api.delete(&format!("/databases/{id}/users/reporting")).await.expect_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn deleting_a_database_leaves_no_user_roles_behind() {
    let api = Api::new_user().await;
    let name = unique_name("orphans");
    let d = api.create_running(&name).await;
    let id = d["id"].as_str().expect("id");
    let r = api.post(&format!("/databases/{id}/users"), json!({ "username": "app" })).await;
    r.expect(201);
    let session = connect(r.data()["connection_string"].as_str().expect("url"))
        .await
        .unwrap_or_else(|e| panic!("logs in: {}", error_text(&e)));
    session.batch_execute("create temp table t (x int)").await.expect("works");
    let del = api.delete(&format!("/databases/{id}")).await;
    let op = api.wait_operation(del.data()["operation_id"].as_str().expect("op")).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(host_objects(&format!("{name}.app")).await.0, 0, "no orphan role");
}

#[tokio::test]
async fn bad_user_requests_get_clear_errors() {
    let api = Api::new_user().await;
    let name = unique_name("strict");
    let d = api.create_running(&name).await;
    let id = d["id"].as_str().expect("id");
    let path = format!("/databases/{id}/users");
    for bad in ["ab", "Admin", "has_underscore", "x\"; drop role y; --", "postgres", &"a".repeat(64)] {
        api.post(&path, json!({ "username": bad })).await.expect_error(400, "INVALID_NAME");
    }
    // Fits alone, not together with the database name.
    api.post(&path, json!({ "username": "u".repeat(60) })).await.expect_error(400, "INVALID_NAME");
    api.post(&path, json!({ "username": "fine", "password": "mine" })).await.expect_error(400, "INVALID_REQUEST");
    Api::new_user().await.post(&path, json!({ "username": "intruder" })).await.expect_error(404, "DATABASE_NOT_FOUND");
    api.lifecycle(id, "stop").await;
    api.post(&path, json!({ "username": "sleeper" })).await.expect_error(409, "CONFLICT");
}

/// Our grants on one database's row in `pg_database` take turns: database users made while
/// the explorer role (a first read-only SQL request) and the data API's roles (a first key)
/// are being made all succeed. Concurrent `GRANT … ON DATABASE` otherwise fails one of them
/// ("tuple concurrently updated"), which the contract fuzzer met as a 503.
#[tokio::test]
async fn roles_made_at_once_on_one_database_all_succeed() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("grants")).await;
    let id = d["id"].as_str().expect("id").to_owned();
    let (users_path, sql_path, keys_path) =
        (format!("/databases/{id}/users"), format!("/databases/{id}/sql"), format!("/databases/{id}/publishable-keys"));
    for round in 0..3 {
        // One user a round: concurrent creates of users of one database are appends to one
        // stream, where a third racer may get 409 (retry), which is not what this is about.
        let user = api.post(&users_path, json!({ "username": format!("user{round}") }));
        let read = api.post(&sql_path, json!({ "query": "select 1", "read_only": true }));
        let key = api.post(&keys_path, json!({}));
        let (user, read, key) = tokio::join!(user, read, key);
        user.expect(201);
        read.expect(200);
        key.expect(201);
    }
}
