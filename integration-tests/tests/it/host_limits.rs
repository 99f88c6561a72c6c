//! Limits a tenant cannot undo, enforced by the host rather than checked at create: a
//! superuser-only `temp_file_limit` on every role of a database, and a cap on the server
//! connections PgBouncer opens to a database, whatever roles its clients log in as.

use std::time::Duration;

use integration_tests::{bouncer_admin, connect, error_text, eventually, host_superuser, unique_name, wait_login, Api};
use serde_json::json;

/// A free-plan (anonymous) tenant's running database: its id, name and connection string.
async fn free_database(label: &str) -> (Api, String, String, String) {
    // Sign-ups are capped per client address: these tests sign up from an address of their own.
    let anon = Api::from_source(None, "127.0.0.21".parse().expect("address")).post("/auth/anonymous", json!({})).await;
    anon.expect(201);
    let api = Api::new(Some(anon.data()["token"].as_str().expect("token")));
    let name = unique_name(label);
    let d = api.create_running(&name).await;
    let (id, url) =
        (d["id"].as_str().expect("id").to_owned(), d["connection_string"].as_str().expect("url").to_owned());
    (api, id, name, url)
}

#[tokio::test]
async fn every_role_of_a_database_has_a_temp_file_limit_the_tenant_cannot_raise() {
    let (api, id, name, url) = free_database("tempfiles").await;
    let limit = integration_tests::fixtures::free_quotas().temp_file_limit_mb;
    let c = connect(&url).await.expect("connects");
    let shown: String = c.query_one("show temp_file_limit", &[]).await.expect("show").get(0);
    assert_eq!(shown, format!("{limit}MB"));
    for attempt in ["set temp_file_limit = -1", "alter role current_user set temp_file_limit = -1"] {
        let e = c.batch_execute(attempt).await.expect_err(attempt);
        assert!(error_text(&e).contains("permission denied"), "{attempt}: {}", error_text(&e));
    }
    let db_attempt = format!("alter database \"{name}\" set temp_file_limit = -1");
    let e = c.batch_execute(&db_attempt).await.expect_err("database-level");
    assert!(error_text(&e).contains("permission denied"), "{}", error_text(&e));
    // A sort that spills more than the limit to disk is stopped by PostgreSQL.
    let e = c
        .batch_execute(
            "set work_mem = '64kB';
             select count(*) from (select md5(g::text) m from generate_series(1, 300000) g order by m) s",
        )
        .await
        .expect_err("the spill exceeds the limit");
    assert!(error_text(&e).contains("temp_file_limit"), "{}", error_text(&e));

    // A database user gets the same limit.
    let r = api.post(&format!("/databases/{id}/users"), json!({ "username": "batch" })).await;
    r.expect(201);
    let user = wait_login(r.data()["connection_string"].as_str().expect("url")).await;
    let shown: String = user.query_one("show temp_file_limit", &[]).await.expect("show").get(0);
    assert_eq!(shown, format!("{limit}MB"));
    assert!(user.batch_execute("set temp_file_limit = -1").await.is_err());
}

/// Clients of `name` waiting at PgBouncer for a server connection, all roles together.
async fn waiting(name: &str) -> i64 {
    let admin = bouncer_admin().await;
    let mut total = 0;
    for msg in admin.simple_query("SHOW POOLS").await.expect("SHOW POOLS") {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
            if row.get("database") == Some(name) {
                total += row.get("cl_waiting").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            }
        }
    }
    total
}

#[tokio::test]
async fn pgbouncer_caps_a_databases_server_connections_across_all_of_its_roles() {
    let (api, id, name, url) = free_database("capped").await;
    let cap = integration_tests::fixtures::free_quotas().server_connections;
    let admin = bouncer_admin().await;
    let rows = admin.simple_query("SHOW DATABASES").await.expect("SHOW DATABASES");
    let shown = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) if r.get("name") == Some(name.as_str()) => {
            r.get("max_connections").map(str::to_owned)
        }
        _ => None,
    });
    assert_eq!(shown, Some(cap.to_string()), "the pool is capped at the plan's server connections");

    // The cap holds across roles: the owner and a database user together fill it.
    let r = api.post(&format!("/databases/{id}/users"), json!({ "username": "worker" })).await;
    r.expect(201);
    let user_url = r.data()["connection_string"].as_str().expect("url").to_owned();
    let mut held = vec![wait_login(&user_url).await];
    for _ in 1..cap {
        let c = connect(&url).await.expect("connects");
        c.simple_query("select 1").await.expect("a server connection");
        held.push(c);
    }
    // One more client gets in to PgBouncer but waits for a server connection.
    let extra = connect(&url).await.expect("PgBouncer accepts the client");
    let query = tokio::spawn(async move { extra.simple_query("select 1").await.map(|_| ()) });
    eventually("the extra client to wait at PgBouncer", Duration::from_secs(20), || async {
        (waiting(&name).await >= 1).then_some(())
    })
    .await;
    assert!(!query.is_finished(), "no server connection past the cap");
    let su = host_superuser().await;
    let servers: i64 = su
        .query_one("select count(*) from pg_stat_activity where datname = $1", &[&name])
        .await
        .expect("activity")
        .get(0);
    assert!(servers <= i64::from(cap), "{servers} server connections for a cap of {cap}");
    // A client leaving frees a server connection for the one waiting.
    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(20), query)
        .await
        .expect("the waiting client is served once a connection is free")
        .expect("task")
        .expect("its query runs");
}
