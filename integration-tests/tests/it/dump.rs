//! `POST /databases/{id}/dump`: a plain pg_dump streamed as `application/sql`, as the
//! database's own role, schema only with `ddl_only`; owners and admins of a running database.

use integration_tests::{unique_name, wait_login, Api};
use serde_json::json;

/// (status, content type, body as text).
async fn dump(api: &Api, id: &str, body: Option<serde_json::Value>) -> (u16, String, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/databases/{id}/dump", api.base))
        .bearer_auth(api.key.as_deref().expect("a key"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the API answers");
    let status = resp.status().as_u16();
    let kind = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, kind, resp.text().await.expect("a body"))
}

#[tokio::test]
async fn a_dump_streams_schema_and_data_and_ddl_only_has_no_data() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("dump")).await;
    let id = d["id"].as_str().expect("id");
    let db = wait_login(d["connection_string"].as_str().expect("url")).await;
    db.batch_execute(
        "create table pets (id int primary key, name text); insert into pets values (1, 'rex'), (2, 'tom');",
    )
    .await
    .expect("a table with rows");

    let (status, kind, sql) = dump(&api, id, None).await;
    assert_eq!(status, 200, "{sql}");
    assert!(kind.starts_with("application/sql"), "{kind}");
    assert!(sql.contains("CREATE TABLE \"public\".\"pets\""), "{sql}");
    assert!(sql.contains("COPY \"public\".\"pets\"") && sql.contains("1\trex") && sql.contains("2\ttom"), "{sql}");
    assert!(sql.contains("\n-- PostgreSQL database dump complete\n"), "the dump is whole");

    let (status, _, ddl) = dump(&api, id, Some(json!({"ddl_only": true}))).await;
    assert_eq!(status, 200, "{ddl}");
    assert!(ddl.contains("CREATE TABLE \"public\".\"pets\""), "{ddl}");
    assert!(!ddl.contains("COPY ") && !ddl.contains("rex"), "no data in a schema-only dump: {ddl}");

    let activity =
        api.wait_activity(&format!("/activity?action=database.dump&database_id={id}"), |e| e.len() == 2).await;
    let entries = activity.body["data"].as_array().expect("array");
    assert_eq!(entries[0]["details"], json!({"ddl_only": true}), "newest first");
    assert_eq!(entries[1]["details"], json!({"ddl_only": false}));
    assert!(entries[0]["actor"]["user_id"].as_str().is_some_and(|u| u.starts_with("usr_")), "{}", entries[0]);
}

#[tokio::test]
async fn dumps_are_for_owners_and_admins_of_a_running_database() {
    let owner = Api::new_user().await;
    let d = owner.create_running(&unique_name("dump-perm")).await;
    let id = d["id"].as_str().expect("id");
    for role in ["viewer", "developer"] {
        let friend = Api::new_user().await;
        let email = friend.email().await;
        owner.post(&format!("/databases/{id}/collaborators"), json!({"email": email, "role": role})).await.expect(201);
        let r = friend.post(&format!("/databases/{id}/dump"), json!({})).await;
        r.expect_error(403, "FORBIDDEN");
    }
    owner.lifecycle(id, "stop").await;
    owner.post(&format!("/databases/{id}/dump"), json!({})).await.expect_error(409, "CONFLICT");
}

/// A tenant keeping a table locked holds a dump only until pg_dump's lock wait ends (an
/// error before the first byte is an error answer), and the dumps one API process streams at
/// once are bounded (the default 4; past it 429). On an API process of its own, so the other
/// tests' dumps do not share its slots.
#[tokio::test]
async fn a_locked_table_fails_a_dump_in_time_and_dump_slots_are_bounded() {
    let api = Api::new_user().await.at(&integration_tests::second_api().await);
    let d = api.create_running(&unique_name("dump-lock")).await;
    let id = d["id"].as_str().expect("id").to_owned();
    let mut db = wait_login(d["connection_string"].as_str().expect("url")).await;
    db.batch_execute("create table held (a int)").await.expect("a table");
    let tx = db.transaction().await.expect("a transaction");
    tx.batch_execute("lock table held in access exclusive mode").await.expect("the lock");

    let started = std::time::Instant::now();
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let (api, id) = (api.clone(), id.clone());
            tokio::spawn(async move { dump(&api, &id, None).await })
        })
        .collect();
    // Each of the four holds a slot while pg_dump waits for the lock (up to 10 s).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let busy = api.post(&format!("/databases/{id}/dump"), json!({})).await;
    busy.expect_error(429, "RATE_LIMITED");
    for w in waiting {
        let (status, _, body) = w.await.expect("the request ends");
        assert_eq!(status, 503, "pg_dump could not lock the table: {body}");
        assert!(body.contains("UNAVAILABLE"), "{body}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "bounded by the lock wait");
    tx.rollback().await.expect("the lock is released");
    let (status, _, sql) = dump(&api, &id, None).await;
    assert_eq!(status, 200, "the slots are free again: {sql}");
    assert!(sql.contains("CREATE TABLE \"public\".\"held\""));
}
