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
