//! Engines: the same lifecycle, credentials, users, allowlists and backups for PostgreSQL and
//! MariaDB databases (each test runs for both), through the API and real clients — `psql`'s
//! library for PostgreSQL, Debian's `mariadb` client for MariaDB — and what MariaDB tenants
//! must not be able to do to each other or to the platform.
//!
//! This binary's platform runs a MariaDB server beside PostgreSQL ([`app_with_mariadb`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use integration_tests::maria::{self, MysqlUrl};
use integration_tests::{app_with_mariadb, connect, eventually, unique_name, Api};
use serde_json::{json, Value};

const ENGINES: [&str; 2] = ["postgres", "mariadb"];

/// One database's connection as a test uses it, whatever its engine.
#[derive(Clone, Debug)]
struct Conn {
    engine: &'static str,
    url: String,
}

impl Conn {
    fn new(engine: &'static str, url: &str) -> Self {
        Self { engine, url: url.to_owned() }
    }

    /// Runs `sql` (statements separated by `;`); the first column of each row, one per line.
    async fn sql(&self, sql: &str) -> Result<String, String> {
        match self.engine {
            "mariadb" => maria::query(&MysqlUrl::parse(&self.url), sql).await,
            _ => {
                let client = connect(&self.url).await.map_err(|e| integration_tests::error_text(&e))?;
                let rows = client.simple_query(sql).await.map_err(|e| integration_tests::error_text(&e))?;
                let values: Vec<String> = rows
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_owned()),
                        _ => None,
                    })
                    .collect();
                Ok(values.join("\n"))
            }
        }
    }

    async fn count(&self, table: &str) -> i64 {
        let out = self.sql(&format!("SELECT COUNT(*) FROM {table}")).await.unwrap_or_else(|e| panic!("count: {e}"));
        out.trim().parse().unwrap_or_else(|_| panic!("a count, got {out:?}"))
    }

    /// Waits until a login works (`admitted`) or is refused; the last refusal.
    async fn wait_login(&self, admitted: bool) -> Option<String> {
        let what = format!("{} login to be {}", self.engine, if admitted { "admitted" } else { "refused" });
        eventually(&what, Duration::from_secs(30), || async {
            let got = self.sql("SELECT 1").await;
            if got.is_ok() == admitted {
                Ok(got.err())
            } else {
                Err(format!("{got:?}"))
            }
        })
        .await
    }

    fn with_password(&self, password: &str) -> Self {
        let (head, tail) = self.url.rsplit_once('@').expect("user:password@");
        let (user, _) = head.rsplit_once(':').expect("user:password");
        Self { engine: self.engine, url: format!("{user}:{password}@{tail}") }
    }
}

async fn user() -> Api {
    app_with_mariadb();
    Api::new_user().await
}

/// A session kept open across an action (stop must end it).
enum Session {
    Postgres(tokio_postgres::Client),
    MariaDb(mysql_async::Conn),
}

impl Session {
    async fn open(conn: &Conn) -> Self {
        match conn.engine {
            "mariadb" => Session::MariaDb(
                mysql_async::Conn::new(mysql_opts(&MysqlUrl::parse(&conn.url))).await.expect("a MariaDB session"),
            ),
            _ => Session::Postgres(connect(&conn.url).await.expect("a PostgreSQL session")),
        }
    }

