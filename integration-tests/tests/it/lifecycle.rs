//! Stop, start, restart: checked as a client sees them, for each engine (PostgreSQL's
//! through PgBouncer and directly, MariaDB's at the server).

use integration_tests::engine::{conn_of, Engine};
use integration_tests::{connect, direct_dsn, each_engine, error_text, eventually, login_error, unique_name, Api};
use serde_json::json;

each_engine! {
    async fn stop_ends_sessions_and_refuses_logins_then_start_lets_them_back(engine) {
        let api = Api::new_user().await;
        let name = unique_name("life");
        let d = api.create_running_on(engine, &name).await;
        let id = d["id"].as_str().expect("id");
        let password = d["password"].as_str().expect("password");
        let conn = conn_of(engine, &d);
        let mut session = conn.wait_session().await;
        // PostgreSQL: also a session straight to the server, past PgBouncer.
        let direct = match engine {
            Engine::Postgres => Some(connect(&direct_dsn(&name, password, &name)).await.expect("direct login before stop")),
            Engine::MariaDb => None,
        };

        let stopped = api.lifecycle(id, "stop").await;
        assert_eq!(stopped["state"], "stopped");
        session.query("SELECT 1").await.expect_err("the session was ended");
        let refused = conn.login_error().await;
        assert!(refused.contains(engine.stopped()), "the server says why: {refused}");
        if let Some(direct) = direct {
            assert!(direct.simple_query("select 1").await.is_err(), "the direct session was ended");
            let refused = login_error(&direct_dsn(&name, password, &name)).await;
            assert!(refused.contains("not currently accepting connections"), "PostgreSQL says why: {refused}");
        }
        api.post(&format!("/databases/{id}/stop"), json!({})).await.expect_error(409, "CONFLICT");
        api.post(&format!("/databases/{id}/restart"), json!({})).await.expect_error(409, "CONFLICT");

        let started = api.lifecycle(id, "start").await;
        assert_eq!(started["state"], "running");
        conn.wait_login(true).await;
        if engine == Engine::Postgres {
            connect(&direct_dsn(&name, password, &name)).await.expect("direct login after start");
        }
        api.post(&format!("/databases/{id}/start"), json!({})).await.expect_error(409, "CONFLICT");

        let activity = api
            .wait_activity(&format!("/databases/{id}/activity"), |e| integration_tests::has_action(e, "database.start"))
            .await;
        let actions: Vec<&str> =
            activity.body["data"].as_array().expect("array").iter().filter_map(|e| e["action"].as_str()).collect();
        assert!(actions.starts_with(&["database.start", "database.stop"]), "{actions:?}");
    }

    async fn restart_drops_sessions_and_clients_reconnect(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("bounce")).await;
        let (id, conn) = (d["id"].as_str().expect("id"), conn_of(engine, &d));
        let mut session = conn.wait_session().await;
        let before = session.one(engine.session_id_sql()).await.expect("session id");
        let after = api.lifecycle(id, "restart").await;
        assert_eq!(after["state"], "running");
        let err = session.query("SELECT 1").await.expect_err("the old session is gone");
        let mut again = conn.session().await.unwrap_or_else(|e| panic!("reconnects at once: {e}"));
        let now = again.one(engine.session_id_sql()).await.expect("session id");
        assert_ne!(before, now, "a new server session ({err})");
    }

    async fn concurrent_stops_one_wins_the_other_conflicts(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("race")).await;
        let id = d["id"].as_str().expect("id").to_owned();
        let path = format!("/databases/{id}/stop");
        let (a, b) = tokio::join!(api.post(&path, json!({})), api.post(&path, json!({})));
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert!(statuses == [200, 409] || statuses == [202, 409], "{a:?} {b:?}");
        api.wait_state(&id, "stopped").await;
    }

    async fn lifecycle_of_someone_elses_or_a_deleted_database_is_not_found(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("mine")).await;
        let id = d["id"].as_str().expect("id");
        let other = Api::new_user().await;
        for action in ["stop", "start", "restart", "reset-password"] {
            other.post(&format!("/databases/{id}/{action}"), json!({})).await.expect_error(404, "DATABASE_NOT_FOUND");
        }
        other.get(&format!("/databases/{id}/credentials")).await.expect_error(404, "DATABASE_NOT_FOUND");
        let del = api.delete(&format!("/databases/{id}")).await;
        api.wait_operation(del.data()["operation_id"].as_str().expect("op")).await;
        api.post(&format!("/databases/{id}/stop"), json!({})).await.expect_error(404, "DATABASE_NOT_FOUND");
    }

    async fn an_operation_overtaken_by_a_deletion_still_ends(engine) {
        let api = Api::new_user().await;
        for action in ["stop", "restart", "reset-password"] {
            let d = api.create_running_on(engine, &unique_name("overtaken")).await;
            let id = d["id"].as_str().expect("id");
            // The deletion lands while the operation is pending or running.
            let (op_path, del_path) = (format!("/databases/{id}/{action}"), format!("/databases/{id}"));
            let (op, del) = tokio::join!(api.post(&op_path, json!({})), api.delete(&del_path));
            assert!(matches!(del.status, 202 | 409), "{} {}", del.status, del.body);
            if !matches!(op.status, 200 | 202) {
                // The deletion came first: the operation was refused, not left behind.
                assert_eq!((op.status, op.code()), (409, "CONFLICT"), "{}", op.body);
                continue;
            }
            let done = api.wait_operation(op.data()["operation_id"].as_str().expect("operation id")).await;
            match done["state"].as_str() {
                Some("succeeded") => {}
                Some("failed") => {
                    assert_eq!(done["error"], domain::database::SUPERSEDED_BY_DELETION, "{done}");
                }
                other => panic!("{action}: the operation ended {other:?}: {done}"),
            }
            if del.status == 202 {
                api.wait_state(id, "deleted").await;
            }
        }
    }
}

