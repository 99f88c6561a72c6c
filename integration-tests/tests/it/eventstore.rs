use domain::StreamId;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventstore::consumer::{ConsumerOptions, Handler};
use eventstore::{AppendOutcome, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StoreError};
use integration_tests::{app, connect, eventually_every};

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: "BenchEventRecorded",
        schema_version: 1,
        data: serde_json::json!({ "type": "BenchEventRecorded", "n": n }),
    }
}

#[tokio::test]
async fn an_append_is_idempotent_by_event_id() {
    let store = app().store();
    let stream = format!("bench-{}", uuid::Uuid::new_v4());
    let e = event(1);
    let first =
        store.append(&stream, ExpectedVersion::NoStream, std::slice::from_ref(&e), &Metadata::default(), &[]).await;
    assert_eq!(first.expect("appends"), AppendOutcome::Appended { version: 1 });
    let again =
        store.append(&stream, ExpectedVersion::NoStream, std::slice::from_ref(&e), &Metadata::default(), &[]).await;
    assert_eq!(again.expect("a retried append succeeds"), AppendOutcome::AlreadyAppended);
    let again = store.append(&stream, ExpectedVersion::Exact(1), &[e], &Metadata::default(), &[]).await;
    assert_eq!(again.expect("also at a later version"), AppendOutcome::AlreadyAppended);
    assert_eq!(store.read_stream(&stream).await.expect("reads").len(), 1);
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_writes_nothing() {
    let store = app().store();
    let stream = format!("bench-{}", uuid::Uuid::new_v4());
    store.append(&stream, ExpectedVersion::NoStream, &[event(1)], &Metadata::default(), &[]).await.expect("first");
    let r = store.append(&stream, ExpectedVersion::NoStream, &[event(2)], &Metadata::default(), &[]).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    let r = store.append(&stream, ExpectedVersion::Exact(5), &[event(2)], &Metadata::default(), &[]).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    store
        .append(&stream, ExpectedVersion::Exact(1), &[event(2), event(3)], &Metadata::default(), &[])
        .await
        .expect("in order");
    let versions: Vec<i64> = store.read_stream(&stream).await.expect("reads").iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![1, 2, 3]);
}

#[tokio::test]
async fn concurrent_first_appends_to_one_stream_let_exactly_one_win() {
    let store = app().store();
    let stream = format!("bench-{}", uuid::Uuid::new_v4());
    let tries = (0..8).map(|i| {
        let (store, stream) = (store.clone(), stream.clone());
        async move { store.append(&stream, ExpectedVersion::NoStream, &[event(i)], &Metadata::default(), &[]).await }
    });
    let results = futures::future::join_all(tries).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(StoreError::Conflict(_)))));
    assert_eq!(store.read_stream(&stream).await.expect("reads").len(), 1);
}

#[tokio::test]
async fn a_version_mismatch_writes_no_event_and_leaves_the_stream_as_it_was() {
    let store = app().store();
    let stream = format!("bench-{}", uuid::Uuid::new_v4());
    store.append(&stream, ExpectedVersion::NoStream, &[event(1)], &Metadata::default(), &[]).await.expect("first");
    let lost = [event(2), event(3)];
    for expected in [ExpectedVersion::NoStream, ExpectedVersion::Exact(0), ExpectedVersion::Exact(2)] {
        let r = store.append(&stream, expected, &lost, &Metadata::default(), &[]).await;
        assert!(matches!(&r, Err(StoreError::Conflict(c)) if c == "stream_version"), "{expected:?}: {r:?}");
    }
    let c = connect(&app().control_url).await.expect("connects");
    let ids: Vec<uuid::Uuid> = lost.iter().map(|e| e.event_id).collect();
    let stored: i64 =
        c.query_one("select count(*) from events where event_id = any($1)", &[&ids]).await.expect("counts").get(0);
    assert_eq!(stored, 0, "no event of a refused append is stored, in any stream");
    // The stream is still at version 1: appending there works.
    let r = store.append(&stream, ExpectedVersion::Exact(1), &lost, &Metadata::default(), &[]).await;
    assert_eq!(r.expect("appends at the real version"), AppendOutcome::Appended { version: 3 });
}

#[tokio::test]
async fn a_batch_that_fails_part_way_writes_none_of_its_events() {
    let store = app().store();
    let (stream, other) = (format!("bench-{}", uuid::Uuid::new_v4()), format!("bench-{}", uuid::Uuid::new_v4()));
    let taken = event(1);
    store
        .append(&other, ExpectedVersion::NoStream, std::slice::from_ref(&taken), &Metadata::default(), &[])
        .await
        .expect("other");
    store.append(&stream, ExpectedVersion::NoStream, &[event(1)], &Metadata::default(), &[]).await.expect("first");
    // The third event's id is already stored (in another stream): the batch cannot go in whole.
    let batch = [event(2), event(3), taken, event(5)];
    let _ = store.append(&stream, ExpectedVersion::Exact(1), &batch, &Metadata::default(), &[]).await;
    let versions: Vec<i64> = store.read_stream(&stream).await.expect("reads").iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![1], "nothing of the failed batch");
    let r = store.append(&stream, ExpectedVersion::Exact(1), &[event(2)], &Metadata::default(), &[]).await;
    assert_eq!(r.expect("the stream did not move"), AppendOutcome::Appended { version: 2 });
}

