//! Every operation ends: the reconciler of stuck operations requeues an operation whose job
//! was lost, then fails it with a clear error and an incident; an operation nothing can
//! finish any more (no longer the database's) is abandoned. Runs against a control store of
//! its own, which no dispatcher or worker serves: no job ever runs unless the test says so.

use std::time::Duration;

use domain::{
    AccountEvent, AccountId, Database, DatabaseCommand, DatabaseEvent, DatabaseId, DatabaseName, HostId, OperationId,
    OperationKind, OperationState, StreamId,
};
use eventstore::incidents::{kinds, IncidentFilter};
use eventstore::{audit, ExpectedVersion, Metadata, Store, StoredEvent};
use integration_tests::{fresh_control_store, unique_name};
use worker::stuck::{reconcile, StuckOptions, STUCK_ERROR};

async fn execute(store: &Store, db: DatabaseId, command: DatabaseCommand) {
    let stream = String::from(StreamId::database(db));
    store
        .execute::<Database>(&stream, &command, &Metadata::default(), &[])
        .await
        .expect("store answers")
        .expect("command accepted");
}

/// A running database of `account` on `host`.
async fn running_database(store: &Store, account: AccountId, host: HostId) -> DatabaseId {
    let name = DatabaseName::parse(&unique_name("stuck")).expect("name");
    let requested = integration_tests::request_database(store, account, host, &name, None, &Metadata::default()).await;
    let (id, op) = (requested.id, requested.operation_id);
    execute(store, id, DatabaseCommand::MarkProvisioned { operation_id: op }).await;
    id
}

async fn state_of(store: &Store, op: OperationId) -> (OperationState, Option<String>) {
    let (row, _) = store.operation(op).await.expect("operation row");
    (row.state, row.error)
}

/// The jobs' own rows: how many, and how many still to run.
async fn jobs(client: &tokio_postgres::Client) -> (i64, i64) {
    let row = client
        .query_one(
            "select count(*), count(*) filter (where status in ('Pending', 'Queued', 'Running')) from apalis.jobs",
            &[],
        )
        .await
        .expect("jobs counted");
    (row.get(0), row.get(1))
}

/// What a lost job looks like from the queue: it finished, and the operation did not.
async fn finish_jobs_without_an_outcome(client: &tokio_postgres::Client) {
    client
        .execute("update apalis.jobs set status = 'Done', done_at = now() where status = 'Pending'", &[])
        .await
        .expect("jobs finished");
}

struct Setup {
    store: Store,
    queue: worker::Lanes,
    client: tokio_postgres::Client,
    account: AccountId,
    host: HostId,
}

/// A control store of its own with a host and an account, and its queue.
async fn setup(label: &str) -> Setup {
    let (store, url) = fresh_control_store(label).await;
    let queue = worker::Lanes::connect(&url).await.expect("queues");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(conn);
    let (host, account) = (HostId::new(), AccountId::new());
    let host_event = integration_tests::unreachable_host(host);
    let meta = Metadata::default();
    store
        .append(
            StreamId::host(host).as_str(),
            ExpectedVersion::NoStream,
            &[host_event.to_new().expect("enc")],
            &meta,
            &[],
        )
        .await
        .expect("host");
    let created = AccountEvent::AccountCreated { account_id: account, plan: "free".into() };
    store
        .append(
            StreamId::account(account).as_str(),
            ExpectedVersion::NoStream,
            &[created.to_new().expect("enc")],
            &meta,
            &[],
        )
        .await
        .expect("account");
    Setup { store, queue, client, account, host }
}

