//! Selected API keys with `ro` access (API.md: an `ro` key gets only the read rows of its
//! maker's role): they read a database and its credentials and run read-only SQL, and
//! everything else is 403, whatever the role of the user who made them; `rw` (the default,
//! and every `database_ids` key) keeps that role.

use integration_tests::{unique_name, Api};
use serde_json::{json, Value};

fn key_entry(list: &Value, id: &str) -> Value {
    list["data"].as_array().expect("array").iter().find(|k| k["id"] == id).cloned().expect("listed")
}

#[tokio::test]
async fn an_ro_key_reads_but_never_manages_or_writes() {
    let owner = Api::new_user().await;
    let db = owner.create_running(&unique_name("ro-key")).await;
    let id = db["id"].as_str().expect("id").to_owned();
    let path = |rest: &str| format!("/databases/{id}{rest}");
    let sql = |q: &str| json!({ "query": q });
    let r = owner
        .post(
            &path("/sql"),
            sql("create table notes (id serial primary key, body text);
                 insert into notes (body) values ('kept');
                 create function scribble() returns int language plpgsql volatile as
                   $$ begin insert into notes (body) values ('written'); return 1; end $$"),
        )
        .await;
    r.expect(200);

    let (key_id, key) = owner
        .create_key(json!({ "label": "ro", "scope": "selected", "databases": [{ "id": id, "access": "ro" }] }))
        .await;
    let listed = key_entry(&owner.get("/api-keys").await.body, &key_id);
    assert_eq!(listed["database_ids"], json!([id]), "{listed}");
    assert_eq!(listed["databases"], json!([{ "id": id, "access": "ro" }]), "{listed}");
    let ro = Api::new(Some(&key));

    // The read rows: detail (as a developer), the list, credentials, backups, SQL reads.
    let detail = ro.get(&path("")).await;
    detail.expect(200);
    assert_eq!(detail.data()["role"], "developer", "{}", detail.body);
    let list = ro.get("/databases").await;
    list.expect(200);
    assert_eq!(list.body["data"][0]["role"], "developer", "{}", list.body);
    ro.get(&path("/credentials")).await.expect(200);
    ro.get(&path("/backups")).await.expect(200);
    let one = ro.post(&path("/sql"), sql("select 1")).await;
    one.expect(200);
    let read = ro.post(&path("/sql"), sql("select body, current_user from notes")).await;
    read.expect(200);
    assert_eq!(read.data()["rows"][0][0], "kept");
    assert!(read.data()["rows"][0][1].as_str().unwrap_or("").ends_with(".sql_explorer"), "{}", read.body);

    // Nothing else: lifecycle, delete, users, allowlist, approvals, collaborators, data-API keys.
    for (method, p, body) in [
        ("POST", path("/stop"), json!({})),
        ("POST", path("/restart"), json!({})),
        ("DELETE", path(""), Value::Null),
        ("POST", path("/users"), json!({ "username": "reporting" })),
        ("POST", path("/reset-password"), json!({})),
        ("GET", path("/allowlist"), Value::Null),
        ("POST", path("/allowlist"), json!({ "cidr": "10.0.0.0/8" })),
        ("PUT", path("/approval-settings"), json!({ "enabled": false })),
        ("POST", path("/publishable-keys"), json!({})),
        ("POST", path("/collaborators"), json!({ "email": "x@example.com", "role": "viewer" })),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = ro.send(m, &p, (!body.is_null()).then(|| body.to_string().into())).await;
        assert_eq!((r.status, r.code()), (403, "FORBIDDEN"), "{method} {p}: {}", r.body);
    }
    assert_eq!(owner.get(&path("")).await.data()["state"], "running");

    // Whatever the text says (and even when asked not to be), SQL runs read-only.
    let username = detail.data()["username"].as_str().expect("username").to_owned();
    let set_role = format!("set role \"{username}\"");
    let set_role_and_write = format!("set role \"{username}\"; insert into notes (body) values ('x')");
    for attempt in [
        "create table t2 (a int)",
        "insert into notes (body) values ('x')",
        "update notes set body = 'x'",
        "select scribble()",
        "do $$ begin insert into notes (body) values ('x'); end $$",
        set_role.as_str(),
        set_role_and_write.as_str(),
        "begin read write",
        "set transaction read write",
        "commit; insert into notes (body) values ('x')",
    ] {
        let r = ro.post(&path("/sql"), sql(attempt)).await;
        assert!(r.status == 422 || r.status == 403, "{attempt}: {} {}", r.status, r.body);
    }
    let r =
        ro.post(&path("/sql"), json!({ "query": "insert into notes (body) values ('x')", "read_only": false })).await;
    assert!(r.status == 422 || r.status == 403, "read_only false: {} {}", r.status, r.body);
    let r = owner.post(&path("/sql"), sql("select count(*), min(body) from notes")).await;
    r.expect(200);
    assert_eq!(r.data()["rows"][0], json!(["1", "kept"]), "nothing was written: {}", r.body);
    let r = owner.post(&path("/sql"), sql("select count(*) from pg_tables where tablename = 't2'")).await;
    assert_eq!(r.data()["rows"][0][0], "0", "{}", r.body);
}

#[tokio::test]
async fn an_rw_grant_keeps_the_role_and_database_ids_mean_rw() {
    let owner = Api::new_user().await;
    let a = owner.create_running(&unique_name("rw-key")).await;
    let b = owner.create_running(&unique_name("rw-key-b")).await;
    let (a, b) = (a["id"].as_str().expect("id").to_owned(), b["id"].as_str().expect("id").to_owned());
    let (rw_id, rw) = owner
        .create_key(json!({ "label": "rw", "scope": "selected",
                            "databases": [{ "id": a, "access": "rw" }, { "id": b, "access": "ro" }] }))
        .await;
    let (old_id, _) = owner.create_key(json!({ "label": "old", "scope": "selected", "database_ids": [a] })).await;
    let (all_id, _) = owner.create_key(json!({ "label": "all" })).await;
    let list = owner.get("/api-keys").await;
    let listed = key_entry(&list.body, &rw_id);
    assert_eq!(listed["database_ids"], json!([a, b]), "{listed}");
    assert_eq!(listed["databases"], json!([{ "id": a, "access": "rw" }, { "id": b, "access": "ro" }]), "{listed}");
    let old = key_entry(&list.body, &old_id);
    assert_eq!(old["databases"], json!([{ "id": a, "access": "rw" }]), "{old}");
    let all = key_entry(&list.body, &all_id);
    assert_eq!((&all["database_ids"], &all["databases"]), (&json!([]), &json!([])), "{all}");

    let k = Api::new(Some(&rw));
    assert_eq!(k.get(&format!("/databases/{a}")).await.data()["role"], "owner");
    assert_eq!(k.get(&format!("/databases/{b}")).await.data()["role"], "developer");
    let r = k.post(&format!("/databases/{a}/sql"), json!({ "query": "create table written (a int)" })).await;
    r.expect(200);
    k.post(&format!("/databases/{a}/users"), json!({ "username": "reporting" })).await.expect(201);
    k.post(&format!("/databases/{b}/users"), json!({ "username": "reporting" })).await.expect_error(403, "FORBIDDEN");
    let r = k.post(&format!("/databases/{b}/sql"), json!({ "query": "create table written (a int)" })).await;
    assert!(r.status == 422 || r.status == 403, "{} {}", r.status, r.body);
}

#[tokio::test]
async fn an_ro_key_of_a_collaborator_gets_no_more_than_developer_and_viewer_stays_viewer() {
    let owner = Api::new_user().await;
    let db = owner.create_running(&unique_name("ro-collab")).await;
    let id = db["id"].as_str().expect("id").to_owned();
    let viewer = Api::new_user().await;
    let email = viewer.email().await;
    owner
        .post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": "viewer" }))
        .await
        .expect(201);
    let (_, key) = viewer
        .create_key(json!({ "label": "ro", "scope": "selected", "databases": [{ "id": id, "access": "ro" }] }))
        .await;
    let k = Api::new(Some(&key));
    assert_eq!(k.get(&format!("/databases/{id}")).await.data()["role"], "viewer");
    k.get(&format!("/databases/{id}/credentials")).await.expect_error(403, "FORBIDDEN");
    k.post(&format!("/databases/{id}/sql"), json!({ "query": "select 1" })).await.expect_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn databases_are_validated() {
    let owner = Api::new_user().await;
    let db = owner.create_running(&unique_name("ro-valid")).await;
    let id = db["id"].as_str().expect("id").to_owned();
    let bad = |body: Value| {
        let owner = owner.clone();
        async move {
            let r = owner.post("/api-keys", body.clone()).await;
            assert_eq!((r.status, r.code()), (400, "INVALID_REQUEST"), "{body}: {}", r.body);
        }
    };
    // Both spellings at once.
    bad(
        json!({ "label": "x", "scope": "selected", "database_ids": [id], "databases": [{ "id": id, "access": "ro" }] }),
    )
    .await;
    // Unknown or missing access, unknown fields.
    bad(json!({ "label": "x", "scope": "selected", "databases": [{ "id": id, "access": "admin" }] })).await;
    bad(json!({ "label": "x", "scope": "selected", "databases": [{ "id": id, "access": "RO" }] })).await;
    bad(json!({ "label": "x", "scope": "selected", "databases": [{ "id": id }] })).await;
    bad(json!({ "label": "x", "scope": "selected", "databases": [{ "id": id, "access": "ro", "role": "owner" }] }))
        .await;
    // Only with scope `selected`, and not empty.
    bad(json!({ "label": "x", "databases": [{ "id": id, "access": "ro" }] })).await;
    bad(json!({ "label": "x", "scope": "all", "databases": [{ "id": id, "access": "ro" }] })).await;
    bad(json!({ "label": "x", "scope": "selected", "databases": [] })).await;
    // One database both ro and rw.
    bad(json!({ "label": "x", "scope": "selected",
                "databases": [{ "id": id, "access": "ro" }, { "id": id, "access": "rw" }] }))
    .await;
    // The same database twice with the same access counts once.
    let (key_id, _) = owner
        .create_key(json!({ "label": "twice", "scope": "selected",
                            "databases": [{ "id": id, "access": "ro" }, { "id": id, "access": "ro" }] }))
        .await;
    let listed = key_entry(&owner.get("/api-keys").await.body, &key_id);
    assert_eq!(listed["databases"], json!([{ "id": id, "access": "ro" }]), "{listed}");
    // Foreign or unknown databases cannot be granted, ro or not.
    let foreign = Api::new_user().await.create_running(&unique_name("ro-foreign")).await;
    let r = owner
        .post(
            "/api-keys",
            json!({ "label": "x", "scope": "selected",
                                   "databases": [{ "id": foreign["id"], "access": "ro" }] }),
        )
        .await;
    r.expect_error(404, "DATABASE_NOT_FOUND");
}
