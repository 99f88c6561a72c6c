//! Plan quotas on creating databases: their number (exactly the limit, also under
//! concurrent creates) and the account's storage.

use std::time::Duration;

use domain::Plan;
use integration_tests::{eventually_every, unique_name, Api};

#[tokio::test]
async fn the_database_quota_allows_exactly_the_plan_limit() {
    let (api, _) = Api::new_user_on(Plan::Free).await;
    let limit = integration_tests::fixtures::free_quotas().databases;
    let mut ids = Vec::new();
    for i in 0..limit {
        let r = api.create_database(&unique_name(&format!("q{i}"))).await;
        assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
        ids.push(r.data()["id"].as_str().expect("id").to_owned());
    }
    api.create_database(&unique_name("one-over")).await.expect_error(403, "QUOTA_EXCEEDED");
    let me = api.get("/me").await;
    assert_eq!(me.data()["usage"]["databases"], limit);
    assert_eq!(me.data()["quotas"]["databases"], limit);
    // Deleting one frees its slot.
    api.wait_state(&ids[0], "running").await;
    let del = api.delete(&format!("/databases/{}", ids[0])).await;
    api.wait_operation(del.data()["operation_id"].as_str().expect("op")).await;
    let r = api.create_database(&unique_name("again")).await;
    assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
}

#[tokio::test]
async fn concurrent_creates_at_the_limit_cannot_overshoot_it() {
    let (api, _) = Api::new_user_on(Plan::Free).await;
    api.create_database(&unique_name("first")).await;
    let tries = (0..4).map(|i| {
        let api = api.clone();
        async move { api.create_database(&unique_name(&format!("race{i}"))).await }
    });
    let results = futures::future::join_all(tries).await;
    let made = results.iter().filter(|r| r.status == 201 || r.status == 202).count();
    assert_eq!(made, 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(results.iter().filter(|r| r.status == 403).all(|r| r.code() == "QUOTA_EXCEEDED"));
    assert_eq!(api.get("/me").await.data()["usage"]["databases"], 2);
}

#[tokio::test]
async fn an_account_over_its_storage_quota_cannot_create_databases() {
    let (api, _) = Api::new_user_on(Plan::Free).await;
    let db = api.create_running(&unique_name("big")).await;
    let client = integration_tests::connect(db["connection_string"].as_str().expect("url")).await.expect("connects");
    // Push the account past its storage quota (24 MB on the test plan). Over it, the
    // database is locked (see storage_quota.rs), which may end this session before the
    // statement finishes: the rows it wrote stay on disk either way (the table exists
    // already), so the account stays over.
    client.batch_execute("create table filler (pad bytea)").await.expect("creates the table");
    let _ = client
        .batch_execute(
            "insert into filler select (select decode(string_agg(md5(random()::text || g || i), ''), 'hex')
                                        from generate_series(1, 128) i)
             from generate_series(1, 14000) g",
        )
        .await;
    let every = Duration::from_millis(200);
    eventually_every("usage to be measured past the quota", Duration::from_secs(30), every, || async {
        let used = api.get("/me").await.data()["usage"]["storage_mb"].as_f64().unwrap_or(0.0);
        if used >= 24.0 {
            Ok(())
        } else {
            Err(format!("{used} MB"))
        }
    })
    .await;
    api.create_database(&unique_name("more")).await.expect_error(403, "QUOTA_EXCEEDED");
    // The database is locked, so space is freed by deleting it.
    let id = db["id"].as_str().expect("id");
    let r = api.delete(&format!("/databases/{id}")).await;
    assert!(r.status == 200 || r.status == 202, "{} {}", r.status, r.body);
    api.wait_state(id, "deleted").await;
    eventually_every("a create under the quota after freeing space", Duration::from_secs(30), every, || async {
        let r = api.create_database(&unique_name("after")).await;
        if r.status == 201 || r.status == 202 {
            return Ok(());
        }
        assert_eq!(r.code(), "QUOTA_EXCEEDED");
        Err(r.body.to_string())
    })
    .await;
}
