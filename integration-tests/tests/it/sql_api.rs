//! `POST /databases/{id}/sql` end to end, through the API against a real database: who may
//! run what, what PostgreSQL refuses to the read-only roles whatever the text says, caps,
//! the per-query audit (fingerprints and placeholders, never values), and approvals (held
//! whatever the spelling, run exactly once).

use integration_tests::{unique_name, Api};
use serde_json::{json, Value};

/// A running database, its owner, and collaborators of each role.
struct Shared {
    id: String,
    owner: Api,
    admin: Api,
    developer: Api,
    viewer: Api,
}

async fn share(owner: &Api, id: &str, role: &str) -> Api {
    let user = Api::new_user().await;
    let email = user.email().await;
    owner.post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": role })).await.expect(201);
    user
}

async fn shared(label: &str) -> Shared {
    let owner = Api::new_user().await;
    let created = owner.create_running(&unique_name(label)).await;
    let id = created["id"].as_str().expect("id").to_owned();
    // One at a time: shares of one database append to one stream.
    let admin = share(&owner, &id, "admin").await;
    let developer = share(&owner, &id, "developer").await;
    let viewer = share(&owner, &id, "viewer").await;
    Shared { id, owner, admin, developer, viewer }
}

impl Shared {
    fn path(&self, rest: &str) -> String {
        format!("/databases/{}{rest}", self.id)
    }
}

async fn sql(api: &Api, id: &str, body: Value) -> integration_tests::Resp {
    api.post(&format!("/databases/{id}/sql"), body).await
}

async fn ok(api: &Api, id: &str, query: &str) -> Value {
    let r = sql(api, id, json!({ "query": query })).await;
    r.expect(200);
    r.data().clone()
}

#[tokio::test]
async fn owners_run_sql_with_params_and_values_keep_their_meaning() {
    let s = shared("sqlapi").await;
    ok(&s.owner, &s.id, "create table items (id int8 primary key, price numeric, tags text[], meta jsonb)").await;
    let r = sql(
        &s.owner,
        &s.id,
        json!({ "query": "insert into items values ($1, $2, $3, $4) returning *",
                "params": [9007199254740993_i64, "12.50", ["a", "b c"], {"k": [1, null]}] }),
    )
    .await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["command"], "INSERT");
    assert_eq!(d["row_count"], 1);
    assert_eq!(d["rows"][0], json!(["9007199254740993", "12.50", ["a", "b c"], {"k": [1, null]}]));
    let types: Vec<&str> =
        d["columns"].as_array().expect("columns").iter().filter_map(|c| c["data_type"].as_str()).collect();
    assert_eq!(types, ["int8", "numeric", "text[]", "jsonb"]);
    // A file of statements: the last one's result.
    let f = sql(&s.admin, &s.id, json!({ "file_content": "select 1; select count(*) as n from items;" })).await;
    f.expect(200);
    assert_eq!(f.data()["rows"][0][0], "1");
    // Exactly one of query and file_content; SQL errors are 422 with PostgreSQL's words.
    sql(&s.owner, &s.id, json!({ "query": "select 1", "file_content": "select 1" }))
        .await
        .expect_error(400, "INVALID_REQUEST");
    sql(&s.owner, &s.id, json!({})).await.expect_error(400, "INVALID_REQUEST");
    let e = sql(&s.owner, &s.id, json!({ "query": "select * from missing_table" })).await;
    e.expect_error(422, "UNPROCESSABLE");
    assert!(e.body["error"]["message"].as_str().unwrap_or("").contains("42P01"), "{}", e.body);
    // Caps: rows past the cap are left out and said so.
    let big = ok(&s.owner, &s.id, "select g from generate_series(1, 10050) g").await;
    assert_eq!(big["truncated"], true);
    assert_eq!(big["rows"].as_array().map(Vec::len), Some(10_000));
}