    async fn query(&mut self, sql: &str) -> Result<(), String> {
        use mysql_async::prelude::Queryable;
        match self {
            Session::MariaDb(c) => c.query_drop(sql).await.map_err(|e| e.to_string()),
            Session::Postgres(c) => c.simple_query(sql).await.map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}

/// Creates a running database of `engine`; its id and connection.
async fn running(api: &Api, engine: &'static str, label: &str) -> (String, Conn) {
    let r = api.post("/databases", json!({ "name": unique_name(label), "engine": engine })).await;
    assert!(r.status == 201 || r.status == 202, "create a {engine} database: {} {}", r.status, r.body);
    let id = r.data()["id"].as_str().expect("id").to_owned();
    let op = api.wait_operation(r.data()["operation_id"].as_str().expect("operation")).await;
    if op["state"] != "succeeded" {
        let incidents = Api::new(Some(&app_with_mariadb().admin_key)).get("/admin/incidents?state=open").await;
        panic!("creating a {engine} database: {op}; incidents: {}; log: {:#?}", incidents.body, warnings());
    }
    let url = r.data()["connection_string"].as_str().expect("connection string");
    (id, Conn::new(engine, url))
}

async fn filled(api: &Api, engine: &'static str, label: &str) -> (String, Conn) {
    let (id, conn) = running(api, engine, label).await;
    conn.sql(
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), note TEXT);
         INSERT INTO items VALUES (1, 'one', NULL), (2, 'two', 'NULL'), (3, 'three', 'it''s')",
    )
    .await
    .unwrap_or_else(|e| panic!("filling a {engine} database: {e}"));
    (id, conn)
}

/// The platform's warnings and errors so far (what a failure message shows).
fn warnings() -> Vec<String> {
    let logs = integration_tests::fixtures::captured_logs();
    logs.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).take(30).map(str::to_owned).collect()
}

async fn operation_succeeds(api: &Api, r: &integration_tests::Resp, what: &str) {
    assert!(r.status == 200 || r.status == 202 || r.status == 201, "{what}: {} {}", r.status, r.body);
    let op = r.data()["operation_id"].as_str().unwrap_or_else(|| panic!("{what}: no operation in {}", r.body));
    let done = api.wait_operation(op).await;
    assert_eq!(done["state"], "succeeded", "{what}: {done}");
}

#[tokio::test]
async fn a_database_of_each_engine_is_created_reached_and_listed_with_its_own_kind_of_connection_string() {
    let api = user().await;
    let other = user().await;
    for engine in ENGINES {
        let (id, conn) = filled(&api, engine, &format!("life-{engine}")).await;
        let got = api.get(&format!("/databases/{id}")).await;
        got.expect(200);
        assert_eq!(got.data()["engine"], engine, "{}", got.body);
        let scheme = if engine == "mariadb" { "mysql://" } else { "postgresql://" };
        assert!(conn.url.starts_with(scheme), "{engine}: {}", conn.url);
        assert_eq!(conn.count("items").await, 3);
        let listed = api.get("/databases").await;
        let row = listed.data().as_array().expect("list").iter().find(|d| d["id"] == id.as_str()).cloned();
        assert_eq!(row.map(|d| d["engine"].clone()), Some(json!(engine)));
        // The credentials route gives the same kind of string, and it works.
        let creds = api.get(&format!("/databases/{id}/credentials")).await;
        creds.expect(200);
        let again = Conn::new(engine, creds.data()["connection_string"].as_str().expect("url"));
        assert_eq!(again.count("items").await, 3);

        // Another tenant's own credentials cannot open it.
        let (_, theirs) = running(&other, engine, &format!("other-{engine}")).await;
        let their_login = theirs.url.split("://").nth(1).and_then(|r| r.split('@').next()).expect("user:pw");
        let tail = conn.url.rsplit_once('@').expect("@").1;
        let intruder = Conn::new(engine, &format!("{}://{their_login}@{tail}", scheme.trim_end_matches("://")));
        let refused = intruder.sql("SELECT COUNT(*) FROM items").await.expect_err("another tenant is refused");
        assert!(!refused.contains("three"), "{refused}");

        // The activity log says which engine it was made on.
        let path = format!("/databases/{id}/activity");
        let acts = api.wait_activity(&path, |e| integration_tests::has_action(e, "database.create")).await;
        let created =
            acts.data().as_array().expect("entries").iter().find(|e| e["action"] == "database.create").cloned();
        assert_eq!(created.map(|e| e["details"]["engine"].clone()), Some(json!(engine)), "{}", acts.body);

        // Metrics and schema, read through the engine's adapter.
        let m = api.get(&format!("/databases/{id}/metrics")).await;
        m.expect(200);
        assert!(m.data()["size_bytes"].as_i64().is_some_and(|s| s > 0), "{engine}: {}", m.body);
        let s = api.get(&format!("/databases/{id}/schema")).await;
        s.expect(200);
        assert!(s.body.to_string().contains("items"), "{engine}: {}", s.body);
    }
}

