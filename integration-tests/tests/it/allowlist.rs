//! IP allowlists, enforced where logins arrive (PgBouncer's HBA; MariaDB's account host
//! patterns), for each engine: logins from distinct loopback sources.

use std::time::Duration;

use integration_tests::engine::{conn_of, Engine};
use integration_tests::{each_engine, eventually, unique_name, Api};
use serde_json::json;

each_engine! {
    async fn an_allowlisted_source_connects_and_another_is_refused(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("walled")).await;
        let other = api.create_running_on(engine, &unique_name("open")).await;
        let (id, conn, other) = (d["id"].as_str().expect("id"), conn_of(engine, &d), conn_of(engine, &other));
        conn.wait_from("127.0.0.3", true).await;
        assert!(api.get(&format!("/databases/{id}/allowlist")).await.data().as_array().expect("list").is_empty());

        let r = api.post(&format!("/databases/{id}/allowlist"), json!({ "cidr": "127.0.0.2", "label": "office" })).await;
        r.expect(201);
        assert_eq!(r.data()["cidr"], "127.0.0.2/32");
        assert_eq!((r.data()["label"].as_str(), r.data()["open_to_all"].as_bool()), (Some("office"), Some(false)));
        assert!(r.data()["expires_at"].is_null() && r.data()["id"].as_str().is_some_and(|i| i.starts_with("rule_")));
        // 201 means the rule is enforced already: no waiting.
        let refusal = conn.from("127.0.0.3").await.expect_err("another source is refused at once");
        conn.from("127.0.0.2").await.expect("the listed source connects");
        match engine {
            // PgBouncer's HBA refuses the address before any password is asked for.
            Engine::Postgres => assert!(!refusal.contains("password"), "refused for its address: {refusal}"),
            // MariaDB has no account for the login at that address.
            Engine::MariaDb => assert!(refusal.contains("127.0.0.3"), "refused for its address: {refusal}"),
        }
        // Another database without rules stays open to every source.
        other.wait_from("127.0.0.3", true).await;

        let list = api.get(&format!("/databases/{id}/allowlist")).await;
        list.expect(200);
        assert_eq!(list.data().as_array().expect("list").len(), 1);

        let rule = r.data()["id"].as_str().expect("rule id");
        api.delete(&format!("/databases/{id}/allowlist/{rule}")).await.expect(204);
        conn.from("127.0.0.3").await.expect("open again once the last rule is gone");
        api.delete(&format!("/databases/{id}/allowlist/{rule}")).await.expect_error(404, "NOT_FOUND");

        let activity = api
            .wait_activity(&format!("/databases/{id}/activity"), |e| integration_tests::has_action(e, "allowlist.remove"))
            .await;
        let actions: Vec<&str> =
            activity.body["data"].as_array().expect("array").iter().filter_map(|e| e["action"].as_str()).collect();
        assert!(actions.starts_with(&["allowlist.remove", "allowlist.add"]), "{actions:?}");
    }

    async fn an_expiring_rule_admits_before_and_refuses_after(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("ttl")).await;
        let (id, conn) = (d["id"].as_str().expect("id"), conn_of(engine, &d));
        let path = format!("/databases/{id}/allowlist");
        api.post(&path, json!({ "cidr": "127.0.0.2/32" })).await.expect(201);
        let temp = api.post(&path, json!({ "cidr": "127.0.0.3/32", "ttl_seconds": 3 })).await;
        temp.expect(201);
        let expires_at: chrono::DateTime<chrono::Utc> =
            temp.data()["expires_at"].as_str().expect("expires_at").parse().expect("RFC 3339");
        conn.from("127.0.0.3").await.expect("admitted while the rule lives");
        assert!(chrono::Utc::now() < expires_at, "checked before expiry");

        conn.wait_from("127.0.0.3", false).await;
        assert!(chrono::Utc::now() >= expires_at, "refused only once the rule expired ({expires_at})");
        conn.from("127.0.0.2").await.expect("the permanent rule still admits");
        eventually("the expired rule to leave the list", Duration::from_secs(20), || async {
            let list = api.get(&path).await;
            if list.data().as_array().expect("list").len() == 1 {
                Ok(())
            } else {
                Err(list.body.to_string())
            }
        })
        .await;
        let expired =
            api.wait_activity(&format!("/activity?action=allowlist.expire&database_id={id}"), |e| !e.is_empty()).await;
        let entries = expired.body["data"].as_array().expect("array");
        assert_eq!(entries.len(), 1, "{}", expired.body);
        assert_eq!(entries[0]["details"]["cidr"], "127.0.0.3/32");
        assert!(entries[0]["actor"]["user_id"].is_null(), "the platform expired it, not a user");
    }

    async fn bad_allowlist_input_gets_clear_errors(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("picky")).await;
        let id = d["id"].as_str().expect("id");
        let path = format!("/databases/{id}/allowlist");
        for cidr in ["nonsense", "10.0.0.0/33", "10.0.0.1/8", "300.1.1.1", "", "10.0.0.0/8 trust"] {
            let r = api.post(&path, json!({ "cidr": cidr })).await;
            r.expect_error(400, "INVALID_REQUEST");
            assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("cidr")), "{}", r.body);
        }
        for ttl in [json!(0), json!(31 * 24 * 3600), json!(-5), json!(1e30), json!("60")] {
            api.post(&path, json!({ "cidr": "10.0.0.0/8", "ttl_seconds": ttl })).await.expect_error(400, "INVALID_REQUEST");
        }
        api.post(&path, json!({ "cidr": "10.0.0.0/8", "port": 5 })).await.expect_error(400, "INVALID_REQUEST");
        api.post(&path, json!({ "cidr": "10.0.0.0/8", "label": "x".repeat(101) }))
            .await
            .expect_error(400, "INVALID_REQUEST");

        api.post(&path, json!({ "cidr": "10.0.0.0/8" })).await.expect(201);
        api.post(&path, json!({ "cidr": "10.0.0.0/8" })).await.expect_error(409, "CONFLICT");
        api.post(&path, json!({ "cidr": "10.20.0.0/16" })).await.expect_error(409, "CONFLICT");
        api.post(&path, json!({ "cidr": "0.0.0.0/0" })).await.expect_error(409, "CONFLICT");
        api.post(&path, json!({ "cidr": "2001:db8::/32" })).await.expect(201);
        api.delete(&format!("{path}/rule_nonsense")).await.expect_error(404, "NOT_FOUND");

        let open = api.create_running_on(engine, &unique_name("wide")).await;
        let r = api
            .post(&format!("/databases/{}/allowlist", open["id"].as_str().expect("id")), json!({ "cidr": "0.0.0.0/0" }))
            .await;
        r.expect(201);
        assert_eq!(r.data()["open_to_all"], true);
        let activity = api
            .wait_activity(
                &format!("/activity?action=allowlist.add&database_id={}", open["id"].as_str().expect("id")),
                |e| !e.is_empty(),
            )
            .await;
        assert_eq!(activity.body["data"][0]["details"]["open_to_all"], true, "{}", activity.body);

        Api::new_user().await.post(&path, json!({ "cidr": "192.0.2.0/24" })).await.expect_error(404, "DATABASE_NOT_FOUND");
        Api::new_user().await.get(&path).await.expect_error(404, "DATABASE_NOT_FOUND");
        let del = api.delete(&format!("/databases/{id}")).await;
        api.wait_operation(del.data()["operation_id"].as_str().expect("op")).await;
        api.post(&path, json!({ "cidr": "192.0.2.0/24" })).await.expect_error(404, "DATABASE_NOT_FOUND");
    }
}
