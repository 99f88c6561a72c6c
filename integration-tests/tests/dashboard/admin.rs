//! The admin page: incidents resolved, tenant hosts listed and cordoned, and accounts listed,
//! filtered and put on another plan from their row.

use std::time::Duration;

use domain::Plan;
use integration_tests::{app, eventually, Api};

use crate::browser::Browser;

pub async fn resolves_an_incident(b: &Browser) {
    let kind = format!("dashboard_test_{}", uuid::Uuid::new_v4().simple());
    let report = eventstore::incidents::IncidentReport {
        kind: &kind,
        severity: "warning",
        resource_type: "database",
        resource_id: "db_dashboard",
        summary: "raised by the dashboard test",
    };
    app().store().report_incident(&report).await.expect("an incident");
    let admin = Api::new(Some(&app().admin_key));
    let found = admin.get(&format!("/admin/incidents?kind={kind}")).await;
    let inc = found.data()[0]["id"].as_str().expect("incident id").to_owned();
    b.sign_in(&app().admin_key).await;
    b.route("#/admin").await;
    b.click(&format!("tr[data-id='{inc}'] [data-test=resolve]")).await;
    eventually("the incident resolved", Duration::from_secs(20), || async {
        let r = admin.get(&format!("/admin/incidents?kind={kind}")).await;
        (r.data()[0]["state"] == "resolved").then_some(())
    })
    .await;
    b.find("select[data-test=incident-state]").await.select_by_value("resolved").await.expect("filter");
    b.find(&format!("tr[data-id='{inc}'][data-state=resolved]")).await;
    b.screenshot("12-admin").await;
}

/// The hosts table lists both servers with their engines; the MariaDB host (which nothing
/// else in this binary creates on by then) is cordoned and uncordoned from its row.
pub async fn cordons_a_host_from_the_hosts_list(b: &Browser) {
    b.route("#/admin").await;
    b.find("tr[data-test=host][data-name='local'][data-state=ready]").await;
    let row = "tr[data-test=host][data-name='local-mariadb']";
    b.click(&format!("{row}[data-state=ready] [data-test=host-cordon]")).await;
    b.find(&format!("{row}[data-state=cordoned]")).await;
    let admin = Api::new(Some(&app().admin_key));
    let state = |hosts: &serde_json::Value| {
        hosts.as_array().and_then(|a| a.iter().find(|h| h["name"] == "local-mariadb")).map(|h| h["state"].clone())
    };
    assert_eq!(state(admin.get("/admin/hosts").await.data()), Some(serde_json::json!("cordoned")));
    b.screenshot("12b-admin-hosts").await;
    b.click(&format!("{row}[data-state=cordoned] [data-test=host-uncordon]")).await;
    b.find(&format!("{row}[data-state=ready]")).await;
    assert_eq!(state(admin.get("/admin/hosts").await.data()), Some(serde_json::json!("ready")));
}

pub async fn changes_a_plan_from_the_accounts_list(b: &Browser) {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let user = app().new_user_on(&format!("dash{tag}"), Plan::Free).await.expect("a user");
    let account = user.account_id.to_string();
    let row = format!("tr[data-test=account][data-id='{account}']");
    b.route("#/admin").await;
    b.find("[data-test=account-table]").await;
    // From the keyboard: the filter, then Enter.
    b.type_in("input[data-test=account-email-filter]", &format!("{}\u{E007}", tag.to_uppercase())).await;
    b.find(&format!("{row}[data-plan=free]")).await;
    b.until(
        "only the filtered account listed",
        "return document.querySelectorAll('tr[data-test=account]').length === 1;",
    )
    .await;
    b.find(&format!("{row} select[data-test=row-plan]")).await.select_by_value("pro").await.expect("a plan");
    b.click(&format!("{row} [data-test=set-plan]")).await;
    let admin = Api::new(Some(&app().admin_key));
    eventually("the plan changed", Duration::from_secs(20), || async {
        let r = admin.get(&format!("/admin/accounts?email={tag}")).await;
        (r.data()[0]["plan"] == "pro").then_some(())
    })
    .await;
    b.find(&format!("{row}[data-plan=pro]")).await;
    // The plan filter narrows the same list.
    b.find("select[data-test=account-plan-filter]").await.select_by_value("business").await.expect("filter");
    b.until("no business account with this email", "return !!document.querySelector('[data-test=accounts] p.muted');")
        .await;
    b.find("select[data-test=account-plan-filter]").await.select_by_value("pro").await.expect("filter");
    b.find(&format!("{row}[data-plan=pro]")).await;
    b.eval("document.querySelector('[data-test=accounts]').scrollIntoView();").await;
    b.screenshot("13-admin-accounts").await;
}