#[tokio::test]
async fn stop_start_restart_and_a_new_password_work_on_each_engine() {
    let api = user().await;
    for engine in ENGINES {
        let (id, conn) = filled(&api, engine, &format!("cycle-{engine}")).await;
        let mut open = Session::open(&conn).await;
        open.query("SELECT 1").await.expect("an open session works");
        let stopped = api.lifecycle(&id, "stop").await;
        assert_eq!(stopped["state"], "stopped");
        open.query("SELECT 1").await.expect_err("stop ends the sessions already in");
        let refusal = conn.sql("SELECT 1").await.expect_err("a stopped database refuses logins");
        assert!(!refusal.is_empty());
        assert_eq!(api.lifecycle(&id, "start").await["state"], "running");
        conn.wait_login(true).await;
        assert_eq!(api.lifecycle(&id, "restart").await["state"], "running");
        assert_eq!(conn.count("items").await, 3, "{engine}: data survives the cycle");

        let r = api.post(&format!("/databases/{id}/reset-password"), json!({})).await;
        let fresh = r.data()["password"].as_str().expect("a new password").to_owned();
        operation_succeeds(&api, &r, "reset-password").await;
        conn.sql("SELECT 1").await.expect_err("the old password is refused");
        assert_eq!(conn.with_password(&fresh).count("items").await, 3);
    }
}

#[tokio::test]
async fn database_users_log_in_with_their_own_password_until_removed_on_each_engine() {
    let api = user().await;
    for engine in ENGINES {
        let (id, _) = filled(&api, engine, &format!("users-{engine}")).await;
        let r = api.post(&format!("/databases/{id}/users"), json!({ "username": "reporting" })).await;
        assert!(r.status == 201 || r.status == 202, "{engine}: {} {}", r.status, r.body);
        let url = r.data()["connection_string"].as_str().expect("url");
        let reporting = Conn::new(engine, url);
        reporting.wait_login(true).await;
        if engine == "mariadb" {
            // Rights on its database: it reads the owner's table.
            assert_eq!(reporting.count("items").await, 3);
        }
        api.delete(&format!("/databases/{id}/users/reporting")).await;
        reporting.wait_login(false).await;
    }
}

/// Where a login from `source` reaches the database: PostgreSQL through `connect_from`'s
/// bound socket, MariaDB through a relay bound there.
async fn login_from(engine: &str, source: &str, url: &str) -> Result<(), String> {
    let ip: IpAddr = source.parse().expect("ip");
    match engine {
        "mariadb" => {
            let u = MysqlUrl::parse(url);
            let target: SocketAddr = format!("{}:{}", u.host, u.port).parse().expect("address");
            let port = maria::relay_from(ip, target).await;
            maria::query(&u.via(port), "SELECT 1").await.map(|_| ())
        }
        _ => integration_tests::connect_from(ip, url).await.map(|_| ()),
    }
}

