//! Storage quotas on running databases: an account over its quota has its databases
//! locked (PgBouncer and PostgreSQL refuse their clients, which nothing in SQL can undo),
//! the API shows why, and the lock lifts by itself once the account is back under.

use std::time::Duration;

use domain::Plan;
use integration_tests::{app, connect, eventually, login_error, tcp_dsn, unique_name, wait_login, Api};
use serde_json::{json, Value};

const MB: i64 = 1024 * 1024;
/// The free plan's storage quota on the test platform (`fixtures::free_quotas`).
const QUOTA: i64 = 24 * MB;
const DEADLINE: Duration = Duration::from_secs(45);

async fn database(api: &Api, id: &str) -> Value {
    let r = api.get(&format!("/databases/{id}")).await;
    r.expect(200);
    r.data().clone()
}

async fn wait_locked(api: &Api, id: &str, locked: bool) -> Value {
    let want = if locked { "locked" } else { "running" };
    eventually(&format!("database {id} {want}"), DEADLINE, || async {
        let db = database(api, id).await;
        (db["state"] == want).then_some(db)
    })
    .await
}

/// Inserts about 1 MB of incompressible rows into `filler` per call.
async fn add_megabyte(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(
            "insert into filler select decode(string_agg(md5(random()::text || g || i), ''), 'hex')
             from generate_series(1, 512) g, generate_series(1, 32) i group by g",
        )
        .await
}

async fn own_size(client: &tokio_postgres::Client) -> Result<i64, tokio_postgres::Error> {
    Ok(client.query_one("select pg_database_size(current_database())", &[]).await?.get(0))
}

/// Fills the database behind `client` until the account (whose other databases use
/// `others` bytes) is `margin` over the quota, or until the lock ends the session.
async fn fill_past_quota(client: &tokio_postgres::Client, others: i64, margin: i64) {
    for _ in 0..200 {
        match own_size(client).await {
            Ok(size) if size + others > QUOTA + margin => return,
            Ok(_) => {}
            Err(_) => return, // the lock came first and ended the session
        }
        if add_megabyte(client).await.is_err() {
            return;
        }
    }
    panic!("the database never grew past the quota");
}

/// The session is ended by the lock, and nothing it could run changes that.
async fn wait_session_ended(client: &tokio_postgres::Client) {
    eventually("the filling session to be ended", DEADLINE, || async {
        client.simple_query("select 1").await.is_err().then_some(())
    })
    .await;
    assert!(client.simple_query("set default_transaction_read_only = off").await.is_err());
    assert!(add_megabyte(client).await.is_err(), "the ended session cannot write");
}

