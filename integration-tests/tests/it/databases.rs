//! Databases through the API, for each engine: created and reached with the returned
//! credentials, listed, paged, deleted, with operations and activity.

use integration_tests::engine::{conn_of, host_objects, Engine};
use integration_tests::{each_engine, has_action, served_pools, unique_name, Api};
use serde_json::json;

each_engine! {
    async fn a_created_database_is_usable_with_the_returned_credentials(engine) {
        let api = Api::new_user().await;
        let name = unique_name("shop");
        let r = api.create_database_on(engine, &name).await;
        assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
        let d = r.data();
        assert_eq!(d["name"], name.as_str());
        assert_eq!(d["engine"], engine.as_str());
        assert_eq!(d["role"], "owner");
        assert!(d["id"].as_str().is_some_and(|i| i.starts_with("db_")));
        assert!(d["operation_id"].as_str().is_some_and(|i| i.starts_with("op_")));
        let password = d["password"].as_str().expect("password once").to_owned();
        assert!(password.len() >= 24);
        let conn = conn_of(engine, d);
        assert!(conn.url.starts_with(engine.scheme()), "{}", conn.url);
        // PostgreSQL's through PgBouncer; MariaDB's to the server itself.
        assert!(conn.url.contains(&format!(":{}/", engine.user_port())), "{}", conn.url);
        api.wait_state(d["id"].as_str().expect("id"), "running").await;

        conn.sql("CREATE TABLE items (id INT PRIMARY KEY, label TEXT); INSERT INTO items VALUES (1, 'a'), (2, 'b')")
            .await
            .expect("statements succeed");
        assert_eq!(conn.count("items").await, 2);
        assert_eq!(host_objects(engine, &name).await, (1, 1), "one login and one database on the host");
        if engine == Engine::Postgres {
            // And it really is PgBouncer in between: the pool shows up on its console.
            assert!(served_pools().await.contains(&name));
        }
    }

    /// `psql` for PostgreSQL, `mariadb` for MariaDB, given the connection string as it is.
    async fn the_engines_own_client_connects_with_the_connection_string(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("cli")).await;
        let out = conn_of(engine, &d)
            .cli("CREATE TABLE t (x INT); INSERT INTO t VALUES (41), (1); SELECT SUM(x) FROM t;")
            .await
            .expect("the client runs the statements");
        assert!(out.lines().any(|l| l.trim() == "42"), "{out}");
    }

    async fn list_and_get_show_the_database_and_hide_the_password(engine) {
        let api = Api::new_user().await;
        let name = unique_name("listed");
        let d = api.create_running_on(engine, &name).await;
        let id = d["id"].as_str().expect("id");

        let list = api.get("/databases").await;
        list.expect(200);
        let items = list.body["data"].as_array().expect("array");
        assert_eq!(items.len(), 1, "a new account sees only its database: {}", list.body);
        assert_eq!(items[0]["id"], id);
        assert_eq!(items[0]["state"], "running");
        for field in ["id", "name", "engine", "state", "role", "host", "port", "size_bytes", "created_at"] {
            assert!(!items[0][field].is_null(), "list item lacks {field}: {}", items[0]);
        }
        assert!(list.body.get("next_cursor").is_some());
        assert!(items[0].get("password").is_none());

        let one = api.get(&format!("/databases/{id}")).await;
        one.expect(200);
        assert_eq!(one.data()["username"], name.as_str());
        assert!(one.data().get("last_backup_at").is_some());
        assert!(one.data().get("password").is_none());
        assert!(!one.body.to_string().contains(d["password"].as_str().expect("pw")));
    }

    async fn list_pages_with_a_cursor(engine) {
        let api = Api::new_user().await;
        for i in 0..3 {
            api.create_database_on(engine, &unique_name(&format!("page{i}"))).await.expect(201);
        }
        let first = api.get("/databases?limit=2").await;
        first.expect(200);
        assert_eq!(first.body["data"].as_array().expect("array").len(), 2);
        let cursor = first.body["next_cursor"].as_str().expect("a next cursor").to_owned();
        let second = api.get(&format!("/databases?limit=2&cursor={cursor}")).await;
        second.expect(200);
        let rest = second.body["data"].as_array().expect("array");
        assert_eq!(rest.len(), 1);
        assert!(first.body["data"].as_array().expect("array").iter().all(|d| d["id"] != rest[0]["id"]));
        api.get("/databases?limit=0").await.expect_error(400, "INVALID_REQUEST");
        api.get("/databases?cursor=nope").await.expect_error(400, "INVALID_REQUEST");
    }

    async fn delete_drops_the_database_its_login_and_its_pool(engine) {
        let api = Api::new_user().await;
        let name = unique_name("gone");
        let d = api.create_running_on(engine, &name).await;
        let id = d["id"].as_str().expect("id");
        let conn = conn_of(engine, &d);
        let mut session = conn.wait_session().await;
        assert_eq!(host_objects(engine, &name).await, (1, 1));

        let r = api.delete(&format!("/databases/{id}")).await;
        r.expect(202);
        assert_eq!(r.data()["state"], "deleting");
        let op = api.wait_operation(r.data()["operation_id"].as_str().expect("operation")).await;
        assert_eq!(op["state"], "succeeded", "{op}");
        assert_eq!(op["kind"], "delete");

        assert_eq!(host_objects(engine, &name).await, (0, 0), "login and database are gone from the host");
        if engine == Engine::Postgres {
            assert!(!served_pools().await.contains(&name), "the PgBouncer pool is gone");
        }
        conn.sql("SELECT 1").await.expect_err("the old credentials no longer connect");
        session.query("SELECT 1").await.expect_err("the open session was ended");
        api.get(&format!("/databases/{id}")).await.expect_error(404, "DATABASE_NOT_FOUND");
        assert!(api.get("/databases").await.body["data"].as_array().expect("array").is_empty());
        // Deleting again: it is gone.
        api.delete(&format!("/databases/{id}")).await.expect_error(404, "DATABASE_NOT_FOUND");
        // And the name is free again.
        api.create_running_on(engine, &name).await;
    }

    async fn operations_report_their_progress(engine) {
        let api = Api::new_user().await;
        let r = api.create_database_on(engine, &unique_name("op")).await;
        let op_id = r.data()["operation_id"].as_str().expect("operation").to_owned();
        let op = api.wait_operation(&op_id).await;
        assert_eq!(op["id"], op_id.as_str());
        assert_eq!(op["kind"], "provision");
        assert_eq!(api.get(&format!("/databases/{}", r.data()["id"].as_str().expect("id"))).await.data()["engine"], engine.as_str());
        assert_eq!(op["state"], "succeeded");
        assert!(op["attempts"].as_i64().is_some_and(|a| a >= 1));
        assert_eq!(op["database_id"], r.data()["id"]);
        assert!(op["finished_at"].is_string());
        // Another account cannot see it.
        Api::new_user().await.get(&format!("/operations/{op_id}")).await.expect_error(404, "NOT_FOUND");
        api.get("/operations/op_nonsense").await.expect_error(404, "NOT_FOUND");
    }

    async fn activity_lists_who_did_what_newest_first(engine) {
        let api = Api::new_user().await;
        let name = unique_name("audited");
        let d = api.create_running_on(engine, &name).await;
        let id = d["id"].as_str().expect("id");
        let del = api.delete(&format!("/databases/{id}")).await;
        del.expect(202);

        let r = api.wait_activity("/activity", |e| has_action(e, "database.delete")).await;
        let entries = r.body["data"].as_array().expect("array");
        let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
        let del_at = actions.iter().position(|a| *a == "database.delete").expect("delete recorded");
        let create_at = actions.iter().position(|a| *a == "database.create").expect("create recorded");
        assert!(del_at < create_at, "newest first: {actions:?}");
        let create = &entries[create_at];
        assert!(create["id"].as_str().is_some_and(|i| i.starts_with("evt_")));
        assert!(create["actor"]["user_id"].as_str().is_some_and(|u| u.starts_with("usr_")));
        assert!(create["actor"]["api_key_id"].as_str().is_some_and(|k| k.starts_with("key_")));
        assert_eq!(create["resource"], json!({ "type": "database", "id": id, "name": name }));
        assert!(create["at"].is_string());
        assert!(!r.body.to_string().contains(d["password"].as_str().expect("pw")), "no secret in activity");

        let filtered = api.get(&format!("/activity?action=database.delete&database_id={id}")).await;
        filtered.expect(200);
        assert_eq!(filtered.body["data"].as_array().expect("array").len(), 1);
        let per_db = api.get(&format!("/databases/{id}/activity")).await;
        // The database is deleting (or deleted): its activity is still the owner's to read while it exists.
        assert!(per_db.status == 200 || per_db.status == 404);
        // Others see none of it.
        let other = Api::new_user().await.get("/activity").await;
        other.expect(200);
        assert!(other.body["data"].as_array().expect("array").iter().all(|e| e["resource"]["id"] != id));
    }

    async fn fifty_concurrent_creates_across_accounts_answer_only_created_quota_or_conflict(engine) {
        // Three free accounts (two slots each) and two pro accounts whose clients race on the
        // same names: the account lock, the quota check and the name's uniqueness all meet.
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push((Api::new_user_on(domain::Plan::Free).await.0, true));
        }
        for _ in 0..2 {
            clients.push((Api::new_user().await, false));
        }
        let shared = unique_name("race");
        let mut requests = Vec::new();
        for (i, (api, _)) in clients.iter().enumerate() {
            for j in 0..10 {
                // Pro accounts ask for five names twice each; free accounts for ten names.
                let name = if i >= 3 { format!("{shared}-{i}-{}", j % 5) } else { format!("{shared}-{i}-{j}") };
                requests.push(async move { (i, api.create_database_on(engine, &name).await) });
            }
        }
        let answers = futures::future::join_all(requests).await;
        assert_eq!(answers.len(), 50);
        let mut created = vec![0; clients.len()];
        for (i, r) in &answers {
            if !matches!(r.status, 201 | 202 | 403 | 409) {
                let rid = r.request_id.clone().unwrap_or_default();
                let logs = integration_tests::fixtures::captured_logs();
                let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&rid)).collect();
                panic!("{} {}\n{}", r.status, r.body, lines.join("\n"));
            }
            match r.status {
                201 | 202 => created[*i] += 1,
                403 => assert_eq!(r.code(), "QUOTA_EXCEEDED", "{}", r.body),
                _ => assert_eq!(r.code(), "CONFLICT", "{}", r.body),
            }
        }
        for (i, (_, free)) in clients.iter().enumerate() {
            let want = if *free { 2 } else { 5 };
            assert_eq!(created[i], want, "account {i} got {} databases", created[i]);
        }
    }
}
