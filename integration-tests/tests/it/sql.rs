//! `hostctl::sql::run` (the core of `POST /databases/{id}/sql`) against a real database, as
//! its owner role: values round-trip as JSON per type, params bind, read-only holds whatever
//! the text says, the deadline holds after `SET statement_timeout = 0`, caps truncate, and no
//! transaction is left open.

use std::time::{Duration, Instant};

use domain::DatabaseName;
use hostctl::sql::{run, SqlError, SqlRequest};
use integration_tests::{app, connect, host_superuser, unique_name, Api};
use serde_json::{json, Value};

struct Db {
    host: domain::TenantHost,
    login: hostctl::TenantLogin,
    name: DatabaseName,
    url: String,
}

async fn database() -> Db {
    let api = Api::new_user().await;
    let created = api.create_running(&unique_name("sql")).await;
    let id: domain::DatabaseId = created["id"].as_str().expect("id").parse().expect("a database id");
    let store = app().store();
    let row = store.database(id).await.expect("the database's row");
    let host = store.host(row.host_id).await.expect("its host");
    let password = created["password"].as_str().expect("password").to_owned();
    let login = hostctl::TenantLogin::owner(&row.name, password);
    let url = created["connection_string"].as_str().expect("url").to_owned();
    Db { host, login, name: row.name, url }
}

impl Db {
    async fn sql(&self, req: &SqlRequest) -> Result<hostctl::sql::SqlResult, SqlError> {
        run(&self.host, &self.login, &self.name, req).await
    }

