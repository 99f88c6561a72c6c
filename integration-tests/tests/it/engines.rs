//! Engines: what differs between PostgreSQL and MariaDB databases — the connection string,
//! what only PostgreSQL offers, what MariaDB tenants must not be able to do to each other or
//! to the platform. The lifecycle, credentials, users, allowlists and backups of both run in
//! their own modules, each scenario once per engine (`each_engine!`).

use std::time::Duration;

use integration_tests::engine::{conn_of, maria_admin, maria_opts, Conn, Engine};
use integration_tests::maria::MysqlUrl;
use integration_tests::{each_engine, eventually, unique_name, Api};
use serde_json::json;

/// Creates a running database of `engine`; its id and connection.
async fn running(api: &Api, engine: Engine, label: &str) -> (String, Conn) {
    let r = api.create_database_on(engine, &unique_name(label)).await;
    assert!(r.status == 201 || r.status == 202, "create a {engine:?} database: {} {}", r.status, r.body);
    let id = r.data()["id"].as_str().expect("id").to_owned();
    let op = api.wait_operation(r.data()["operation_id"].as_str().expect("operation")).await;
    if op["state"] != "succeeded" {
        let incidents = Api::new(Some(&integration_tests::app().admin_key)).get("/admin/incidents?state=open").await;
        panic!("creating a {engine:?} database: {op}; incidents: {}; log: {:#?}", incidents.body, warnings());
    }
    (id, conn_of(engine, r.data()))
}

async fn filled(api: &Api, engine: Engine, label: &str) -> (String, Conn) {
    let (id, conn) = running(api, engine, label).await;
    conn.sql(
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), note TEXT);
         INSERT INTO items VALUES (1, 'one', NULL), (2, 'two', 'NULL'), (3, 'three', 'it''s')",
    )
    .await
    .unwrap_or_else(|e| panic!("filling a {engine:?} database: {e}"));
    (id, conn)
}

/// The platform's warnings and errors so far (what a failure message shows).
fn warnings() -> Vec<String> {
    let logs = integration_tests::fixtures::captured_logs();
    logs.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).take(30).map(str::to_owned).collect()
}

each_engine! {
    /// Each engine's own kind of connection string; another tenant's login cannot open it;
    /// its activity, metrics and schema through the engine's adapter.
    async fn a_database_is_reached_only_with_its_own_login_and_observed_through_its_engine(engine) {
        let api = Api::new_user().await;
        let other = Api::new_user().await;
        let (id, conn) = filled(&api, engine, "life").await;
        let listed = api.get("/databases").await;
        let row = listed.data().as_array().expect("list").iter().find(|d| d["id"] == id.as_str()).cloned();
        assert_eq!(row.map(|d| d["engine"].clone()), Some(json!(engine.as_str())));

        // Another tenant's own credentials cannot open it.
        let (_, theirs) = running(&other, engine, "other").await;
        let their_login = theirs.url.split("://").nth(1).and_then(|r| r.split('@').next()).expect("user:pw");
        let tail = conn.url.rsplit_once('@').expect("@").1;
        let intruder = Conn::new(engine, &format!("{}{their_login}@{tail}", engine.scheme()));
        let refused = intruder.sql("SELECT COUNT(*) FROM items").await.expect_err("another tenant is refused");
        assert!(!refused.contains("three"), "{refused}");

        // The activity log says which engine it was made on.
        let path = format!("/databases/{id}/activity");
        let acts = api.wait_activity(&path, |e| integration_tests::has_action(e, "database.create")).await;
        let created =
            acts.data().as_array().expect("entries").iter().find(|e| e["action"] == "database.create").cloned();
        assert_eq!(created.map(|e| e["details"]["engine"].clone()), Some(json!(engine.as_str())), "{}", acts.body);

        // Metrics and schema, read through the engine's adapter.
        let m = api.get(&format!("/databases/{id}/metrics")).await;
        m.expect(200);
        assert!(m.data()["size_bytes"].as_i64().is_some_and(|s| s > 0), "{engine:?}: {}", m.body);
        let s = api.get(&format!("/databases/{id}/schema")).await;
        s.expect(200);
        assert!(s.body.to_string().contains("items"), "{engine:?}: {}", s.body);
    }
}

