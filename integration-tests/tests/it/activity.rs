//! The activity log: numbered in commit order, so newest-first paging neither repeats nor
//! skips entries while new ones arrive.

use std::time::Duration;

use integration_tests::{app, consistently, Api};
use serde_json::Value;

/// A user with their own account, whose activity this test alone writes to: each new key
/// for them is an `api_key.create` entry.
struct Writer {
    api: Api,
    email: String,
}

impl Writer {
    async fn new() -> Self {
        let email = format!("paging-{}@berth.test", uuid::Uuid::new_v4().simple());
        let user =
            ops::accounts::bootstrap_user(&app().store(), &email, domain::PlatformRole::User).await.expect("user");
        Self { api: Api::new(Some(&user.key)), email }
    }

    async fn add_entry(&self) {
        ops::accounts::bootstrap_user(&app().store(), &self.email, domain::PlatformRole::User).await.expect("key");
    }
}

fn ids(r: &integration_tests::Resp) -> Vec<String> {
    r.body["data"].as_array().expect("array").iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect()
}

#[tokio::test]
async fn paging_neither_repeats_nor_skips_entries_while_new_ones_arrive() {
    let w = Writer::new().await;
    for _ in 0..5 {
        w.add_entry().await;
    }
    let all = w.api.wait_activity("/activity?limit=200", |e| e.len() == 6).await;
    let before = ids(&all);

    let mut seen = Vec::new();
    let mut added = 0;
    let mut path = "/activity?limit=2".to_owned();
    loop {
        let page = w.api.get(&path).await;
        page.expect(200);
        seen.extend(ids(&page));
        // New entries arrive between pages.
        w.add_entry().await;
        added += 1;
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/activity?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, before, "the pages, joined, are exactly the entries that existed when paging began");

    let fresh = w.api.wait_activity("/activity?limit=200", |e| e.len() == 6 + added).await;
    let fresh = ids(&fresh);
    assert_eq!(&fresh[added..], &before[..], "new entries only ever appear above the first page");
}

#[tokio::test]
async fn an_entry_is_listed_only_once_everything_committed_before_it_is() {
    let w = Writer::new().await;
    w.api.wait_activity("/activity", |e| e.len() == 1).await;
    // A transaction that took its place in the log first and commits last.
    let control = integration_tests::connect(&app().control_url).await.expect("control plane");
    control.batch_execute("begin").await.expect("begin");
    control
        .execute(
            "insert into events (stream_id, version, event_id, type, schema_version, data, metadata, occurred_at)
             values ($1, 1, $2, 'BenchEventRecorded', 1, '{}', $3, now())",
            &[
                &format!("bench-{}", uuid::Uuid::new_v4()),
                &uuid::Uuid::now_v7(),
                &serde_json::to_value(eventstore::Metadata::default()).expect("metadata"),
            ],
        )
        .await
        .expect("insert");
    w.add_entry().await;
    // Nothing says the consumer has passed the entry over: it stays unlisted throughout a
    // window.
    consistently("not listed while an earlier transaction is open", Duration::from_millis(300), || async {
        let r = w.api.get("/activity").await;
        r.body["data"].as_array().map(Vec::len) == Some(1)
    })
    .await;
    control.batch_execute("commit").await.expect("commit");
    let r = w.api.wait_activity("/activity", |e| e.len() == 2).await;
    let entries: &[Value] = r.body["data"].as_array().expect("array");
    assert!(entries.iter().all(|e| e["action"] == "api_key.create"));
}