#[tokio::test]
async fn a_stopped_database_stays_closed_when_pgbouncer_reloads() {
    let api = Api::new_user().await;
    let name = unique_name("closed");
    let d = api.create_running(&name).await;
    let (id, url) = (d["id"].as_str().expect("id"), d["connection_string"].as_str().expect("url"));
    api.lifecycle(id, "stop").await;
    // A RELOAD by hand, and one by provisioning another database (which re-renders PgBouncer's
    // files). PgBouncer 1.18 keeps DISABLE across RELOAD; `sync_bouncer` re-asserts it anyway
    // because a PgBouncer restart does lose it.
    integration_tests::bouncer_admin().await.simple_query("RELOAD").await.expect("reload");
    api.create_running(&unique_name("other")).await;
    let refused = login_error(url).await;
    assert!(refused.contains("is disabled"), "{refused}");
}

#[tokio::test]
async fn postgres_refuses_the_session_past_the_role_connection_limit() {
    let api = Api::new_user().await;
    let name = unique_name("limited");
    let d = api.create_running(&name).await;
    let password = d["password"].as_str().expect("password");
    let su = integration_tests::host_superuser().await;
    let limit: i32 =
        su.query_one("select rolconnlimit from pg_roles where rolname = $1", &[&name]).await.expect("role").get(0);
    assert!(limit > 0, "the role has a connection limit");
    let dsn = direct_dsn(&name, password, &name);
    // PgBouncer's idle server connections of the role count against the limit too.
    let held: i64 = su
        .query_one("select count(*) from pg_stat_activity where usename = $1", &[&name])
        .await
        .expect("activity")
        .get(0);
    let mut sessions = Vec::new();
    for i in held as i32..limit {
        sessions.push(connect(&dsn).await.unwrap_or_else(|e| panic!("session {i} of {limit}: {}", error_text(&e))));
    }
    let refused = login_error(&dsn).await;
    assert!(refused.contains("too many connections for role"), "session {} refused: {refused}", limit + 1);
    drop(sessions.pop());
    // A slot is free again once PostgreSQL has seen the session end.
    eventually("a freed slot to be usable again", std::time::Duration::from_secs(10), || async {
        connect(&dsn).await.map(drop).map_err(|e| error_text(&e))
    })
    .await;
}