#[tokio::test]
async fn read_only_roles_cannot_write_by_any_statement() {
    let s = shared("sqlro").await;
    ok(
        &s.owner,
        &s.id,
        "create table notes (id serial primary key, body text);
         insert into notes (body) values ('kept');
         create function scribble() returns int language plpgsql volatile as
           $$ begin insert into notes (body) values ('written'); return 1; end $$",
    )
    .await;
    s.viewer.post(&s.path("/sql"), json!({ "query": "select 1" })).await.expect_error(403, "FORBIDDEN");
    // Developers read (under the explorer role, which may read the owner's tables)...
    let read = ok(&s.developer, &s.id, "select body, current_user from notes").await;
    assert_eq!(read["rows"][0][0], "kept");
    assert!(read["rows"][0][1].as_str().unwrap_or("").ends_with(".sql_explorer"), "{read}");
    // ...and nothing else, whatever the text says.
    for attempt in [
        "insert into notes (body) values ('x')",
        "update notes set body = 'x'",
        "select scribble()",
        "do $$ begin insert into notes (body) values ('x'); end $$",
        "create table t2 (a int)",
        "set transaction read write",
        "begin read write",
        "select nextval('notes_id_seq')",
    ] {
        let r = sql(&s.developer, &s.id, json!({ "query": attempt })).await;
        assert_ne!(r.status, 200, "{attempt}: {}", r.body);
    }
    // Text that does not parse is the caller's error, read-only or not (the contract fuzzer
    // once had a 503 for this very body).
    let r = sql(&s.owner, &s.id, json!({"file_content": "0", "params": [], "query": null, "read_only": true})).await;
    r.expect_error(422, "UNPROCESSABLE");
    // An owner who asks for read-only gets the same walls.
    let r = sql(&s.owner, &s.id, json!({ "query": "delete from notes", "read_only": true })).await;
    r.expect_error(422, "UNPROCESSABLE");
    // Multi-statement text cannot step out of the read-only transaction.
    let r = sql(&s.developer, &s.id, json!({ "file_content": "commit; insert into notes (body) values ('x');" })).await;
    assert_ne!(r.status, 200, "{}", r.body);
    let count = ok(&s.owner, &s.id, "select count(*) from notes").await;
    assert_eq!(count["rows"][0][0], "1", "nothing was written");
}

#[tokio::test]
async fn the_audit_records_each_statement_without_values() {
    let s = shared("sqlaudit").await;
    ok(&s.owner, &s.id, "create table people (email text, secret text)").await;
    sql(
        &s.owner,
        &s.id,
        json!({ "query": "insert into people values ($1, 'literal-secret-value')", "params": ["param-secret@example.com"] }),
    )
    .await
    .expect(200);
    ok(&s.developer, &s.id, "select * from people where email = 'alice@example.com'").await;
    let page = s.owner.get(&s.path("/queries")).await;
    page.expect(200);
    let rows = page.data().as_array().expect("rows").clone();
    let text = serde_json::to_string(&rows).expect("json");
    for secret in ["param-secret", "literal-secret-value", "alice@example.com"] {
        assert!(!text.contains(secret), "{secret} in the audit: {text}");
    }
    let insert = rows.iter().find(|r| r["command"] == "INSERT").expect("the insert is recorded");
    assert_eq!(insert["source"], "sql");
    assert!(insert["statement"].as_str().unwrap_or("").contains("$2"), "{insert}");
    assert_eq!(insert["row_count"], 1);
    assert!(insert["actor"]["user_id"].is_string());
    let read = rows.iter().find(|r| r["source"] == "explorer").expect("the developer's read is recorded");
    assert_eq!(read["command"], "SELECT");
    // Filters and paging.
    let only = s.owner.get(&s.path("/queries?source=explorer")).await;
    assert!(only.data().as_array().expect("rows").iter().all(|r| r["source"] == "explorer"));
    let first = s.owner.get(&s.path("/queries?limit=1")).await;
    let cursor = first.body["next_cursor"].as_str().expect("a next page").to_owned();
    let second = s.owner.get(&s.path(&format!("/queries?limit=1&cursor={cursor}"))).await;
    assert_ne!(second.data()[0]["id"], first.data()[0]["id"]);
    s.viewer.get(&s.path("/queries")).await.expect_error(403, "FORBIDDEN");
    // `berth audit export` of the database carries the same records, values still absent.
    let db: domain::DatabaseId = s.id.parse().expect("a database id");
    let mut out: Vec<u8> = Vec::new();
    let filter = eventstore::audit::ExportFilter { since: None, database: Some(db) };
    eventstore::audit::export(&integration_tests::app().store(), &filter, &mut out).await.expect("export");
    let exported = String::from_utf8(out).expect("utf-8");
    let ran = exported.lines().filter(|l| l.contains("\"type\":\"QueryRan\"")).count();
    assert!(ran >= 3, "the query records are exported: {ran}");
    for secret in ["param-secret", "literal-secret-value", "alice@example.com"] {
        assert!(!exported.contains(secret), "{secret} in the export");
    }
    // Writes are activity; reads are not.
    let activity =
        s.owner.wait_activity(&s.path("/activity"), |e| integration_tests::has_action(e, "database.sql")).await;
    assert!(integration_tests::has_action(activity.data().as_array().expect("entries"), "database.sql"));
    // Turned off, the text is no longer kept (the fingerprint is).
    s.owner.put(&s.path("/approval-settings"), json!({ "record_statements": false })).await.expect(200);
    ok(&s.owner, &s.id, "select count(*) from people").await;
    let latest = s.owner.get(&s.path("/queries?limit=1")).await;
    assert!(latest.data()[0]["statement"].is_null(), "{}", latest.body);
    assert!(latest.data()[0]["fingerprint"].as_str().is_some_and(|f| !f.is_empty()));
}

/// Enables approvals for every kind with the owner.
async fn enable_approvals(s: &Shared) {
    let r = s.owner.put(&s.path("/approval-settings"), json!({ "enabled": true, "ttl_seconds": 3600 })).await;
    r.expect(200);
    assert_eq!(r.data()["enabled"], true);
    s.admin.put(&s.path("/approval-settings"), json!({ "enabled": false })).await.expect_error(403, "FORBIDDEN");
}

