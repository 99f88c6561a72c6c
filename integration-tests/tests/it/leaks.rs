//! What the API must not let out: another database's activity to a selected-databases key,
//! statement text to viewers, host internals in failure messages, invented labels into
//! `/metrics`, and control characters into the store.

use std::time::Duration;

use integration_tests::{app, eventually, has_action, host_superuser, unique_name, Api};
use serde_json::{json, Value};

fn admin() -> Api {
    Api::new(Some(&app().admin_key))
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_selected_key_reads_only_its_own_databases_activity() {
    let owner = Api::new_user().await;
    let (seen, hidden) = (unique_name("seen"), unique_name("hidden"));
    let a = id_of(&owner.create_running(&seen).await);
    let b = id_of(&owner.create_running(&hidden).await);
    let friend = Api::new_user().await;
    let friend_email = friend.email().await;
    owner
        .post(&format!("/databases/{b}/collaborators"), json!({ "email": friend_email, "role": "viewer" }))
        .await
        .expect(201);
    let rule = owner
        .post(&format!("/databases/{b}/allowlist"), json!({ "cidr": "198.51.100.0/24", "label": "hidden-office" }))
        .await;
    assert!(rule.status == 201 || rule.status == 202, "{}", rule.body);
    owner.create_key(json!({ "label": "account-wide-ci" })).await;
    let (_, key) =
        owner.create_key(json!({ "label": "scoped-key", "scope": "selected", "database_ids": [a.clone()] })).await;
    let rule = owner.post(&format!("/databases/{a}/allowlist"), json!({ "cidr": "203.0.113.7/32" })).await;
    assert!(rule.status == 201 || rule.status == 202, "{}", rule.body);
    // Everything is listed for the full account first.
    owner
        .wait_activity("/activity?limit=200", |e| {
            e.iter().filter(|x| x["action"] == "allowlist.add").count() == 2
                && has_action(e, "database.share")
                && e.iter().filter(|x| x["action"] == "api_key.create").count() >= 2
        })
        .await;

    let scoped = Api::new(Some(&key));
    let r = scoped.get("/activity?limit=200").await;
    r.expect(200);
    let text = r.body.to_string();
    for secret in
        [b.as_str(), hidden.as_str(), friend_email.as_str(), "198.51.100.0/24", "hidden-office", "account-wide-ci"]
    {
        assert!(!text.contains(secret), "a key limited to {seen} reads {secret:?} in {text}");
    }
    let entries = r.body["data"].as_array().expect("entries");
    assert!(has_action(entries, "allowlist.add") && has_action(entries, "database.create"), "{text}");
    assert!(!has_action(entries, "api_key.create"), "account-level entries are not about its database: {text}");
    // The same through the filters.
    let r = scoped.get("/activity?action=api_key.create").await;
    r.expect(200);
    assert_eq!(r.body["data"], json!([]), "{}", r.body);
    scoped.get(&format!("/activity?database_id={b}")).await.expect_error(404, "DATABASE_NOT_FOUND");
}

#[tokio::test]
async fn viewers_get_the_numbers_but_not_the_statement_text() {
    let owner = Api::new_user().await;
    let created = owner.create_running(&unique_name("stmts")).await;
    let id = id_of(&created);
    let url = created["connection_string"].as_str().expect("url");
    let tenant = integration_tests::wait_login(url).await;
    // Constants are normalised away by pg_stat_statements; identifiers are not.
    tenant.batch_execute("create table owner_private_ledger (id int)").await.expect("table");
    for _ in 0..3 {
        tenant.simple_query("select count(*) from owner_private_ledger").await.expect("query");
    }
    let (viewer, developer) = (Api::new_user().await, Api::new_user().await);
    for (who, role) in [(&viewer, "viewer"), (&developer, "developer")] {
        let email = who.email().await;
        owner
            .post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": role }))
            .await
            .expect(201);
    }
    let path = format!("/databases/{id}/metrics");
    // The owner's statements are recorded (pg_stat_statements on the local hosts).
    eventually("the statement among the owner's top statements", Duration::from_secs(20), || async {
        let m = owner.get(&path).await;
        m.body.to_string().contains("owner_private_ledger").then_some(())
    })
    .await;
    let dev = developer.get(&path).await;
    dev.expect(200);
    assert!(dev.data()["top_statements"].is_array(), "developers keep statement text: {}", dev.body);

    let seen = viewer.get(&path).await;
    seen.expect(200);
    assert!(seen.data()["top_statements"].is_null(), "{}", seen.body);
    assert!(seen.data()["transactions_committed"].as_i64().is_some(), "viewers keep the numbers: {}", seen.body);
    assert!(!seen.body.to_string().contains("owner_private_ledger"), "{}", seen.body);
}

/// Words that would tell a user about the host: its address, the superuser, the tools.
fn internals() -> Vec<String> {
    let pg = &app().platform.host.pg;
    vec![
        pg.host().to_owned(),
        format!(":{}", pg.port()),
        format!("port {}", pg.port()),
        format!("\"{}\"", pg.superuser()),
        format!("user {}", pg.superuser()),
        "pg_dump".into(),
        "psql".into(),
        "object store".into(),
        "tenant host".into(),
        "on the host".into(),
        app().platform.dir.display().to_string(),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for word in internals() {
        assert!(!text.contains(&word), "{what} shows the host's {word:?} to its user: {text}");
    }
}

/// The open incident of `kind` about database `db`, once it is there.
async fn incident(kind: &str, db: &str) -> Value {
    eventually(&format!("a {kind} incident"), Duration::from_secs(30), || async {
        let r = admin().get(&format!("/admin/incidents?kind={kind}&resource={db}")).await;
        r.expect(200);
        r.body["data"].as_array().and_then(|a| a.first().cloned())
    })
    .await
}

#[tokio::test]
async fn a_failed_backup_tells_its_user_a_stable_message_and_operators_the_cause() {
    let api = Api::new_user().await;
    let name = unique_name("bkfail");
    let db = id_of(&api.create_running(&name).await);
    // Where this database's backup objects go is taken by a file: every write there fails
    // with the store's own error, which names the server's paths.
    let hostctl::objects::ObjectStoreConfig::Fs { root } = &app().backups else { panic!("the tests use an fs store") };
    std::fs::create_dir_all(root).expect("backups root");
    std::fs::write(root.join(&name), b"in the way").expect("a file where the directory would go");

    let r = api.post(&format!("/databases/{db}/backups"), json!({})).await;
    r.expect(202);
    let backup = id_of(r.data());
    let op = r.data()["operation_id"].as_str().expect("operation").to_owned();
    let failed = eventually("the backup to fail", Duration::from_secs(60), || async {
        let b = api.get(&format!("/databases/{db}/backups/{backup}")).await;
        (b.data()["state"] == "failed").then(|| b.data().clone())
    })
    .await;
    let shown = failed["error"].as_str().expect("an error for the user");
    assert_eq!(shown, "the backup could not be taken; the platform operators have been notified");
    assert_clean("the backup", &failed.to_string());
    let operation = api.wait_operation(&op).await;
    assert_eq!(operation["state"], "failed");
    assert_clean("the backup's operation", &operation.to_string());
    let activity = api.get(&format!("/databases/{db}/activity?limit=200")).await;
    assert_clean("the activity", &activity.body.to_string());

    // Operators get the cause, in the incident and in the logs.
    let inc = incident("backup_failed", &db).await;
    let summary = inc["summary"].as_str().expect("summary");
    assert!(summary.contains("object store") && summary.contains(&name), "the incident has the cause: {inc}");
    assert!(integration_tests::fixtures::captured_logs().contains("backup failed for good"));
    std::fs::remove_file(root.join(&name)).expect("cleanup");
}

#[tokio::test]
async fn a_failed_provisioning_tells_its_user_a_stable_message_and_operators_the_cause() {
    let api = Api::new_user().await;
    let name = unique_name("provfail");
    // Someone else's database of that name is already on the host.
    let su = host_superuser().await;
    su.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.expect("a database in the way");
    let r = api.create_database(&name).await;
    assert!(r.status == 201 || r.status == 202, "{}", r.body);
    let db = id_of(r.data());
    let op = r.data()["operation_id"].as_str().expect("operation").to_owned();
    let operation = api.wait_operation(&op).await;
    assert_eq!(operation["state"], "failed", "{operation}");
    assert_eq!(operation["error"], "the database could not be created; the platform operators have been notified");
    assert_clean("the operation", &operation.to_string());
    let inc = incident("provisioning_failed", &db).await;
    assert!(inc["summary"].as_str().is_some_and(|s| s.contains("not ours")), "the incident has the cause: {inc}");
    su.batch_execute(&format!("DROP DATABASE \"{name}\"")).await.expect("cleanup");
}

#[tokio::test]
async fn invented_methods_and_paths_add_no_metrics_series() {
    let api = Api::new(None);
    let send_invented = |batch: &'static str| {
        let api = api.clone();
        async move {
            for i in 0..50 {
                let method = reqwest::Method::from_bytes(format!("BREW{batch}{i}").as_bytes()).expect("a method");
                api.send(method, "/api/v1/databases", None).await;
                api.send(reqwest::Method::GET, &format!("/api/v1/nowhere-{batch}-{i}/x"), None).await;
                api.send(reqwest::Method::GET, &format!("/elsewhere-{batch}-{i}"), None).await;
            }
        }
    };
    let others = |text: &str| text.lines().filter(|l| l.contains("method=\"other\"")).count();
    send_invented("A").await;
    let first = api.get_text("/metrics").await;
    send_invented("B").await;
    let second = api.get_text("/metrics").await;
    for text in [&first, &second] {
        for invented in ["BREW", "nowhere-", "elsewhere-"] {
            assert!(!text.contains(invented), "an invented {invented}… reached a label:\n{text}");
        }
    }
    assert!(others(&first) > 0, "invented methods are counted as `other`");
    assert_eq!(others(&first), others(&second), "50 more invented methods added series");
}

#[tokio::test]
async fn control_characters_in_text_and_filters_are_invalid_requests() {
    let api = Api::new_user().await;
    let db = id_of(&api.create_running(&unique_name("nul")).await);
    for (path, body) in [
        ("/api-keys".to_owned(), json!({ "label": "a\u{0}b" })),
        ("/api-keys".to_owned(), json!({ "label": "line\nbreak" })),
        (format!("/databases/{db}/collaborators"), json!({ "email": "x\u{0}@berth.test", "role": "viewer" })),
        (format!("/databases/{db}/backups"), json!({ "label": "bell\u{7}" })),
        (format!("/databases/{db}/allowlist"), json!({ "cidr": "192.0.2.1/32", "label": "del\u{7f}" })),
        ("/databases".to_owned(), json!({ "name": "x\u{0}" })),
    ] {
        let r = api.post(&path, body.clone()).await;
        assert_eq!((r.status, r.code()), (400, "INVALID_REQUEST"), "POST {path} {body}: {}", r.body);
    }
    for path in [
        "/activity?action=database.create%00",
        "/activity?action=%0A",
        &format!("/databases/{db}/activity?action=a%00"),
    ] {
        api.get(path).await.expect_error(400, "INVALID_REQUEST");
    }
    for path in ["/admin/incidents?kind=x%00", "/admin/incidents?resource=db_%00", "/admin/incidents?state=open%7F"] {
        admin().get(path).await.expect_error(400, "INVALID_REQUEST");
    }
    // Ordinary text still passes, accents and emoji included.
    let r = api.post(&format!("/databases/{db}/backups"), json!({ "label": "nächtlich ✓ 🚀" })).await;
    r.expect(202);
}
