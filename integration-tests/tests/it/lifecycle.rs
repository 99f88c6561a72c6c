//! Stop, start, restart: checked on PgBouncer and PostgreSQL, as a client sees them.

use integration_tests::{connect, direct_dsn, error_text, eventually, login_error, unique_name, wait_login, Api};
use serde_json::json;

#[tokio::test]
async fn stop_ends_sessions_and_refuses_logins_then_start_lets_them_back() {
    let api = Api::new_user().await;
    let name = unique_name("life");
    let d = api.create_running(&name).await;
    let (id, url) = (d["id"].as_str().expect("id"), d["connection_string"].as_str().expect("url"));
    let password = d["password"].as_str().expect("password");
    let session = wait_login(url).await;
    let direct = connect(&direct_dsn(&name, password, &name)).await.expect("direct login before stop");

    let stopped = api.lifecycle(id, "stop").await;
    assert_eq!(stopped["state"], "stopped");
    assert!(session.simple_query("select 1").await.is_err(), "the PgBouncer session was ended");
    assert!(direct.simple_query("select 1").await.is_err(), "the direct session was ended");
    let refused = login_error(url).await;
    assert!(refused.contains("is disabled"), "PgBouncer says why: {refused}");
    let refused = login_error(&direct_dsn(&name, password, &name)).await;
    assert!(refused.contains("not currently accepting connections"), "PostgreSQL says why: {refused}");
    api.post(&format!("/databases/{id}/stop"), json!({})).await.expect_error(409, "CONFLICT");
    api.post(&format!("/databases/{id}/restart"), json!({})).await.expect_error(409, "CONFLICT");

    let started = api.lifecycle(id, "start").await;
    assert_eq!(started["state"], "running");
    wait_login(url).await;
    connect(&direct_dsn(&name, password, &name)).await.expect("direct login after start");
    api.post(&format!("/databases/{id}/start"), json!({})).await.expect_error(409, "CONFLICT");

    let activity = api
        .wait_activity(&format!("/databases/{id}/activity"), |e| integration_tests::has_action(e, "database.start"))
        .await;
    let actions: Vec<&str> =
        activity.body["data"].as_array().expect("array").iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.starts_with(&["database.start", "database.stop"]), "{actions:?}");
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
async fn restart_drops_sessions_and_clients_reconnect() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("bounce")).await;
    let (id, url) = (d["id"].as_str().expect("id"), d["connection_string"].as_str().expect("url"));
    let session = wait_login(url).await;
    let pid_before: i32 = session.query_one("select pg_backend_pid()", &[]).await.expect("pid").get(0);
    let after = api.lifecycle(id, "restart").await;
    assert_eq!(after["state"], "running");
    let err = session.simple_query("select 1").await.expect_err("the old session is gone");
    let again = connect(url).await.unwrap_or_else(|e| panic!("reconnects at once: {}", error_text(&e)));
    let pid_after: i32 = again.query_one("select pg_backend_pid()", &[]).await.expect("pid").get(0);
    assert_ne!(pid_before, pid_after, "a new server connection ({err})");
}

#[tokio::test]
async fn concurrent_stops_one_wins_the_other_conflicts() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("race")).await;
    let id = d["id"].as_str().expect("id").to_owned();
    let path = format!("/databases/{id}/stop");
    let (a, b) = tokio::join!(api.post(&path, json!({})), api.post(&path, json!({})));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert!(statuses == [200, 409] || statuses == [202, 409], "{a:?} {b:?}");
    api.wait_state(&id, "stopped").await;
}

#[tokio::test]
async fn lifecycle_of_someone_elses_or_a_deleted_database_is_not_found() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("mine")).await;
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

#[tokio::test]
async fn an_operation_overtaken_by_a_deletion_still_ends() {
    let api = Api::new_user().await;
    for action in ["stop", "restart", "reset-password"] {
        let d = api.create_running(&unique_name("overtaken")).await;
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
