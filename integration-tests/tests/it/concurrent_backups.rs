//! Concurrent backup requests (issue 21): racing `POST /databases/{id}/backups` on one
//! database are each answered at once — 202, or 403 `QUOTA_EXCEEDED` past the documented
//! per-day cap, never a retry-me 409 — and every accepted backup ends `succeeded` with an
//! object of its own.

use std::time::{Duration, Instant};

use futures::future::join_all;
use integration_tests::data::fill_varied;
use integration_tests::fixtures::limits;
use integration_tests::{app, connect, eventually, unique_name, Api, Resp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Every answer must come well under PostgreSQL's `deadlock_timeout` (1 s): a request that
/// waited in a lock cycle, on a running job or in a retry loop takes longer (the old code:
/// 18–29 s, five of six 409). The target is 200 ms; on a quiet machine the answers
/// take 10–100 ms, but on 2 cores shared with builds, other tests and the burst's own
/// backups single answers were seen at up to ~420 ms (debug build), so the test holds them
/// to this and prints the figures.
const ANSWER_WITHIN: Duration = Duration::from_millis(900);
const BURST: usize = 6;

/// A running database of `api`'s with some data, so that its backups take a moment.
async fn database_with_data(api: &Api, label: &str) -> (String, tokio_postgres::Client) {
    let created = api.create_running(&unique_name(label)).await;
    let client = connect(created["connection_string"].as_str().expect("url")).await.expect("connects");
    fill_varied(&client, 2000).await.expect("fills");
    (created["id"].as_str().expect("id").to_owned(), client)
}

/// `n` backup requests on `db`, all sent at once; each answer with how long it took.
async fn burst(api: &Api, db: &str, n: usize) -> Vec<(Resp, Duration)> {
    let path = format!("/databases/{db}/backups");
    // As many reads at once first: they open the HTTP connections and grow the platform's
    // control-plane pool, so the figures are the requests' own, not a fresh test process's
    // connection set-up.
    for r in join_all((0..n).map(|_| api.get(&path))).await {
        r.expect(200);
    }
    join_all((0..n).map(|i| {
        let (api, path) = (api.clone(), path.clone());
        async move {
            let started = Instant::now();
            let r = api.post(&path, json!({ "label": format!("burst {i}") })).await;
            (r, started.elapsed())
        }
    }))
    .await
}

/// Checks one database's burst: the cap's worth of 202s, 403 `QUOTA_EXCEEDED` for the rest,
/// each answered within the budget; returns the accepted backups' ids.
fn check_answers(what: &str, answers: &[(Resp, Duration)]) -> Vec<String> {
    let mut times: Vec<Duration> = answers.iter().map(|(_, t)| *t).collect();
    times.sort();
    eprintln!(
        "{what}: {} answers, min {:?} median {:?} max {:?}; statuses {:?}",
        times.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        answers.iter().map(|(r, _)| r.status).collect::<Vec<_>>()
    );
    let cap = usize::try_from(limits().manual_backups_per_day).expect("a small cap");
    let mut accepted = Vec::new();
    for (r, took) in answers {
        match r.status {
            202 => {
                assert_eq!(r.data()["state"], "pending", "{}", r.body);
                accepted.push(r.data()["id"].as_str().expect("backup id").to_owned());
            }
            _ => {
                r.expect_error(403, "QUOTA_EXCEEDED");
            }
        }
        assert!(*took <= ANSWER_WITHIN, "{what}: an answer ({}) took {took:?}: {}", r.status, r.body);
    }
    assert_eq!(accepted.len(), answers.len().min(cap), "{what}: exactly the cap's worth accepted");
    accepted
}

/// Waits for every backup in `ids` to succeed; checks that each has an object of its own,
/// present in the store with the recorded size and checksum.
async fn check_objects(api: &Api, db: &str, ids: &[String]) {
    let hostctl::objects::ObjectStoreConfig::Fs { root } = &app().backups else {
        panic!("the harness stores backups on the filesystem")
    };
    let mut keys = std::collections::BTreeSet::new();
    for id in ids {
        let backup: Value = eventually(&format!("backup {id} to finish"), Duration::from_secs(120), || async {
            let r = api.get(&format!("/databases/{db}/backups/{id}")).await;
            r.expect(200);
            let state = r.data()["state"].as_str().unwrap_or("");
            assert!(state != "failed", "backup failed: {}", r.body);
            (state == "succeeded").then(|| r.data().clone())
        })
        .await;
        let key = backup["object_key"].as_str().expect("an object key").to_owned();
        let bytes = std::fs::read(root.join(&key)).unwrap_or_else(|e| panic!("object {key} of {id}: {e}"));
        assert_eq!(bytes.len() as i64, backup["size_bytes"].as_i64().expect("size"), "{key}");
        assert_eq!(hex::encode(Sha256::digest(&bytes)), backup["sha256"].as_str().expect("sha256"), "{key}");
        assert!(keys.insert(key.clone()), "two backups share the object {key}");
    }
    eprintln!("objects: {keys:?}");
}

#[tokio::test]
async fn six_concurrent_backup_requests_on_one_database_are_answered_at_once_and_each_gets_its_object() {
    let api = Api::new_user().await;
    let (db, _client) = database_with_data(&api, "burst").await;
    let answers = burst(&api, &db, BURST).await;
    let accepted = check_answers("one database", &answers);
    check_objects(&api, &db, &accepted).await;
    // The cap held under the race: nothing more was recorded than was accepted.
    let listed = api.get(&format!("/databases/{db}/backups")).await;
    assert_eq!(listed.data().as_array().map(Vec::len), Some(accepted.len()), "{}", listed.body);
}

#[tokio::test]
async fn bursts_on_two_accounts_databases_at_once_are_answered_at_once_and_each_backup_gets_its_object() {
    let (one, two) = (Api::new_user().await, Api::new_user().await);
    let ((db1, _c1), (db2, _c2)) =
        tokio::join!(database_with_data(&one, "burst-a"), database_with_data(&two, "burst-b"));
    let (a, b) = tokio::join!(burst(&one, &db1, BURST), burst(&two, &db2, BURST));
    let (a, b) = (check_answers("account one", &a), check_answers("account two", &b));
    tokio::join!(check_objects(&one, &db1, &a), check_objects(&two, &db2, &b));
}
