//! The orphan reconciler: what a host or the backup store has that the control plane does
//! not say (or lacks what it says) opens a `drift` incident; marked orphans are dropped.
//! The test drives rounds itself, with no grace. The platform's own reconciler runs beside
//! it every second with a grace of minutes: it must neither judge the test's young objects
//! nor clear what the test's rounds reported while they are still there.

use std::time::Duration;

use domain::DatabaseId;
use integration_tests::reconciler;
use integration_tests::{app, host_objects, host_superuser, unique_name, Api};
use serde_json::Value;

/// The `drift` incidents an admin sees on `resource`, in `state` (any when empty).
async fn drift_incidents(resource: &str, state: &str) -> Vec<Value> {
    integration_tests::admin_incidents("drift", resource, state).await
}

#[tokio::test]
async fn the_reconciler_drops_orphans_and_reports_what_is_missing_or_unexpected() {
    let mut rec = reconciler(Duration::ZERO);
    let su = host_superuser().await;

    // 1. An orphan: a role marked as Berth's for a database the control plane never had,
    //    and the database it owns.
    let orphan = unique_name("drift");
    let orphan_id = DatabaseId::new();
    su.batch_execute(&format!(
        "CREATE ROLE \"{orphan}\" LOGIN; COMMENT ON ROLE \"{orphan}\" IS 'berth:database:{}'",
        orphan_id.uuid()
    ))
    .await
    .expect("orphan role made behind the platform's back");
    su.batch_execute(&format!("CREATE DATABASE \"{orphan}\" OWNER \"{orphan}\""))
        .await
        .expect("orphan database made behind the platform's back");
    assert_eq!(host_objects(&orphan).await, (1, 1));

    // 2. Missing: a running database dropped behind the platform's back.
    let owner = Api::new_user().await;
    let missing = unique_name("drift");
    let created = owner.create_running(&missing).await;
    let missing_id = created["id"].as_str().expect("id").to_owned();
    su.batch_execute(&format!("DROP DATABASE \"{missing}\" WITH (FORCE)")).await.expect("dropped behind its back");

    // 3. An object in the backup store no backup names.
    let objects = app().backups.operator().expect("backup store");
    let stray = format!("{missing}/stray-{}.sql.gz", uuid::Uuid::new_v4().simple());
    objects.write(&stray, b"not a backup".to_vec()).await.expect("stray object written");

    // 4. PgBouncer's HBA file and its pools edited by hand, as an older Berth's render would
    // differ (comments: harmless should PgBouncer reload them).
    let hba = app().platform.host.bouncer.config_dir().join(hostctl::pgbouncer::HBA_FILE);
    let pools = app().platform.host.bouncer.config_dir().join(hostctl::pgbouncer::TENANTS_FILE);
    for file in [&hba, &pools] {
        let mut text = std::fs::read_to_string(file).expect("pgbouncer file");
        text.push_str("# edited by hand\n");
        std::fs::write(file, text).expect("pgbouncer file edited");
    }

    let found = rec.reconcile_once().await.expect("a round");
    assert!(found.iter().any(|f| f.what.contains(&orphan)), "{found:?}");

    assert_eq!(host_objects(&orphan).await, (0, 0), "the orphan role and its database are dropped");
    // Repaired, so any later round (the platform's own included) may already have resolved it.
    let reported = drift_incidents(&orphan_id.to_string(), "").await;
    assert_eq!(reported.len(), 1, "{reported:?}");
    let summary = reported[0]["summary"].as_str().expect("summary");
    assert!(summary.contains(&orphan) && summary.contains("repaired"), "{summary}");

    // A reconciler that has just started (every age zero again) and has a long grace does not
    // resolve what is still wrong: the missing database and the stray object stay open.
    reconciler(Duration::from_secs(3600)).reconcile_once().await.expect("a round after a restart");

    let open = drift_incidents(&missing_id, "open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    let summary = open[0]["summary"].as_str().expect("summary");
    assert!(summary.contains(&missing) && summary.contains("its database is missing"), "{summary}");
    assert_eq!(host_objects(&missing).await, (1, 0), "a missing database is reported, not recreated");

    let open = drift_incidents(worker::drift::BACKUPS_RESOURCE, "open").await;
    assert!(open.iter().any(|i| i["summary"].as_str().is_some_and(|s| s.contains(&stray))), "{open:?}");

    for file in [&hba, &pools] {
        let text = std::fs::read_to_string(file).expect("pgbouncer file");
        assert!(!text.contains("edited by hand"), "{} is rendered again:\n{text}", file.display());
    }
    // Another test's sync may have rendered the file again before the round looked; when the
    // round saw the edit, it reported it (repaired, so perhaps resolved by now).
    if found.iter().any(|f| f.what.contains("hba.conf")) {
        let reported = drift_incidents(&app().host_id.to_string(), "").await;
        assert!(reported.iter().any(|i| i["summary"].as_str().is_some_and(|s| s.contains("hba.conf"))), "{reported:?}");
    }

    // Once cleared, a round resolves the incidents.
    owner.delete(&format!("/databases/{missing_id}")).await;
    owner.wait_state(&missing_id, "deleted").await;
    objects.delete(&stray).await.expect("stray object removed");
    rec.reconcile_once().await.expect("a round");
    assert!(drift_incidents(&orphan_id.to_string(), "open").await.is_empty());
    assert!(drift_incidents(&missing_id, "open").await.is_empty());
    assert_eq!(drift_incidents(&missing_id, "resolved").await.len(), 1);
}