/// A connection listening on `berth_events`, collecting each stream a notification names
/// (coalesced wake-ups name several, comma-separated), in arrival order.
struct Listener {
    client: tokio_postgres::Client,
    named: Arc<Mutex<Vec<String>>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Listener {
    async fn start() -> Self {
        let (client, mut conn) =
            tokio_postgres::connect(&app().control_url, tokio_postgres::NoTls).await.expect("connects");
        let named = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = named.clone();
        let driver = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
            while let Some(Ok(msg)) = futures::StreamExt::next(&mut messages).await {
                if let tokio_postgres::AsyncMessage::Notification(n) = msg {
                    sink.lock().expect("lock").extend(n.payload().split(',').map(str::to_owned));
                }
            }
        });
        client.batch_execute("listen berth_events").await.expect("listens");
        Listener { client, named, driver }
    }

    /// Everything named up to `marker`, once `marker` has arrived.
    async fn until(&self, marker: &str) -> Vec<String> {
        wait_until(|| self.named.lock().expect("lock").iter().any(|p| p == marker)).await;
        self.named.lock().expect("lock").clone()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Listeners learn which stream changed (caches drop that stream's entries), once per
/// append however many events it holds, and not at all for a refused append.
#[tokio::test]
async fn an_append_notifies_once_with_its_stream_id() {
    let store = app().store();
    let (stream, marker) = (format!("bench-{}", uuid::Uuid::new_v4()), format!("bench-{}", uuid::Uuid::new_v4()));
    let listener = Listener::start().await;
    store
        .append(&stream, ExpectedVersion::NoStream, &[event(1), event(2), event(3)], &Metadata::default(), &[])
        .await
        .expect("appends");
    let refused = store.append(&stream, ExpectedVersion::Exact(1), &[event(4)], &Metadata::default(), &[]).await;
    assert!(refused.is_err());
    store.append(&marker, ExpectedVersion::NoStream, &[event(1)], &Metadata::default(), &[]).await.expect("marker");
    // Notifications arrive in commit order and this store sends them in append order: once
    // the marker is named, the stream's would have been too.
    let named = listener.until(&marker).await;
    assert_eq!(named.iter().filter(|p| **p == stream).count(), 1, "{named:?}");
}

/// A change to an account (its API keys, which other processes cache) is announced by the
/// append's own commit, not later by the coalescing notifier: a replica hears of it even if
/// the appending process dies the moment the append returns. A refused account append
/// announces nothing.
#[tokio::test]
async fn an_account_append_is_announced_by_its_own_commit() {
    let (_api, user) = integration_tests::Api::new_user_on(domain::Plan::Pro).await;
    let stream = String::from(StreamId::account(user.account_id));
    let marker = format!("bench-marker-{}", uuid::Uuid::new_v4());
    let listener = Listener::start().await;
    let (url, s) = (app().control_url.clone(), stream.clone());
    // A short-lived "process": its own runtime and store, gone as soon as the appends return,
    // so nothing it would have sent afterwards is ever sent.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let store = eventstore::Store::connect(&url, 1).expect("store");
            let change = domain::AccountCommand::ChangePlan { plan: domain::Plan::Business };
            store
                .execute::<domain::Account>(&s, &change, &Metadata::default(), &[])
                .await
                .expect("the store answers")
                .expect("the plan changes");
            let stale = store.append(&s, ExpectedVersion::Exact(1), &[event(1)], &Metadata::default(), &[]).await;
            assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
        });
    })
    .join()
    .expect("the appending thread");
    listener.client.batch_execute(&format!("notify berth_events, '{marker}'")).await.expect("notifies");
    let named = listener.until(&marker).await;
    let before_marker = &named[..named.iter().position(|p| *p == marker).expect("marker")];
    assert_eq!(before_marker.iter().filter(|p| **p == stream).count(), 1, "{named:?}");
    assert_eq!(named.iter().filter(|p| **p == stream).count(), 1, "{named:?}");
}

struct Collect {
    prefix: String,
    seen: Arc<Mutex<Vec<RecordedEvent>>>,
}

#[async_trait::async_trait]
impl Handler for Collect {
    async fn handle(&self, events: &[RecordedEvent]) -> anyhow::Result<()> {
        let mut seen = self.seen.lock().expect("lock");
        seen.extend(events.iter().filter(|e| e.stream_id.starts_with(&self.prefix)).cloned());
        Ok(())
    }
}