#[tokio::test]
async fn an_allowlist_admits_its_source_and_refuses_another_on_each_engine() {
    let api = user().await;
    for engine in ENGINES {
        let (id, conn) = running(&api, engine, &format!("walled-{engine}")).await;
        login_from(engine, "127.0.0.3", &conn.url).await.unwrap_or_else(|e| panic!("{engine}: open to all first: {e}"));
        let r =
            api.post(&format!("/databases/{id}/allowlist"), json!({ "cidr": "127.0.0.2", "label": "office" })).await;
        r.expect(201);
        // 201 means the rule is enforced already.
        let refusal = login_from(engine, "127.0.0.3", &conn.url).await.expect_err("another source is refused at once");
        login_from(engine, "127.0.0.2", &conn.url).await.unwrap_or_else(|e| panic!("{engine}: the listed source: {e}"));
        assert!(!refusal.is_empty());
        let rule = r.data()["id"].as_str().expect("rule id");
        api.delete(&format!("/databases/{id}/allowlist/{rule}")).await.expect(204);
        login_from(engine, "127.0.0.3", &conn.url).await.unwrap_or_else(|e| panic!("{engine}: open again: {e}"));
    }
}

async fn backed_up(api: &Api, db: &str) -> Value {
    let r = api.post(&format!("/databases/{db}/backups"), json!({ "label": "engines" })).await;
    r.expect(202);
    let backup = r.data()["id"].as_str().expect("backup id").to_owned();
    eventually(&format!("backup {backup} to succeed"), Duration::from_secs(120), || async {
        let r = api.get(&format!("/databases/{db}/backups/{backup}")).await;
        match r.data()["state"].as_str() {
            Some("succeeded") => Ok(r.data().clone()),
            Some("failed") => panic!("backup failed: {}; log: {:#?}", r.body, warnings()),
            _ => Err(r.body.to_string()),
        }
    })
    .await
}

#[tokio::test]
async fn backups_verify_restore_and_branch_on_each_engine() {
    let api = user().await;
    for engine in ENGINES {
        let (id, conn) = filled(&api, engine, &format!("bk-{engine}")).await;
        let backup = backed_up(&api, &id).await;
        assert!(backup["size_bytes"].as_i64().is_some_and(|s| s > 0), "{backup}");
        assert!(backup["sha256"].as_str().is_some_and(|s| s.len() == 64), "{backup}");
        let backup_id = backup["id"].as_str().expect("id");

        // The object is a gzip of SQL the engine's own client reads.
        let raw = reqwest::Client::new()
            .get(format!("{}/api/v1/databases/{id}/backups/{backup_id}/download", app_with_mariadb().api_url))
            .bearer_auth(api.key.as_deref().expect("key"))
            .send()
            .await
            .expect("download")
            .bytes()
            .await
            .expect("body");
        use sha2::Digest;
        assert_eq!(backup["sha256"].as_str(), Some(hex::encode(sha2::Sha256::digest(&raw)).as_str()), "{engine}");
        let mut sql = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut sql).expect("gzip of text");
        assert!(sql.contains("items") && sql.contains("three"), "{engine}: {}", &sql[..sql.len().min(400)]);

        let r = api.post(&format!("/databases/{id}/backups/{backup_id}/verify"), json!({})).await;
        operation_succeeds(&api, &r, "verify").await;
        let checked = api.get(&format!("/databases/{id}/backups/{backup_id}")).await;
        assert_eq!(checked.data()["verified_ok"], true, "{engine}: {}", checked.body);

        // Changes after the backup do not reach the restore; a branch has them.
        conn.sql("INSERT INTO items VALUES (4, 'four', NULL)").await.expect("insert");
        let target = unique_name(&format!("rs-{engine}"));
        let r = api
            .post(&format!("/databases/{id}/restore"), json!({ "backup_id": backup_id, "target_name": target }))
            .await;
        assert!(r.status == 201 || r.status == 202, "{engine} restore: {} {}", r.status, r.body);
        let restored_id = r.data()["id"].as_str().expect("id");
        api.wait_state(restored_id, "running").await;
        let restored = Conn::new(engine, r.data()["connection_string"].as_str().expect("url"));
        assert_eq!(restored.count("items").await, 3, "{engine}: the restore is the backup");
        assert_eq!(restored.sql("SELECT note FROM items WHERE id = 2").await.expect("note"), "NULL");

        let r =
            api.post(&format!("/databases/{id}/branch"), json!({ "name": unique_name(&format!("br-{engine}")) })).await;
        assert!(r.status == 201 || r.status == 202, "{engine} branch: {} {}", r.status, r.body);
        let branch_id = r.data()["id"].as_str().expect("id");
        api.wait_state(branch_id, "running").await;
        let branch = Conn::new(engine, r.data()["connection_string"].as_str().expect("url"));
        assert_eq!(branch.count("items").await, 4, "{engine}: the branch is the source now");
        // Each is its own database: a write to the branch leaves the source alone.
        branch.sql("DELETE FROM items").await.expect("delete in the branch");
        assert_eq!(conn.count("items").await, 4);

        for db in [&id, &restored_id.to_owned(), &branch_id.to_owned()] {
            api.delete(&format!("/databases/{db}")).await;
        }
        for db in [&id, &restored_id.to_owned(), &branch_id.to_owned()] {
            api.wait_state(db, "deleted").await;
        }
        conn.sql("SELECT 1").await.expect_err("a deleted database refuses logins");
    }
}