async fn approve(api: &Api, s: &Shared, approval: &str) -> integration_tests::Resp {
    api.post(&s.path(&format!("/approvals/{approval}/approve")), json!({})).await
}

async fn held(api: &Api, id: &str, query: &str) -> String {
    let r = sql(api, id, json!({ "query": query })).await;
    assert_eq!(r.status, 202, "{query}: {}", r.body);
    assert_eq!(r.data()["state"], "pending");
    r.data()["approval_id"].as_str().expect("approval_id").to_owned()
}

#[tokio::test]
async fn approvals_cannot_be_bypassed_and_run_once() {
    let s = shared("sqlappr").await;
    ok(&s.owner, &s.id, "create table t (a int); create table counter (n int); insert into counter values (0)").await;
    enable_approvals(&s).await;
    for text in [
        "DROP TABLE t",
        "/* harmless */ dRoP /**/ TaBlE t",
        "select 1; drop table t",
        "DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$",
        "truncate t",
        "delete from t",
        "alter table t add column b int",
    ] {
        held(&s.admin, &s.id, text).await;
    }
    // Not held: a delete with a WHERE.
    ok(&s.admin, &s.id, "delete from t where a = 1").await;
    ok(&s.owner, &s.id, "select * from t").await; // t still exists
    let drop = held(&s.admin, &s.id, "drop table t").await;
    approve(&s.admin, &s, &drop).await.expect_error(403, "FORBIDDEN");
    s.developer.post(&s.path(&format!("/approvals/{drop}/approve")), json!({})).await.expect_error(403, "FORBIDDEN");
    let done = approve(&s.owner, &s, &drop).await;
    done.expect(200);
    assert_eq!(done.data()["state"], "executed", "{}", done.body);
    approve(&s.owner, &s, &drop).await.expect_error(409, "CONFLICT");
    sql(&s.owner, &s.id, json!({ "query": "select * from t" })).await.expect_error(422, "UNPROCESSABLE");
    // Racing approvals run the statement once.
    let bump = held(&s.admin, &s.id, "update counter set n = n + 1").await;
    let tries = (0..5).map(|_| approve(&s.owner, &s, &bump));
    let answers = futures::future::join_all(tries).await;
    assert_eq!(
        answers.iter().filter(|r| r.status == 200).count(),
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // The others find it decided, or (past the database's share of SQL slots) are turned away.
    assert!(
        answers.iter().all(|r| [200, 409, 429].contains(&r.status)),
        "{:?}",
        answers.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let n = ok(&s.owner, &s.id, "select n from counter").await;
    assert_eq!(n["rows"][0][0], 1);
    // A rejected statement never runs; the queue shows each state.
    let rejected = held(&s.admin, &s.id, "truncate counter").await;
    s.owner.post(&s.path(&format!("/approvals/{rejected}/reject")), json!({})).await.expect(200);
    approve(&s.owner, &s, &rejected).await.expect_error(409, "CONFLICT");
    let queue = s.admin.get(&s.path("/approvals")).await;
    let states: Vec<(String, String)> = queue
        .data()
        .as_array()
        .expect("approvals")
        .iter()
        .map(|a| (a["id"].as_str().unwrap_or("").to_owned(), a["state"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert!(states.contains(&(rejected.clone(), "rejected".into())), "{states:?}");
    assert!(states.contains(&(drop.clone(), "executed".into())), "{states:?}");
    // Held statements are in the audit once they run, as `approval`.
    let runs = s.owner.get(&s.path("/queries?source=approval")).await;
    assert_eq!(runs.data().as_array().map(Vec::len), Some(2), "{}", runs.body);
    let activity =
        s.owner.wait_activity(&s.path("/activity"), |e| integration_tests::has_action(e, "sql.approval.run")).await;
    assert!(integration_tests::has_action(activity.data().as_array().expect("entries"), "sql.approval.request"));
}

#[tokio::test]
async fn a_sole_owner_approves_their_own_statement_only_when_confirming() {
    let owner = Api::new_user().await;
    let created = owner.create_running(&unique_name("sqlsole")).await;
    let id = created["id"].as_str().expect("id").to_owned();
    ok(&owner, &id, "create table t (a int)").await;
    owner
        .put(&format!("/databases/{id}/approval-settings"), json!({ "enabled": true, "kinds": ["drop"] }))
        .await
        .expect(200);
    // Only the configured kinds (and what cannot be classified) are held.
    ok(&owner, &id, "truncate t").await;
    let drop = held(&owner, &id, "drop table t").await;
    let path = format!("/databases/{id}/approvals/{drop}/approve");
    owner.post(&path, json!({})).await.expect_error(403, "FORBIDDEN");
    let done = owner.post(&path, json!({ "confirm": true })).await;
    done.expect(200);
    assert_eq!(done.data()["state"], "executed");
}
