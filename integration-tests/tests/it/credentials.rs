//! Passwords: reset through PostgreSQL and PgBouncer, read back from the vault, never in
//! plaintext in the control plane.

use integration_tests::{app, connect, login_error, unique_name, wait_login, Api};
use serde_json::json;

#[tokio::test]
async fn reset_password_switches_pgbouncer_logins_to_the_new_password_at_once() {
    let api = Api::new_user().await;
    let name = unique_name("reset");
    let d = api.create_running(&name).await;
    let (id, old_url) = (d["id"].as_str().expect("id"), d["connection_string"].as_str().expect("url"));
    let old_password = d["password"].as_str().expect("password");
    let before = wait_login(old_url).await;

    let r = api.post(&format!("/databases/{id}/reset-password"), json!({})).await;
    r.expect(200);
    let new_password = r.data()["password"].as_str().expect("new password");
    assert_eq!(r.data()["username"], name.as_str());
    assert_ne!(new_password, old_password);
    let new_url = r.data()["connection_string"].as_str().expect("url");
    assert!(new_url.contains(new_password) && new_url.contains(&format!(":{}/", d["port"])));

    // No retries: the API answered only once the new password worked through PgBouncer.
    connect(new_url).await.expect("the new password logs in through PgBouncer at once");
    let refused = login_error(old_url).await;
    assert!(refused.contains("authentication failed"), "old password refused: {refused}");
    assert!(before.simple_query("select 1").await.is_ok(), "a session opened before the reset goes on");

    let creds = api.get(&format!("/databases/{id}/credentials")).await;
    creds.expect(200);
    assert_eq!(creds.data()["password"], new_password);
    assert_eq!(creds.data()["connection_string"], new_url);
    assert_eq!(creds.data()["username"], name.as_str());

    let activity = api
        .wait_activity(&format!("/activity?action=database.reset_password&database_id={id}"), |e| !e.is_empty())
        .await;
    assert_eq!(activity.body["data"].as_array().expect("array").len(), 1, "{}", activity.body);
    assert!(!activity.body.to_string().contains(new_password));
    let op = api.wait_operation(r.data()["operation_id"].as_str().expect("operation id")).await;
    assert_eq!((op["kind"].as_str(), op["state"].as_str()), (Some("reset_password"), Some("succeeded")));
}

#[tokio::test]
async fn credentials_show_the_password_given_at_creation() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("creds")).await;
    let creds = api.get(&format!("/databases/{}/credentials", d["id"].as_str().expect("id"))).await;
    creds.expect(200);
    assert_eq!(creds.data()["password"], d["password"]);
    wait_login(creds.data()["connection_string"].as_str().expect("url")).await;
}

#[tokio::test]
async fn a_stopped_database_gets_its_new_password_too() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("sleepy")).await;
    let id = d["id"].as_str().expect("id");
    api.lifecycle(id, "stop").await;
    let r = api.post(&format!("/databases/{id}/reset-password"), json!({})).await;
    r.expect(200);
    api.lifecycle(id, "start").await;
    wait_login(r.data()["connection_string"].as_str().expect("url")).await;
    let refused = login_error(d["connection_string"].as_str().expect("url")).await;
    assert!(refused.contains("authentication failed"), "{refused}");
}

/// pg_dump of the whole control-plane database, as text.
async fn control_plane_dump() -> String {
    let bins = ops::local::PgBins::find().expect("PostgreSQL binaries");
    let control = &app().platform.control;
    let out = tokio::process::Command::new(bins.tool("pg_dump"))
        .arg(control.url("berth"))
        .output()
        .await
        .expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_dump_of_the_control_plane_holds_no_plaintext_password() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("sealed")).await;
    let id = d["id"].as_str().expect("id");
    let reset = api.post(&format!("/databases/{id}/reset-password"), json!({})).await;
    reset.expect(200);
    let seen = [d["password"].as_str().expect("pw"), reset.data()["password"].as_str().expect("pw")];
    let dump = control_plane_dump().await;
    assert!(dump.contains("secrets"), "the dump has the vault table");
    for password in seen {
        assert!(!dump.contains(password), "a password the API returned is in the dump in plaintext");
    }
    assert!(!dump.contains(app().platform.host.pg.superuser_password()), "host superuser password in the dump");
}