#[tokio::test]
async fn what_only_postgresql_offers_is_unprocessable_on_mariadb_and_mongodb_is_disabled() {
    let api = Api::new_user().await;
    let (id, _) = running(&api, Engine::MariaDb, "pgonly").await;
    api.post(&format!("/databases/{id}/sql"), json!({ "query": "SELECT 1" })).await.expect_error(422, "UNPROCESSABLE");
    api.post(&format!("/databases/{id}/migrations"), json!({ "name": "m1", "sql": "SELECT 1" }))
        .await
        .expect_error(422, "UNPROCESSABLE");
    api.post(&format!("/databases/{id}/service-keys"), json!({})).await.expect_error(422, "UNPROCESSABLE");
    let r = api.post("/databases", json!({ "name": unique_name("mongo"), "engine": "mongodb" })).await;
    r.expect_error(400, "ENGINE_DISABLED");
    assert!(r.body.to_string().contains("MongoDB server"), "{}", r.body);
}

// What a MariaDB tenant must not be able to do.

#[tokio::test]
async fn a_mariadb_tenant_sees_only_its_own_database_and_cannot_reach_for_more() {
    let api = Api::new_user().await;
    let (_, mine) = filled(&api, Engine::MariaDb, "hostile-a").await;
    let (_, theirs) = filled(&Api::new_user().await, Engine::MariaDb, "hostile-b").await;
    let their_db = MysqlUrl::parse(&theirs.url).database;
    let seen = mine.sql("SHOW DATABASES").await.expect("show databases");
    let names: Vec<&str> = seen.lines().collect();
    assert!(names.iter().all(|n| *n == "information_schema" || *n == MysqlUrl::parse(&mine.url).database), "{names:?}");
    for attack in [
        format!("SELECT COUNT(*) FROM `{their_db}`.items"),
        "SELECT COUNT(*) FROM berth_meta.logins".to_owned(),
        "SELECT COUNT(*) FROM mysql.user".to_owned(),
        "CREATE USER 'evil'@'%' IDENTIFIED BY 'x'".to_owned(),
        "SET GLOBAL max_connections = 1".to_owned(),
        format!("GRANT ALL ON `{their_db}`.* TO CURRENT_USER"),
        "SET GLOBAL event_scheduler = ON".to_owned(),
        format!("CREATE DEFINER = `{their_db}`@`%` VIEW v AS SELECT 1"),
        // Tables live in InnoDB files the quota counts, never in the server's RAM.
        "CREATE TABLE in_ram (x INT) ENGINE=MEMORY".to_owned(),
        "CREATE TEMPORARY TABLE in_ram (x INT) ENGINE=MEMORY".to_owned(),
        "CREATE EVENT e ON SCHEDULE EVERY 1 SECOND DO SELECT 1".to_owned(),
    ] {
        let refused = mine.sql(&attack).await.expect_err(&format!("refused: {attack}"));
        assert!(refused.contains("ERROR"), "{attack}: {refused}");
    }
    assert_eq!(theirs.count("items").await, 3, "the other tenant's data is untouched");
}

#[tokio::test]
async fn a_mariadb_login_is_capped_at_its_plans_connection_limit() {
    let (api, _) = Api::new_user_on(domain::Plan::Free).await;
    let (_, conn) = running(&api, Engine::MariaDb, "capped").await;
    let url = MysqlUrl::parse(&conn.url);
    let limit = integration_tests::fixtures::free_quotas().connection_limit as usize;
    let opts = maria_opts(&url);
    let mut held = Vec::new();
    for _ in 0..limit {
        held.push(mysql_async::Conn::new(opts.clone()).await.expect("within the cap"));
    }
    let over = mysql_async::Conn::new(opts.clone()).await.expect_err("one more is refused");
    assert!(over.to_string().contains("max_user_connections"), "{over}");
    drop(held);
}

#[tokio::test]
async fn a_mariadb_tenant_holding_locks_cannot_stall_its_databases_deletion() {
    use mysql_async::prelude::Queryable;
    let api = Api::new_user().await;
    let (id, conn) = filled(&api, Engine::MariaDb, "locker").await;
    let url = MysqlUrl::parse(&conn.url);
    let mut session = mysql_async::Conn::new(maria_opts(&url)).await.expect("tenant session");
    // DROP DATABASE needs every table's metadata lock, which this session keeps.
    session.query_drop("LOCK TABLES items WRITE").await.expect("lock");
    let started = std::time::Instant::now();
    api.delete(&format!("/databases/{id}")).await;
    api.wait_state(&id, "deleted").await;
    assert!(started.elapsed() < Duration::from_secs(45), "deletion took {:?}", started.elapsed());
    drop(session);
}

