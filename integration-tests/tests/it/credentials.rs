//! Passwords: reset at the engine (and PgBouncer), read back from the vault, never in
//! plaintext in the control plane; for each engine.

use integration_tests::engine::conn_of;
use integration_tests::{app, each_engine, unique_name, Api};
use serde_json::json;

each_engine! {
    async fn reset_password_switches_logins_to_the_new_password_at_once(engine) {
        let api = Api::new_user().await;
        let name = unique_name("reset");
        let d = api.create_running_on(engine, &name).await;
        let (id, old) = (d["id"].as_str().expect("id"), conn_of(engine, &d));
        let old_password = d["password"].as_str().expect("password");
        let mut before = old.wait_session().await;

        let r = api.post(&format!("/databases/{id}/reset-password"), json!({})).await;
        r.expect(200);
        let new_password = r.data()["password"].as_str().expect("new password");
        assert_eq!(r.data()["username"], name.as_str());
        assert_ne!(new_password, old_password);
        let new = conn_of(engine, r.data());
        assert!(new.url.contains(new_password) && new.url.contains(&format!(":{}/", d["port"])));

        // No retries: the API answered only once the new password worked.
        new.sql("SELECT 1").await.expect("the new password logs in at once");
        let refused = old.login_error().await;
        assert!(refused.contains(engine.bad_password()), "old password refused: {refused}");
        before.query("SELECT 1").await.expect("a session opened before the reset goes on");

        let creds = api.get(&format!("/databases/{id}/credentials")).await;
        creds.expect(200);
        assert_eq!(creds.data()["password"], new_password);
        assert_eq!(creds.data()["connection_string"], new.url.as_str());
        assert_eq!(creds.data()["username"], name.as_str());

        let activity = api
            .wait_activity(&format!("/activity?action=database.reset_password&database_id={id}"), |e| !e.is_empty())
            .await;
        assert_eq!(activity.body["data"].as_array().expect("array").len(), 1, "{}", activity.body);
        assert!(!activity.body.to_string().contains(new_password));
        let op = api.wait_operation(r.data()["operation_id"].as_str().expect("operation id")).await;
        assert_eq!((op["kind"].as_str(), op["state"].as_str()), (Some("reset_password"), Some("succeeded")));
    }

    async fn credentials_show_the_password_given_at_creation(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("creds")).await;
        let creds = api.get(&format!("/databases/{}/credentials", d["id"].as_str().expect("id"))).await;
        creds.expect(200);
        assert_eq!(creds.data()["password"], d["password"]);
        conn_of(engine, creds.data()).wait_login(true).await;
    }

    async fn a_stopped_database_gets_its_new_password_too(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("sleepy")).await;
        let id = d["id"].as_str().expect("id");
        api.lifecycle(id, "stop").await;
        let r = api.post(&format!("/databases/{id}/reset-password"), json!({})).await;
        r.expect(200);
        api.lifecycle(id, "start").await;
        conn_of(engine, r.data()).wait_login(true).await;
        let refused = conn_of(engine, &d).login_error().await;
        assert!(refused.contains(engine.bad_password()), "{refused}");
    }
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

each_engine! {
    async fn a_dump_of_the_control_plane_holds_no_plaintext_password(engine) {
        let api = Api::new_user().await;
        let d = api.create_running_on(engine, &unique_name("sealed")).await;
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
        let maria = integration_tests::engine::maria_host().0;
        assert!(!dump.contains(maria.admin_password()), "MariaDB's admin password in the dump");
    }
}