async fn insert_raw(c: &tokio_postgres::Client, stream: &str, n: i64) -> i64 {
    let e = event(n);
    c.query_one(
        "insert into events (stream_id, version, event_id, type, schema_version, data, metadata, occurred_at)
         values ($1, 1, $2, $3, 1, $4, '{\"actor\":{\"user_id\":null,\"api_key_id\":null}}', now())
         returning global_position",
        &[&stream, &e.event_id, &e.event_type, &e.data],
    )
    .await
    .expect("insert")
    .get(0)
}

/// The trap a plain bigserial reader falls into: transaction A takes an early position but
/// commits after B, whose later position a reader has already passed. Our readers order by
/// (tx_id, position) and stop at the oldest running transaction, so A is still delivered.
#[tokio::test]
async fn an_event_committed_late_with_an_early_position_is_still_delivered() {
    let store = app().store();
    let prefix = format!("bench-ooo-{}-", uuid::Uuid::new_v4().simple());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let consumer_name = format!("test-{}", uuid::Uuid::new_v4());
    let handler = Arc::new(Collect { prefix: prefix.clone(), seen: seen.clone() });
    let s = store.clone();
    let consumer = tokio::spawn(async move {
        s.run_consumer(
            &consumer_name,
            handler,
            ConsumerOptions { batch: 100, idle_poll: Duration::from_millis(20), ..ConsumerOptions::default() },
            rx,
        )
        .await
    });

    let url = &app().control_url;
    let (b_conn, a_conn) = (connect(url).await.expect("b"), connect(url).await.expect("a"));
    // B's transaction gets its id first; A's gets a later one but inserts first.
    b_conn.batch_execute("begin; select pg_current_xact_id()").await.expect("b begins");
    a_conn.batch_execute("begin").await.expect("a begins");
    let a_pos = insert_raw(&a_conn, &format!("{prefix}a"), 1).await;
    let b_pos = insert_raw(&b_conn, &format!("{prefix}b"), 2).await;
    assert!(a_pos < b_pos);
    b_conn.batch_execute("commit").await.expect("b commits");

    // The consumer reads B, past A's position…
    wait_until(|| seen.lock().expect("lock").iter().any(|e| e.global_position == b_pos)).await;
    assert!(seen.lock().expect("lock").iter().all(|e| e.global_position != a_pos));
    // …where a reader trusting positions would have moved its checkpoint past A for ever.
    let naive: i64 = b_conn
        .query_one(
            "select count(*) from events where global_position > $1 and stream_id like $2",
            &[&b_pos, &format!("{prefix}%")],
        )
        .await
        .expect("naive")
        .get(0);
    assert_eq!(naive, 0);

    a_conn.batch_execute("commit").await.expect("a commits late");
    wait_until(|| seen.lock().expect("lock").iter().any(|e| e.global_position == a_pos)).await;
    // Delivery is at least once (a consumer that restarts re-reads from its checkpoint);
    // what matters is that both arrive, in commit order.
    let mut order: Vec<i64> = Vec::new();
    for p in seen.lock().expect("lock").iter().map(|e| e.global_position) {
        if !order.contains(&p) {
            order.push(p);
        }
    }
    if order != vec![b_pos, a_pos] {
        let logs = integration_tests::fixtures::captured_logs();
        let consumer_lines: Vec<&str> = logs.lines().filter(|l| l.contains("consumer")).collect();
        panic!("delivered in commit order: {order:?}\n{}", consumer_lines.join("\n"));
    }
    stop.send(true).expect("stop");
    consumer.await.expect("consumer ends");
}

async fn wait_until(cond: impl Fn() -> bool) {
    eventually_every("the condition", Duration::from_secs(20), Duration::from_millis(10), || async { cond() }).await
}

/// An append tells waiters of the same process (through any clone of the store) by the time
/// it returns: no round trip through PostgreSQL's NOTIFY. A refused append tells nobody.
#[tokio::test]
async fn an_append_wakes_this_process_s_waiters_by_the_time_it_returns() {
    let store = app().store();
    let mut woken = store.clone().local_appends();
    let stream = format!("bench-{}", uuid::Uuid::new_v4());
    store.append(&stream, ExpectedVersion::NoStream, &[event(1)], &Metadata::default(), &[]).await.expect("appends");
    assert!(woken.has_changed().expect("the store is alive"), "woken when the append returned");
    woken.borrow_and_update();
    let refused = store.append(&stream, ExpectedVersion::NoStream, &[event(2)], &Metadata::default(), &[]).await;
    assert!(refused.is_err());
    assert!(!woken.has_changed().expect("the store is alive"), "a refused append wakes nobody");
}
