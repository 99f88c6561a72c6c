//! API keys served from the in-process cache stay exactly as strict as the store: a replaced
//! or revoked key fails on the very next request, and one revoked by another process (another
//! API replica) stops working within the cross-replica bound.

use std::time::{Duration, Instant};

use domain::{AccountCommand, ApiKeyId, Plan, StreamId};
use integration_tests::{app, eventually_every, Api};
use serde_json::json;

/// Uses `key` enough times that later requests are answered from the cache.
async fn warm(key: &str) -> Api {
    let k = Api::new(Some(key));
    for _ in 0..3 {
        k.get("/databases").await.expect(200);
    }
    k
}

#[tokio::test]
async fn a_cached_key_that_is_replaced_or_revoked_fails_on_the_very_next_request() {
    let api = Api::new_user().await;
    let (id, key) = api.create_key(json!({ "label": "cached" })).await;
    let old = warm(&key).await;
    let r = api.post(&format!("/api-keys/{id}/replace"), json!({})).await;
    r.expect(200);
    for _ in 0..3 {
        old.get("/databases").await.expect_error(401, "UNAUTHENTICATED");
    }
    let new = warm(r.data()["key"].as_str().expect("new key")).await;
    api.delete(&format!("/api-keys/{id}")).await.expect(204);
    for _ in 0..3 {
        new.get("/databases").await.expect_error(401, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_key_in_use_by_other_requests_fails_as_soon_as_its_revocation_is_answered() {
    let api = Api::new_user().await;
    let (id, key) = api.create_key(json!({ "label": "busy" })).await;
    let k = warm(&key).await;
    // Requests with the key keep coming while it is revoked.
    let busy = k.clone();
    let load = tokio::spawn(async move {
        loop {
            busy.get("/databases").await;
        }
    });
    api.delete(&format!("/api-keys/{id}")).await.expect(204);
    for _ in 0..20 {
        k.get("/databases").await.expect_error(401, "UNAUTHENTICATED");
    }
    load.abort();
}

#[tokio::test]
async fn a_key_revoked_by_another_process_stops_working_within_the_bound() {
    let (api, user) = Api::new_user_on(Plan::Pro).await;
    let (id, key) = api.create_key(json!({ "label": "elsewhere" })).await;
    let k = warm(&key).await;
    // Another process: its own store handle and pool, not the API (which would forget the
    // key itself); this API process learns of it only through the append notification.
    let store = app().store();
    let stream = String::from(StreamId::account(user.account_id));
    let revoke = AccountCommand::RevokeKey { api_key_id: ApiKeyId::parse(&id).expect("key id") };
    store
        .execute::<domain::Account>(&stream, &revoke, &eventstore::Metadata::default(), &[])
        .await
        .expect("the store answers")
        .expect("the key is live");
    let revoked_at = Instant::now();
    // The documented bound is the notification's delay, or control::keycache::LIVE_FOR if the
    // listening connection died silently; the deadline leaves room for a loaded machine.
    let within = control::keycache::LIVE_FOR + Duration::from_secs(5);
    eventually_every("the revoked key to stop working", within, Duration::from_millis(5), || async {
        let r = k.get("/databases").await;
        if r.status == 401 {
            return Ok(());
        }
        r.expect(200);
        Err(format!("it still worked {:?} later", revoked_at.elapsed()))
    })
    .await;
    for _ in 0..3 {
        k.get("/databases").await.expect_error(401, "UNAUTHENTICATED");
    }
}
