//! The host's lock table (issue 21, hole 8): one tenant holding tens of thousands of locks
//! made other tenants' `CREATE TABLE` and every new login fail with "out of shared memory".
//! The lock watchdog holds each database to its share (its plan's server connections ×
//! `max_locks_per_transaction`): a tenant over it loses the sessions holding the locks,
//! an incident opens, and everyone else carries on.

use std::time::Duration;

use integration_tests::{admin_incidents, app, connect, eventually, host_superuser, unique_name, wait_login, Api};

/// The share of a free-plan database on the test host.
async fn free_share() -> i64 {
    let su = host_superuser().await;
    let per_backend: String = su.query_one("show max_locks_per_transaction", &[]).await.expect("show").get(0);
    let per_backend: i64 = per_backend.parse().expect("a number");
    i64::from(integration_tests::fixtures::free_quotas().server_connections) * per_backend
}

async fn free_database(label: &str) -> (String, String) {
    let (api, _) = Api::new_user_on(domain::Plan::Free).await;
    let d = api.create_running(&unique_name(label)).await;
    (d["id"].as_str().expect("id").to_owned(), d["connection_string"].as_str().expect("url").to_owned())
}

async fn backend_pid(c: &tokio_postgres::Client) -> i32 {
    c.query_one("select pg_backend_pid()", &[]).await.expect("pid").get(0)
}

#[tokio::test]
async fn a_tenant_holding_more_locks_than_its_share_is_cut_off_and_others_carry_on() {
    let share = free_share().await;
    let over = share * 2;
    let (hog_id, hog_url) = free_database("lockhog").await;
    let (_, other_url) = free_database("lockneighbour").await;

    // A session of the same tenant holding a few locks: within the share, it stays.
    let bystander = wait_login(&hog_url).await;
    bystander.batch_execute("create table kept (id int); begin; select * from kept").await.expect("bystander");
    // The hog: in one open transaction, twice its share in advisory locks (an entry each in
    // the shared table, as a table's lock is). Its query text carries a marker that must not
    // reach the incident.
    let hog = connect(&hog_url).await.expect("hog logs in");
    let hog_pid = backend_pid(&hog).await;
    hog.batch_execute(&format!(
        "begin; select /* tenant-text-7f3a */ pg_advisory_xact_lock(g) from generate_series(1, {over}) g"
    ))
    .await
    .expect("the hog takes its locks");
    // A second hog names itself as the platform's backups do: it gets a share of its own, no
    // more (the name is the client's to set), and holds its locks (other keys) outside any
    // transaction.
    let named = connect(&hog_url).await.expect("second hog logs in");
    let named_pid = backend_pid(&named).await;
    named
        .batch_execute(&format!(
            "set application_name = 'berth-backup';
             select pg_advisory_lock(g) from generate_series({over} + 1, 2 * {over}) g"
        ))
        .await
        .expect("the second hog takes its locks");

    // Meanwhile the neighbour logs in and creates a table.
    let neighbour = tokio::time::timeout(Duration::from_secs(5), wait_login(&other_url)).await.expect("login");
    neighbour.batch_execute("create table t (id int)").await.expect("the neighbour creates a table");

    // Both hogs are terminated within a few watchdog rounds.
    let su = host_superuser().await;
    eventually("the hogs' sessions to be terminated", Duration::from_secs(20), || async {
        let left: i64 = su
            .query_one("select count(*) from pg_stat_activity where pid = any($1)", &[&vec![hog_pid, named_pid]])
            .await
            .expect("activity")
            .get(0);
        (left == 0).then_some(())
    })
    .await;
    assert!(hog.simple_query("select 1").await.is_err(), "the hog's session is gone");
    assert!(named.simple_query("select 1").await.is_err(), "the second hog's session is gone");
    bystander.simple_query("select 1").await.expect("the bystander's session was spared");

    // An incident names the database by id, with nothing the tenant wrote.
    let named_hog = async {
        for _ in 0..100 {
            let open = admin_incidents("locks_over_share", &hog_id, "open").await;
            if !open.is_empty() {
                return Some(open);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    };
    let Some(incidents) = named_hog.await else {
        // What there is instead, to tell a lost incident from one filed under another name.
        let all = Api::new(Some(&app().admin_key)).get("/admin/incidents?kind=locks_over_share").await;
        let metrics = reqwest::get(format!("{}/metrics", app().api_url)).await.expect("metrics").text().await;
        let watchdog: Vec<String> =
            metrics.unwrap_or_default().lines().filter(|l| l.contains("lock_watchdog")).map(str::to_owned).collect();
        panic!(
            "no open locks_over_share incident for {hog_id} after 20 s; all of that kind: {}; {watchdog:?}",
            all.body
        );
    };
    let summary = incidents[0]["summary"].as_str().expect("summary");
    assert!(summary.contains(&hog_id) && summary.contains("terminated"), "{summary}");
    assert!(!summary.contains("tenant-text") && !summary.contains("lockhog"), "{summary}");

    // The neighbour still works, and new logins too.
    neighbour.batch_execute("create table u (id int)").await.expect("the neighbour carries on");
    wait_login(&other_url).await;
    // The hog's tenant may log in again (within its share).
    wait_login(&hog_url).await;
}
