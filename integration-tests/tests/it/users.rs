//! Database users: extra logins confined to one database, for each engine (PostgreSQL's
//! through PgBouncer).

use integration_tests::engine::{conn_of, host_objects, Engine};
use integration_tests::{each_engine, unique_name, Api};
use serde_json::json;

each_engine! {
    async fn a_database_user_logs_in_to_its_database_only(engine) {
        let api = Api::new_user().await;
        let name = unique_name("users");
        let d = api.create_running_on(engine, &name).await;
        let other = api.create_running_on(engine, &unique_name("elsewhere")).await;
        let id = d["id"].as_str().expect("id");
        let owner = conn_of(engine, &d);
        owner.sql("CREATE TABLE items (id INT); INSERT INTO items VALUES (1), (2)").await.expect("the owner's table");
        let r = api.post(&format!("/databases/{id}/users"), json!({ "username": "reporting" })).await;
        r.expect(201);
        let login = format!("{name}.reporting");
        assert_eq!((r.data()["name"].as_str(), r.data()["username"].as_str()), (Some("reporting"), Some(login.as_str())));
        assert_eq!(r.data()["state"], "ready");
        let password = r.data()["password"].as_str().expect("password once");
        let user = conn_of(engine, r.data());
        assert!(user.url.contains(&format!(":{}/{name}", engine.user_port())), "{}", user.url);

        let mut session = user.wait_session().await;
        let who = session.one("SELECT CURRENT_USER").await.expect("who");
        assert!(who == login || who.starts_with(&format!("{login}@")), "{who}");
        if engine == Engine::MariaDb {
            // Rights on its database come with it: it reads the owner's table.
            assert_eq!(user.count("items").await, 2);
        }
        let refused = user.to_database(other["name"].as_str().expect("name")).login_error().await;
        let says = if engine == Engine::Postgres { "permission denied" } else { "Access denied" };
        assert!(refused.contains(says), "confined to its database: {refused}");

        let list = api.get(&format!("/databases/{id}/users")).await;
        list.expect(200);
        assert_eq!(list.data().as_array().expect("list").len(), 1);
        assert!(!list.body.to_string().contains(password), "the password is shown once only");
        api.post(&format!("/databases/{id}/users"), json!({ "username": "reporting" })).await.expect_error(409, "CONFLICT");

        api.delete(&format!("/databases/{id}/users/reporting")).await.expect(204);
        assert_eq!(host_objects(engine, &login).await.0, 0, "the login is gone from the host");
        session.query("SELECT 1").await.expect_err("its session was ended");
        assert!(!user.login_error().await.is_empty());
        assert!(api.get(&format!("/databases/{id}/users")).await.data().as_array().expect("list").is_empty());
        api.delete(&format!("/databases/{id}/users/reporting")).await.expect_error(404, "NOT_FOUND");
    }

    async fn deleting_a_database_leaves_no_user_logins_behind(engine) {
        let api = Api::new_user().await;
        let name = unique_name("orphans");
        let d = api.create_running_on(engine, &name).await;
        let id = d["id"].as_str().expect("id");
        let r = api.post(&format!("/databases/{id}/users"), json!({ "username": "app" })).await;
        r.expect(201);
        let mut session = conn_of(engine, r.data()).wait_session().await;
        session.query("CREATE TEMPORARY TABLE t (x INT)").await.expect("works");
        let del = api.delete(&format!("/databases/{id}")).await;
        let op = api.wait_operation(del.data()["operation_id"].as_str().expect("op")).await;
        assert_eq!(op["state"], "succeeded", "{op}");
        assert_eq!(host_objects(engine, &format!("{name}.app")).await.0, 0, "no orphan login");
    }

    async fn bad_user_requests_get_clear_errors(engine) {
        let api = Api::new_user().await;
        let name = unique_name("strict");
        let d = api.create_running_on(engine, &name).await;
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
