//! `GET/POST /databases/{id}/migrations`: applied once by name and checksum, all or nothing,
//! recorded in the tenant's own `berth.schema_migrations` and in the activity log.

use integration_tests::{unique_name, wait_login, Api};
use serde_json::{json, Value};

fn sha(sql: &str) -> String {
    control::migrations::checksum_of(sql)
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.expect("a count").get(0)
}

#[tokio::test]
async fn a_migration_applies_once_by_name_and_checksum_and_a_failing_one_applies_nothing() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("migr")).await;
    let id = d["id"].as_str().expect("id");
    let path = format!("/databases/{id}/migrations");
    let none = api.get(&path).await;
    none.expect(200);
    assert_eq!(none.body["data"], json!([]), "no migrations before the first");

    let sql = "create table accounts (id int primary key);\n\tinsert into accounts values (1);";
    let r = api.post(&path, json!({"name": "0001_accounts", "sql": sql, "checksum": sha(sql)})).await;
    r.expect(201);
    assert_eq!(r.data(), &json!({"status": "applied", "name": "0001_accounts", "checksum": sha(sql)}));
    let db = wait_login(d["connection_string"].as_str().expect("url")).await;
    assert_eq!(count(&db, "select count(*) from accounts").await, 1);

    // Again (with or without the checksum): nothing runs.
    let again = api.post(&path, json!({"name": "0001_accounts", "sql": sql})).await;
    again.expect(200);
    assert_eq!(again.data()["status"], "already_applied");
    assert_eq!(count(&db, "select count(*) from accounts").await, 1, "the insert did not run twice");
    let other = "create table other (a int);";
    api.post(&path, json!({"name": "0001_accounts", "sql": other})).await.expect_error(409, "CONFLICT");
    api.post(&path, json!({"name": "0002", "sql": other, "checksum": sha(sql)}))
        .await
        .expect_error(422, "UNPROCESSABLE");
    api.post(&path, json!({"name": "", "sql": other})).await.expect_error(400, "INVALID_REQUEST");
    api.post(&path, json!({"name": "x".repeat(201), "sql": other})).await.expect_error(400, "INVALID_REQUEST");

    // The second statement fails: the first one's table does not exist, nothing is recorded.
    let failing = "create table half (a int);\nselect 1/0;";
    let r = api.post(&path, json!({"name": "0002_half", "sql": failing})).await;
    r.expect_error(422, "UNPROCESSABLE");
    let message = r.body["error"]["message"].as_str().expect("message");
    assert!(message.contains("division by zero") && message.contains("22012"), "{message}");
    assert!(!message.contains("schema_migrations"), "never our own SQL: {message}");
    let half: Option<String> = db.query_one("select to_regclass('half')::text", &[]).await.expect("regclass").get(0);
    assert_eq!(half, None, "the failing migration left nothing");

    // Transaction control in the text would end our transaction early: refused.
    let committing = "create table early (a int); commit;";
    api.post(&path, json!({"name": "0003_commit", "sql": committing})).await.expect_error(422, "UNPROCESSABLE");

    let listed = api.get(&path).await;
    listed.expect(200);
    let rows = listed.body["data"].as_array().expect("array");
    assert_eq!(rows.len(), 1, "{}", listed.body);
    assert_eq!((rows[0]["name"].as_str(), rows[0]["checksum"].as_str()), (Some("0001_accounts"), Some(&*sha(sql))));
    assert_eq!(rows[0]["sql_preview"], sql);
    assert!(rows[0]["applied_by"].as_str().is_some_and(|u| u.starts_with("usr_")), "{}", rows[0]);
    assert!(rows[0]["applied_at"].is_string());
    // The per-query audit has each migration that ran (applied, or failed and rolled back),
    // none for the ones that did not run.
    let audit = api.get(&format!("/databases/{id}/queries?source=migration")).await;
    let runs = audit.body["data"].as_array().expect("array");
    let errors: Vec<&str> = runs.iter().filter_map(|q| q["error"].as_str()).collect();
    assert_eq!(runs.len(), 3, "{}", audit.body);
    assert!(errors.iter().any(|e| e.contains("22012")), "{errors:?}");
    assert!(runs.iter().any(|q| q["command"] == "MIGRATION" && q["error"].is_null()), "{}", audit.body);
    // The tenant reads the table as its own role.
    assert_eq!(count(&db, "select count(*) from berth.schema_migrations").await, 1);

    let activity =
        api.wait_activity(&format!("/activity?action=migration.apply&database_id={id}"), |e| !e.is_empty()).await;
    let entries = activity.body["data"].as_array().expect("array");
    assert_eq!(entries.len(), 1, "{}", activity.body);
    assert_eq!(entries[0]["details"], json!({"name": "0001_accounts", "checksum": sha(sql)}));
    assert!(!activity.body.to_string().contains("insert into"), "no SQL in the activity log");
}

#[tokio::test]
async fn concurrent_posts_of_one_migration_apply_it_once() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("migr-race")).await;
    let id = d["id"].as_str().expect("id");
    let path = format!("/databases/{id}/migrations");
    api.post(&path, json!({"name": "0001_hits", "sql": "create table hits (n int)"})).await.expect(201);

    let sql = "insert into hits values (1); select pg_sleep(0.3);";
    let body = json!({"name": "0002_hit", "sql": sql});
    let answers = futures::future::join_all((0..4).map(|_| api.post(&path, body.clone()))).await;
    let statuses: Vec<(u16, Value)> = answers.iter().map(|r| (r.status, r.data()["status"].clone())).collect();
    let applied = statuses.iter().filter(|(s, v)| *s == 201 && v == "applied").count();
    let already = statuses.iter().filter(|(s, v)| *s == 200 && v == "already_applied").count();
    assert_eq!((applied, already), (1, 3), "{statuses:?}");
    let db = wait_login(d["connection_string"].as_str().expect("url")).await;
    assert_eq!(count(&db, "select count(*) from hits").await, 1, "the side effect happened once");
}

#[tokio::test]
async fn migrations_are_for_owners_and_admins_of_a_running_database() {
    let owner = Api::new_user().await;
    let d = owner.create_running(&unique_name("migr-perm")).await;
    let id = d["id"].as_str().expect("id");
    let path = format!("/databases/{id}/migrations");
    let body = json!({"name": "0001", "sql": "create table t (a int)"});
    for (role, can_list) in [("viewer", false), ("developer", true), ("admin", true)] {
        let friend = Api::new_user().await;
        let email = friend.email().await;
        owner.post(&format!("/databases/{id}/collaborators"), json!({"email": email, "role": role})).await.expect(201);
        if role == "admin" {
            friend.post(&path, body.clone()).await.expect(201);
        } else {
            friend.post(&path, body.clone()).await.expect_error(403, "FORBIDDEN");
        }
        if can_list {
            friend.get(&path).await.expect(200);
        } else {
            friend.get(&path).await.expect_error(403, "FORBIDDEN");
        }
    }
    owner.lifecycle(id, "stop").await;
    owner.post(&path, json!({"name": "0002", "sql": "select 1"})).await.expect_error(409, "CONFLICT");
    owner.get(&path).await.expect_error(409, "CONFLICT");
}