#[tokio::test]
async fn mariadb_views_triggers_and_routines_come_back_in_a_branch_owned_by_its_own_login() {
    let api = Api::new_user().await;
    let (id, conn) = filled(&api, Engine::MariaDb, "objects").await;
    conn.sql(
        "CREATE VIEW named AS SELECT name FROM items;
         CREATE TABLE audit (item INT);
         CREATE TRIGGER logged AFTER INSERT ON items FOR EACH ROW INSERT INTO audit VALUES (NEW.id);
         CREATE FUNCTION doubled(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    )
    .await
    .expect("objects");
    let r = api.post(&format!("/databases/{id}/branch"), json!({ "name": unique_name("objects-br") })).await;
    assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
    let op = api.wait_operation(r.data()["operation_id"].as_str().expect("operation")).await;
    assert_eq!(op["state"], "succeeded", "{op}; log: {:#?}", warnings());
    let branch = Conn::new(Engine::MariaDb, r.data()["connection_string"].as_str().expect("url"));
    assert_eq!(branch.count("named").await, 3);
    assert_eq!(branch.sql("SELECT doubled(21)").await.expect("function"), "42");
    branch.sql("INSERT INTO items VALUES (9, 'nine', NULL)").await.expect("insert");
    assert_eq!(branch.count("audit").await, 1, "the trigger came along");
    let login = MysqlUrl::parse(&branch.url).user;
    let definer =
        branch.sql("SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_NAME = 'named'").await.expect("definer");
    assert!(definer.starts_with(&format!("{login}@")), "the branch's own login defines it: {definer}");
}

#[tokio::test]
async fn a_mariadb_database_or_login_the_platform_did_not_make_is_never_adopted_nor_dropped() {
    use mysql_async::prelude::Queryable;
    let api = Api::new_user().await;
    let mut admin = maria_admin().await;
    // An operator's database, with data, and an operator's login, on the same server.
    let (theirs, login) = (unique_name("operators"), unique_name("operator-login"));
    admin
        .query_drop(format!(
            "CREATE DATABASE `{theirs}`; CREATE TABLE `{theirs}`.keep (x INT); INSERT INTO `{theirs}`.keep VALUES (1)"
        ))
        .await
        .expect("an operator's database");
    admin.query_drop(format!("CREATE USER '{login}'@'%' IDENTIFIED BY 'operator-secret'")).await.expect("a login");
    for name in [&theirs, &login] {
        let r = api.post("/databases", json!({ "name": name, "engine": "mariadb" })).await;
        assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
        let op = api.wait_operation(r.data()["operation_id"].as_str().expect("operation")).await;
        assert_eq!(op["state"], "failed", "{name}: {op}");
    }
    let kept: Option<i64> =
        admin.query_first(format!("SELECT COUNT(*) FROM `{theirs}`.keep")).await.expect("still there");
    assert_eq!(kept, Some(1), "the operator's database is untouched");
    let hosts: Vec<String> =
        admin.exec("SELECT Host FROM mysql.user WHERE User = ?", (&login,)).await.expect("the operator's login");
    assert_eq!(hosts, vec!["%".to_owned()], "the operator's login is untouched");
    admin.query_drop(format!("DROP DATABASE `{theirs}`; DROP USER '{login}'@'%'")).await.expect("clean up");
}

#[tokio::test]
async fn a_mariadb_database_past_its_accounts_storage_quota_is_locked_and_refuses_logins() {
    use mysql_async::prelude::Queryable;
    let (api, _) = Api::new_user_on(domain::Plan::Free).await;
    let (id, conn) = running(&api, Engine::MariaDb, "quota").await;
    let mut session = mysql_async::Conn::new(maria_opts(&MysqlUrl::parse(&conn.url))).await.expect("session");
    session.query_drop("CREATE TABLE filler (b LONGBLOB)").await.expect("table");
    // About 1 MB a statement, 40 MB at most: the free plan's quota here is 24 MB. The lock
    // may end the session before the loop does.
    for _ in 0..40 {
        let sql = "INSERT INTO filler SELECT REPEAT(MD5(RAND()), 32) FROM seq_1_to_1024";
        if session.query_drop(sql).await.is_err() {
            break;
        }
    }
    eventually(&format!("database {id} locked"), Duration::from_secs(45), || async {
        let db = api.get(&format!("/databases/{id}")).await;
        if db.data()["state"] == "locked" {
            Ok(db.data().clone())
        } else {
            Err(db.body.to_string())
        }
    })
    .await;
    conn.wait_login(false).await;
    api.delete(&format!("/databases/{id}")).await;
    api.wait_state(&id, "deleted").await;
}