    async fn ok(&self, text: &str) -> hostctl::sql::SqlResult {
        self.sql(&SqlRequest::new(text)).await.unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    async fn read_only(&self, text: &str) -> Result<hostctl::sql::SqlResult, SqlError> {
        let mut req = SqlRequest::new(text);
        req.read_only = true;
        self.sql(&req).await
    }
}

#[tokio::test]
async fn sql_values_round_trip_as_json() {
    let db = database().await;
    db.ok("create type mood as enum ('ok', 'sad');
         create table t (b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric, tx text,
                         by bytea, ts timestamp, tz timestamptz, d date, j json, jb jsonb, u uuid,
                         a4 int4[], at text[], an numeric[], m mood, nul int4);
         insert into t values (true, -2, 2000000000, 9007199254740993, 1.1, 'NaN',
                               123456789012345678901234567890.1234567890, 'héllo', '\\xdead00',
                               '2024-01-02 03:04:05.5', '2024-01-02 03:04:05.5+02', '2024-01-02',
                               '{\"a\": [1, null]}', '{\"b\": 1.5}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                               '{{1,2},{3,4}}', '{x,NULL,\"y z\"}', '{1.50,-0.001}', 'sad', null)")
        .await;
    let r = db.ok("select * from t").await;
    assert_eq!((r.command.as_str(), r.row_count, r.truncated), ("SELECT", 1, false));
    let types: Vec<&str> = r.columns.iter().map(|c| c.data_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "bool",
            "int2",
            "int4",
            "int8",
            "float4",
            "float8",
            "numeric",
            "text",
            "bytea",
            "timestamp",
            "timestamptz",
            "date",
            "json",
            "jsonb",
            "uuid",
            "int4[]",
            "text[]",
            "numeric[]",
            "mood",
            "int4"
        ]
    );
    assert_eq!(
        Value::Array(r.rows.values()[0].clone()),
        json!([
            true,
            -2,
            2000000000,
            "9007199254740993",
            1.1,
            "NaN",
            "123456789012345678901234567890.1234567890",
            "héllo",
            "\\xdead00",
            "2024-01-02T03:04:05.500",
            "2024-01-02T01:04:05.500Z",
            "2024-01-02",
            {"a": [1, null]},
            {"b": 1.5},
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            [[1, 2], [3, 4]],
            ["x", null, "y z"],
            ["1.50", "-0.001"],
            "sad",
            null
        ])
    );
    // numeric exactly as PostgreSQL prints it, for many values.
    let r = db
        .ok("select n, n::text from (values (0::numeric), (-1.5), (1e25), (0.000001), (1.10), ('NaN'), (-12.3456::numeric(30,7))) v(n)")
        .await;
    for row in &r.rows.values() {
        assert_eq!(row[0], row[1], "{row:?}");
    }
    // A type we do not decode in binary comes in its text form (simple protocol), with the rest.
    let r = db.ok("select interval '1 day 2 hours', 42::int4, '10.0'::numeric, null::inet").await;
    assert_eq!(r.columns[0].data_type, "interval");
    assert_eq!(Value::Array(r.rows.values()[0].clone()), json!(["1 day 02:00:00", 42, "10.0", null]));
    // Several statements: the last one's result, values as text.
    let r = db.ok("insert into t (i4) values (1); select i4, tx from t where i4 = 1").await;
    assert_eq!((r.command.as_str(), r.rows.values()), ("SELECT", vec![vec![json!("1"), Value::Null]]));
    let r = db.ok("select 1; update t set i2 = 3").await;
    assert_eq!((r.command.as_str(), r.row_count, r.columns.len()), ("UPDATE", 2, 0));
}

#[tokio::test]
async fn sql_params_bind_and_are_never_text() {
    let db = database().await;
    db.ok("create table t (id int4, name text, tags text[], doc jsonb)").await;
    let mut req = SqlRequest::new("insert into t values ($1, $2, $3, $4) returning id, name, tags, doc");
    req.params = vec![json!(7), json!("'; drop table t; --"), json!(["a", "b\"c"]), json!({"k": [1]})];
    let r = db.sql(&req).await.expect("inserts");
    assert_eq!((r.command.as_str(), r.row_count), ("INSERT", 1));
    assert_eq!(Value::Array(r.rows.values()[0].clone()), json!([7, "'; drop table t; --", ["a", "b\"c"], {"k": [1]}]));
    let r = db.ok("select count(*), max(name) from t").await;
    assert_eq!(r.rows.values()[0], vec![json!("1"), json!("'; drop table t; --")]);
    // A wrong count of params, and a statement with params and several statements, are refused.
    let mut req = SqlRequest::new("select $1::int");
    assert!(matches!(db.sql(&req).await, Err(SqlError::Rejected(_))));
    req.text = "select $1::int; select 2".into();
    req.params = vec![json!(1)];
    assert!(matches!(db.sql(&req).await, Err(SqlError::Sql { code, .. }) if code == "42601"));
}

#[tokio::test]
async fn sql_read_only_refuses_every_write() {
    let db = database().await;
    db.ok(
        "create table t (a int);
         create function w() returns int language plpgsql volatile as $$ begin insert into t values (1); return 1; end $$;",
    )
    .await;
    assert_eq!(db.read_only("select count(*) from t").await.expect("a read").rows.values()[0], vec![json!("0")]);
    for text in [
        "insert into t values (1)",
        "select w()",
        "copy t from program 'true'",
        "copy (select 1) to program 'true'",
        "do $$ begin insert into t values (1); end $$",
        // After our first snapshot PostgreSQL refuses to become read-write.
        "set transaction read write",
        "begin read write",
        "set transaction_read_only = off",
        // One statement only: COMMIT; INSERT would otherwise write outside the transaction.
        "commit; insert into t values (1)",
        "set role none; insert into t values (1)",
    ] {
        let r = db.read_only(text).await;
        assert!(matches!(r, Err(SqlError::Sql { .. })), "{text}: {r:?}");
    }
    // SET ROLE to anyone the tenant is not is refused; to itself it changes nothing.
    let su = &db.host.superuser;
    assert!(
        matches!(db.read_only(&format!("set role \"{su}\"")).await, Err(SqlError::Sql { code, .. }) if code == "42501")
    );
    assert_eq!(db.ok("select count(*) from t").await.rows.values()[0], vec![json!("0")], "nothing was written");
}

#[tokio::test]
async fn sql_deadline_holds_after_set_statement_timeout_zero() {
    let db = database().await;
    let mut req = SqlRequest::new("set statement_timeout = 0; select pg_sleep(60)");
    req.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let r = db.sql(&req).await;
    assert!(matches!(r, Err(SqlError::Timeout(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    // The server's own timeout on a single statement is a timeout too.
    req.text = "select pg_sleep(60)".into();
    assert!(matches!(db.sql(&req).await, Err(SqlError::Timeout(_))));
    // The sleeping backend is gone (cancelled, its client dropped).
    let su = host_superuser().await;
    integration_tests::eventually("the cancelled sessions to end", Duration::from_secs(10), || async {
        let n: i64 = su
            .query_one(
                "select count(*) from pg_stat_activity where datname = $1 and application_name = 'berth-sql'",
                &[&db.name.as_str()],
            )
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if n == 0 {
            Ok(())
        } else {
            let left: Vec<String> = su
                .query(
                    "select coalesce(state, '') || ': ' || coalesce(query, '') from pg_stat_activity
                      where datname = $1 and application_name = 'berth-sql'",
                    &[&db.name.as_str()],
                )
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Err(format!("{n} sessions left: {left:?}"))
        }
    })
    .await;
}

#[tokio::test]
async fn sql_caps_truncate_and_no_transaction_is_left_open() {
    let db = database().await;
    let mut req = SqlRequest::new("select g from generate_series(1, 100000) g");
    req.max_rows = 10;
    let r = db.sql(&req).await.expect("a truncated read");
    assert!(r.truncated && r.rows.len() == 10 && r.row_count == 10, "{r:?}");
    req.max_rows = 1000;
    req.max_bytes = 100;
    let r = db.sql(&req).await.expect("a truncated read");
    assert!(r.truncated && r.rows.len() < 30, "{r:?}");
    // A BEGIN in the text without its COMMIT is rolled back, and nothing stays open.
    db.ok("create table t (a int)").await;
    db.ok("begin; insert into t values (1)").await;
    let mut req = SqlRequest::new("insert into t values (2) returning a");
    req.max_rows = 0;
    let r = db.sql(&req).await.expect("inserts");
    assert!(r.truncated, "{r:?}");
    let client = connect(&db.url).await.expect("connects");
    let rows: Vec<i32> = client.query("select a from t", &[]).await.expect("reads").iter().map(|r| r.get(0)).collect();
    assert_eq!(rows, [2], "the open BEGIN rolled back; a truncated write committed");
    let su = host_superuser().await;
    let open: i64 = su
        .query_one(
            "select count(*) from pg_stat_activity where datname = $1 and application_name = 'berth-sql'
               and state like 'idle in transaction%'",
            &[&db.name.as_str()],
        )
        .await
        .expect("pg_stat_activity")
        .get(0);
    assert_eq!(open, 0);
}

/// The owner's SQL gets its session from the database's PgBouncer pool (a login to
/// PgBouncer, not a new server process per request), under our deadline, and a request
/// finds nothing an earlier one left in that session: PgBouncer's `DISCARD ALL` clears it.
#[tokio::test]
async fn sql_sessions_come_from_the_pool_and_keep_nothing_between_requests() {
    let db = database().await;
    let mut req = SqlRequest::new(
        "set my.leak = 'x'; create temp table left_behind (a int); select pg_advisory_lock(42); \
         set statement_timeout = 0",
    );
    req.timeout = Duration::from_secs(7);
    db.sql(&req).await.expect("a request that leaves session state");
    req.text = "select pg_backend_pid(), current_setting('my.leak', true), to_regclass('pg_temp.left_behind')::text, \
                (select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()), \
                current_setting('statement_timeout')"
        .into();
    let mut pids = Vec::new();
    for _ in 0..10 {
        let r = db.sql(&req).await.expect("reads its session");
        let row = &r.rows.values()[0].clone();
        // A custom setting once set in a session reads '' after the reset, NULL in a new one.
        assert!(row[1].is_null() || row[1] == "", "the last request's setting is still there: {row:?}");
        assert_eq!(row[2..], [Value::Null, json!("0"), json!("7s")], "{row:?}");
        pids.push(row[0].as_i64().expect("a pid"));
        // The next request leaves state again.
        let mut leave = req.clone();
        leave.text = "set my.leak = 'y'; select pg_advisory_lock(7)".into();
        db.sql(&leave).await.expect("leaves state");
    }
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // A server process per request would give 20 pids (the kernel does not reuse them so
    // soon); the pool hands the same few sessions back.
    assert!(distinct.len() < pids.len(), "every request had a new server process: {pids:?}");
}