#[tokio::test]
async fn stuck_operations_are_requeued_then_failed_and_overtaken_ones_abandoned() {
    let Setup { store, queue, client, account, host } = setup("stuck_ops").await;
    let meta = Metadata::default();
    // A restart whose job never ran.
    let (db, restart) = (running_database(&store, account, host).await, OperationId::new());
    execute(&store, db, DatabaseCommand::RequestMaintenance { operation_id: restart, kind: OperationKind::Restart })
        .await;
    // A stop that a later request overtook without settling it (as a lost race once did).
    let (other, stop, overtaking) =
        (running_database(&store, account, host).await, OperationId::new(), OperationId::new());
    execute(&store, other, DatabaseCommand::RequestMaintenance { operation_id: stop, kind: OperationKind::Stop }).await;
    let stream = String::from(StreamId::database(other));
    let (_, version) = store.load::<Database>(&stream).await.expect("load");
    let late = DatabaseEvent::DatabaseRestartRequested { database_id: other, operation_id: overtaking };
    store
        .append(&stream, ExpectedVersion::Exact(version), &[late.to_new().expect("enc")], &meta, &[])
        .await
        .expect("append");

    // Within the deadline nothing is touched.
    reconcile(&store, &queue, Duration::from_secs(3600)).await.expect("round");
    assert_eq!(state_of(&store, restart).await.0, OperationState::Pending);
    assert_eq!(jobs(&client).await, (0, 0), "no job queued before the deadline");

    // Past it: the current operations' jobs are queued again; the overtaken one is abandoned.
    reconcile(&store, &queue, Duration::ZERO).await.expect("round");
    assert_eq!(jobs(&client).await, (2, 2), "the restart's and the overtaking request's jobs requeued");
    assert_eq!(state_of(&store, stop).await, (OperationState::Failed, Some(STUCK_ERROR.into())));
    assert_eq!(state_of(&store, restart).await.0, OperationState::Pending);
    // A live job is waited for, however late the operation.
    reconcile(&store, &queue, Duration::ZERO).await.expect("round");
    assert_eq!(jobs(&client).await, (2, 2), "nothing more queued while a job may still run");

    finish_jobs_without_an_outcome(&client).await;
    reconcile(&store, &queue, Duration::ZERO).await.expect("round");
    assert_eq!(jobs(&client).await, (4, 2), "queued a second time, under new keys");
    assert_eq!(state_of(&store, restart).await.0, OperationState::Pending);

    finish_jobs_without_an_outcome(&client).await;
    reconcile(&store, &queue, Duration::ZERO).await.expect("round");
    assert_eq!(jobs(&client).await, (4, 0), "no third requeue");
    assert_eq!(state_of(&store, restart).await, (OperationState::Failed, Some(STUCK_ERROR.into())));
    assert_eq!(state_of(&store, overtaking).await, (OperationState::Failed, Some(STUCK_ERROR.into())));
    // The database is no longer busy: it takes a new request.
    execute(
        &store,
        db,
        DatabaseCommand::RequestMaintenance { operation_id: OperationId::new(), kind: OperationKind::Stop },
    )
    .await;

    // Each requeue is in the log: two for the restart, two for the overtaking request.
    for (database, op) in [(db, restart), (other, overtaking)] {
        let events = store.read_stream(StreamId::database(database).as_str()).await.expect("stream");
        let requeues: Vec<u64> = events
            .iter()
            .filter(|e| e.event_type == "OperationRequeued" && e.data["operation_id"] == op.uuid().to_string())
            .map(|e| e.data["requeue"].as_u64().expect("requeue"))
            .collect();
        assert_eq!(requeues, vec![1, 2], "requeue events of {op}");
    }

    for op in [restart, stop, overtaking] {
        let filter = IncidentFilter {
            kind: Some(kinds::OPERATION_STUCK.into()),
            resource_id: Some(op.to_string()),
            ..IncidentFilter::default()
        };
        let found = store.incidents(&filter, 10).await.expect("incidents");
        assert_eq!(found.len(), 1, "one incident for {op}: {found:?}");
        assert_eq!(found[0].resource_type, "operation");
    }

    // The events that settled them rebuild the same read models.
    store.audit_catch_up().await.expect("catch up");
    let report = audit::replay(&store).await.expect("replay runs");
    for t in &report.tables {
        assert!(!t.differs(), "{} differs: only live {:?}, only replayed {:?}", t.table, t.only_live, t.only_replayed);
    }
}

#[tokio::test]
async fn the_worker_settles_a_stuck_operation_on_its_own_within_the_deadline() {
    let Setup { store, queue, client, account, host } = setup("stuck_loop").await;
    let (db, restart) = (running_database(&store, account, host).await, OperationId::new());
    execute(&store, db, DatabaseCommand::RequestMaintenance { operation_id: restart, kind: OperationKind::Restart })
        .await;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let opts = StuckOptions { interval: Duration::from_millis(100), deadline: Duration::from_millis(300) };
    let reconciler = tokio::spawn(worker::stuck::run(store.clone(), queue, opts, shutdown));
    // Every job of it is lost: it finishes without recording anything.
    let ended = integration_tests::eventually("the stuck restart to end", Duration::from_secs(30), || async {
        finish_jobs_without_an_outcome(&client).await;
        let (state, error) = state_of(&store, restart).await;
        state.is_finished().then_some((state, error))
    })
    .await;
    assert_eq!(ended, (OperationState::Failed, Some(STUCK_ERROR.into())));
    assert_eq!(jobs(&client).await.0, 2, "queued again twice before it was failed");
    stop.send(true).expect("reconciler listening");
    tokio::time::timeout(Duration::from_secs(5), reconciler).await.expect("stops on shutdown").expect("no panic");
}