#[tokio::test]
async fn what_only_postgresql_offers_is_unprocessable_on_mariadb_and_mongodb_is_disabled() {
    let api = user().await;
    let (id, _) = running(&api, "mariadb", "pgonly").await;
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
    let api = user().await;
    let (_, mine) = filled(&api, "mariadb", "hostile-a").await;
    let (_, theirs) = filled(&user().await, "mariadb", "hostile-b").await;
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
    app_with_mariadb();
    let (api, _) = Api::new_user_on(domain::Plan::Free).await;
    let (_, conn) = running(&api, "mariadb", "capped").await;
    let url = MysqlUrl::parse(&conn.url);
    let limit = integration_tests::fixtures::free_quotas().connection_limit as usize;
    let opts = mysql_opts(&url);
    let mut held = Vec::new();
    for _ in 0..limit {
        held.push(mysql_async::Conn::new(opts.clone()).await.expect("within the cap"));
    }
    let over = mysql_async::Conn::new(opts.clone()).await.expect_err("one more is refused");
    assert!(over.to_string().contains("max_user_connections"), "{over}");
    drop(held);
}

fn mysql_opts(url: &MysqlUrl) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(url.host.clone())
        .tcp_port(url.port)
        .user(Some(url.user.clone()))
        .pass(Some(url.password.clone()))
        .db_name(Some(url.database.clone()))
        .prefer_socket(false)
        .into()
}

#[tokio::test]
async fn a_mariadb_tenant_holding_locks_cannot_stall_its_databases_deletion() {
    use mysql_async::prelude::Queryable;
    let api = user().await;
    let (id, conn) = filled(&api, "mariadb", "locker").await;
    let url = MysqlUrl::parse(&conn.url);
    let mut session = mysql_async::Conn::new(mysql_opts(&url)).await.expect("tenant session");
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
    let api = user().await;
    let (id, conn) = filled(&api, "mariadb", "objects").await;
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
    let branch = Conn::new("mariadb", r.data()["connection_string"].as_str().expect("url"));
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
    let api = user().await;
    let (server, _) = app_with_mariadb().maria.expect("the engines platform runs MariaDB");
    let admin_opts = mysql_async::OptsBuilder::default()
        .socket(Some(server.socket().display().to_string()))
        .user(Some(server.admin_user()))
        .pass(Some(server.admin_password()));
    let mut admin = mysql_async::Conn::new(admin_opts).await.expect("the platform's account");
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
    app_with_mariadb();
    let (api, _) = Api::new_user_on(domain::Plan::Free).await;
    let (id, conn) = running(&api, "mariadb", "quota").await;
    let mut session = mysql_async::Conn::new(mysql_opts(&MysqlUrl::parse(&conn.url))).await.expect("session");
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