/// One more account than a page holds (25): Next shows the last one, Previous the first 25.
pub async fn pages_through_accounts(b: &Browser) {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let mut oldest = String::new();
    for i in 0..26 {
        let user = app().new_user_on(&format!("page{tag}"), Plan::Free).await.expect("a user");
        if i == 0 {
            oldest = user.account_id.to_string();
        }
    }
    b.route("#/databases").await;
    b.route("#/admin").await;
    b.type_in("input[data-test=account-email-filter]", &format!("{tag}\u{E007}")).await;
    let rows = "return document.querySelectorAll('tr[data-test=account]').length";
    b.until("a full first page", &format!("{rows} === 25;")).await;
    assert_eq!(b.count(&format!("tr[data-id='{oldest}']")).await, 0, "the oldest is on the second page");
    b.click("[data-test=accounts-next]").await;
    b.find(&format!("tr[data-id='{oldest}']")).await;
    b.until("the second page alone", &format!("{rows} === 1;")).await;
    assert_eq!(b.eval("return document.querySelector('[data-test=accounts-next]').disabled;").await, true);
    b.click("[data-test=accounts-prev]").await;
    b.until("the first page again", &format!("{rows} === 25;")).await;
}

/// An admin moves a database to a second PostgreSQL host from the admin page: the move
/// runs to its end, the database is served from the new host, and the connection string its
/// owner had still logs in (the old host's pooler forwards it).
pub async fn moves_a_database_from_the_hosts_page(b: &Browser) {
    use ops::local::{LocalHost, LocalHostOptions};
    let dir = ops::local::testing::scratch_dir("dash-move").expect("a dir");
    let host = LocalHost::start(&dir, &LocalHostOptions::for_tests()).await.expect("a second host");
    let name = integration_tests::unique_name("dash-move");
    let region = integration_tests::unique_name("dm");
    let store = app().store();
    let host_id = ops::platform::register_local_host_in(&store, &name, (&region, 10), &host).await.expect("registered");
    let user = Api::new_user().await;
    let db = user.create_running(&integration_tests::unique_name("mover")).await;
    let (id, url) =
        (db["id"].as_str().expect("id").to_owned(), db["connection_string"].as_str().expect("url").to_owned());
    integration_tests::connect(&url)
        .await
        .expect("logs in")
        .batch_execute("create table kept (n int); insert into kept values (7)")
        .await
        .expect("data");

    // Away and back: the page lists hosts when it opens (this one registered since).
    b.route("#/").await;
    b.route("#/admin").await;
    b.find(&format!("select[data-test=move-host] option[value='{host_id}']")).await;
    b.type_in("input[data-test=move-database]", &id).await;
    let chosen = b
        .eval(&format!(
            "const s = document.querySelector('select[data-test=move-host]'); s.value = '{host_id}'; return s.value;"
        ))
        .await;
    assert_eq!(chosen, serde_json::json!(host_id.to_string()));
    b.click("button[data-test=move-go]").await;
    eventually("the move to be accepted", Duration::from_secs(20), || async {
        let status = b.eval("return document.querySelector('p[data-test=move-status]').dataset.operation || '';").await;
        let toast = b.eval("return JSON.stringify({ t: document.getElementById('toast').textContent, v: document.querySelector('input[data-test=move-database]').value, h: document.querySelector('select[data-test=move-host]').value, b: document.querySelector('button[data-test=move-go]').disabled });").await;
        if status.as_str().is_some_and(|s| !s.is_empty()) { Ok(()) } else { Err(format!("toast: {toast}")) }
    })
    .await;
    b.screenshot("12c-admin-move").await;
    let operation = b.eval("return document.querySelector('p[data-test=move-status]').dataset.operation;").await;
    let op = user.wait_operation(operation.as_str().expect("an operation id")).await;
    assert_eq!((op["kind"].as_str(), op["state"].as_str()), (Some("move"), Some("succeeded")), "{op}");
    let now = user.get(&format!("/databases/{id}/credentials")).await;
    assert!(
        now.data()["connection_string"].as_str().is_some_and(|u| u.contains(&format!(":{}/", host.bouncer.port()))),
        "{}",
        now.body
    );
    let c = integration_tests::connect(&url).await.expect("the old connection string still logs in");
    let n: i32 = c.query_one("select n from kept", &[]).await.expect("the row came along").get(0);
    assert_eq!(n, 7);
    drop(c);

    user.delete(&format!("/databases/{id}")).await.expect(202);
    user.wait_state(&id, "deleted").await;
    Api::new(Some(&app().admin_key)).delete(&format!("/admin/hosts/{host_id}")).await.expect(204);
    eventually("the host to leave the page", Duration::from_secs(20), || async {
        b.route("#/").await;
        b.route("#/admin").await;
        (b.count(&format!("tr[data-test=host][data-name='{name}']")).await == 0).then_some(())
    })
    .await;
    host.stop().expect("stops");
}
