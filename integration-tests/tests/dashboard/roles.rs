//! What each role sees: people added on the page, then a viewer (no credentials, no write
//! buttons) and a developer (credentials and backups, no lifecycle).

use integration_tests::Api;
use serde_json::json;

use crate::browser::Browser;

/// A database user and a collaborator (the viewer), both added on the page.
pub async fn people(b: &Browser, api: &Api, id: &str, viewer_email: &str) {
    b.route(&format!("#/databases/{id}/users")).await;
    b.type_in("form[aria-label='Add a database user'] input", "reporting").await;
    b.click("form[aria-label='Add a database user'] button[type=submit]").await;
    let conn = b.text("[data-test=secrets] [data-test=connection-string]").await;
    assert!(conn.contains("reporting"), "the user's connection string is shown once");
    b.route(&format!("#/databases/{id}/collaborators")).await;
    b.type_in("form[aria-label='Share the database'] input[type=email]", viewer_email).await;
    b.find("form[aria-label='Share the database'] select").await.select_by_value("viewer").await.expect("a role");
    b.click("form[aria-label='Share the database'] button[type=submit]").await;
    b.until("the collaborator listed", &format!("return document.body.textContent.includes({});", json!(viewer_email)))
        .await;
    let listed = api.get(&format!("/databases/{id}/collaborators")).await;
    assert_eq!(listed.data()[0]["role"], "viewer", "{}", listed.body);
}

pub async fn viewer_sees_no_secrets(b: &Browser, owner: &Api, viewer_key: &str, id: &str, conn: &str) {
    b.sign_in(viewer_key).await;
    b.route(&format!("#/databases/{id}")).await;
    assert_eq!(b.text("[data-test=my-role]").await, "viewer");
    b.find("[data-test=connection]").await;
    let tabs = b.eval("return [...document.querySelectorAll('.tabs a')].map(a => a.textContent).join(',');").await;
    assert_eq!(tabs, json!("Overview,Activity,Metrics,Schema"), "a viewer's tabs");
    let password =
        conn.split_once("://").and_then(|(_, r)| r.split_once('@')).and_then(|(u, _)| u.split_once(':')).expect("pw").1;
    for tab in ["", "/network", "/users", "/collaborators", "/backups", "/activity", "/metrics", "/schema"] {
        b.route(&format!("#/databases/{id}{tab}")).await;
        let section = format!("[data-test=tab-{}]", if tab.is_empty() { "overview" } else { &tab[1..] });
        b.find(&section).await;
        // A tab renders its content once, when what it shows has loaded.
        b.until(
            &format!("the {tab:?} tab rendered"),
            &format!("return document.querySelector({})?.childElementCount > 0;", json!(section)),
        )
        .await;
        let buttons = b.count("main button, main form, main [data-test=reveal]").await;
        assert_eq!(buttons, 0, "no write buttons for a viewer on {tab:?}");
        let html = b.client.source().await.expect("source");
        assert!(!html.contains(password), "no credentials for a viewer on {tab:?}");
        if tab.is_empty() {
            b.screenshot("11-viewer").await;
        }
    }
    // Made a developer: credentials and backups appear, lifecycle and deletion do not.
    let listed = owner.get(&format!("/databases/{id}/collaborators")).await;
    let user = listed.data()[0]["user_id"].as_str().expect("user id").to_owned();
    owner.patch(&format!("/databases/{id}/collaborators/{user}"), json!({ "role": "developer" })).await.expect(200);
    b.route("#/databases").await;
    b.route(&format!("#/databases/{id}")).await;
    assert_eq!(b.text("[data-test=my-role]").await, "developer");
    let tabs = b.eval("return [...document.querySelectorAll('.tabs a')].map(a => a.textContent).join(',');").await;
    assert_eq!(tabs, json!("Overview,Backups,Activity,Metrics,Schema,SQL"), "a developer's tabs");
    b.find("[data-test=reveal]").await;
    assert_eq!(b.count("[data-test=lifecycle], [data-test=delete]").await, 0, "no lifecycle for a developer");
    b.sign_out().await;
}
