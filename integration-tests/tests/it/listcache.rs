//! Listings served from the API's cache are exact: whatever another process commits (the
//! worker finishing an operation, another replica, a direct append) shows in the very next
//! `GET /databases`, with no waiting.

use domain::{DatabaseCommand, OperationId, Plan, StreamId};
use integration_tests::{app, eventually_every, unique_name, Api};
use serde_json::Value;

/// The listed state of database `id`, if listed.
async fn listed_state(api: &Api, id: &str) -> Option<String> {
    let r = api.get("/databases").await;
    r.expect(200);
    let rows = r.data().as_array().expect("a list").clone();
    rows.iter().find(|d| d["id"] == id).map(|d| d["state"].as_str().expect("state").to_owned())
}

fn database_id(id: &str) -> domain::DatabaseId {
    domain::DatabaseId::parse(id).expect("a database id")
}

#[tokio::test]
async fn a_change_committed_by_another_process_shows_in_the_very_next_listing() {
    let (api, _) = Api::new_user_on(Plan::Pro).await;
    let db = api.create_running(&unique_name("listed")).await;
    let id = db["id"].as_str().expect("id").to_owned();
    for _ in 0..3 {
        assert_eq!(listed_state(&api, &id).await.as_deref(), Some("running"));
    }
    // Another process: its own store, nothing this API process is told about.
    let store = app().store();
    let request = DatabaseCommand::RequestDeletion { operation_id: OperationId::new() };
    store
        .execute::<domain::Database>(
            StreamId::database(database_id(&id)).as_str(),
            &request,
            &eventstore::Metadata::default(),
            &[],
        )
        .await
        .expect("the store answers")
        .expect("the deletion is accepted");
    let after = listed_state(&api, &id).await;
    assert!(after.as_deref() != Some("running"), "listed as {after:?} after its deletion was committed");
}

/// The race a notification-invalidated cache loses: the worker commits "provisioned", the
/// client reads the operation straight from the store, then lists before any notice could
/// have reached the API. Listing before the create and on every poll keeps the cache warm
/// with an older answer (the create may also answer 201, already running).
#[tokio::test]
async fn a_database_whose_operation_succeeded_is_never_listed_as_provisioning() {
    let (api, _) = Api::new_user_on(Plan::Pro).await;
    api.get("/databases").await.expect(200);
    let r = api.create_database(&unique_name("raced")).await;
    assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
    let id = r.data()["id"].as_str().expect("id").to_owned();
    let operation = r.data()["operation_id"].as_str().expect("operation").to_owned();
    // No pause between polls: the listing is read as often as it can be.
    let (within, every) = (std::time::Duration::from_secs(60), std::time::Duration::ZERO);
    eventually_every("provisioning to finish", within, every, || async {
        listed_state(&api, &id).await;
        let op: Value = api.get(&format!("/operations/{operation}")).await.data().clone();
        if op["state"] == "succeeded" {
            Ok(())
        } else {
            Err(op.to_string())
        }
    })
    .await;
    assert_eq!(listed_state(&api, &id).await.as_deref(), Some("running"));
}