#[tokio::test]
async fn an_account_over_its_storage_quota_is_locked_until_it_is_back_under() {
    let (api, user) = Api::new_user_on(Plan::Free).await;
    let a = api.create_running(&unique_name("quota-a")).await;
    let b = api.create_running(&unique_name("quota-b")).await;
    let (a_id, url) = (a["id"].as_str().expect("id"), a["connection_string"].as_str().expect("url"));
    let b_id = b["id"].as_str().expect("id");
    // B is stopped: a stopped database is locked too, so it cannot be started meanwhile.
    assert_eq!(api.lifecycle(b_id, "stop").await["state"], "stopped");
    let (name, password) = (a["name"].as_str().expect("name"), a["password"].as_str().expect("password"));
    assert!(database(&api, a_id).await["locked_reason"].is_null());
    let doc = Api::new(None).get("/api/v1/openapi.json").await;
    let view = &doc.body["components"]["schemas"]["DatabaseView"]["properties"];
    assert!(view["locked_reason"].is_object(), "the OpenAPI document describes locked_reason: {view}");

    // Fill A through PgBouncer until A and B together are just over the quota, but A alone
    // is well under it: deleting B brings the account back under.
    let session = connect(url).await.expect("connects through PgBouncer");
    session.batch_execute("create table filler (pad bytea)").await.expect("creates the table");
    let empty = own_size(&session).await.expect("size");
    fill_past_quota(&session, empty, MB).await;

    let locked = wait_locked(&api, a_id, true).await;
    assert_eq!(locked["locked_reason"], "storage_quota", "{locked}");
    let other = eventually("the stopped database locked", DEADLINE, || async {
        let db = database(&api, b_id).await;
        (db["locked_reason"] == "storage_quota").then_some(db)
    })
    .await;
    assert_eq!(other["state"], "stopped", "{other}");
    let r = api.post(&format!("/databases/{b_id}/start"), json!({})).await;
    r.expect_error(409, "CONFLICT");
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("storage quota")), "{}", r.body);
    let listed = api.get("/databases").await;
    let entry = listed.data().as_array().and_then(|d| d.iter().find(|d| d["id"] == a_id).cloned());
    assert_eq!(entry.expect("listed")["state"], "locked", "{}", listed.body);

    // The session that was filling it is gone; new logins are refused through PgBouncer, the
    // only way in for a tenant role (PostgreSQL itself refuses them over TCP).
    wait_session_ended(&session).await;
    let refused = login_error(url).await;
    assert!(refused.contains("is disabled"), "PgBouncer refuses the login: {refused}");
    let refused = login_error(&tcp_dsn(name, password, name)).await;
    assert!(refused.contains("pg_hba.conf rejects connection"), "{refused}");

    // Stop, start and restart are refused with the reason; backups and credentials work.
    for action in ["stop", "restart", "start"] {
        let r = api.post(&format!("/databases/{a_id}/{action}"), json!({})).await;
        r.expect_error(409, "CONFLICT");
        if action != "start" {
            assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("storage quota")), "{}", r.body);
        }
    }
    let creds = api.get(&format!("/databases/{a_id}/credentials")).await;
    creds.expect(200);
    let backup = api.post(&format!("/databases/{a_id}/backups"), json!({})).await;
    backup.expect(202);
    let backup_id = backup.data()["id"].as_str().expect("backup id").to_owned();
    let done = eventually("the locked database's backup", Duration::from_secs(60), || async {
        let r = api.get(&format!("/databases/{a_id}/backups/{backup_id}")).await;
        let state = r.data()["state"].as_str().unwrap_or("").to_owned();
        assert_ne!(state, "failed", "{}", r.body);
        (state == "succeeded").then(|| r.data().clone())
    })
    .await;
    assert!(done["size_bytes"].as_i64().is_some_and(|s| s > 0), "{done}");
    api.wait_activity(&format!("/databases/{a_id}/activity?action=database.lock"), |e| !e.is_empty()).await;

    // The user deletes B: the account is under its quota, and A opens by itself.
    let r = api.delete(&format!("/databases/{b_id}")).await;
    assert!(r.status == 200 || r.status == 202, "{} {}", r.status, r.body);
    api.wait_state(b_id, "deleted").await;
    let open = wait_locked(&api, a_id, false).await;
    assert!(open["locked_reason"].is_null(), "{open}");
    let again = wait_login(url).await;
    let rows: i64 = again.query_one("select count(*) from filler", &[]).await.expect("reads").get(0);
    assert!(rows > 0, "the data is intact");
    api.wait_activity(&format!("/databases/{a_id}/activity?action=database.unlock"), |e| !e.is_empty()).await;

    // Over again; then the admin moves the account to a larger plan, and it opens again.
    fill_past_quota(&again, 0, MB).await;
    wait_locked(&api, a_id, true).await;
    wait_session_ended(&again).await;
    let admin = Api::new(Some(&app().admin_key));
    admin.patch(&format!("/admin/accounts/{}", user.account_id), json!({ "plan": "pro" })).await.expect(200);
    wait_locked(&api, a_id, false).await;
    let client = wait_login(url).await;
    add_megabyte(&client).await.expect("writes again");
}
