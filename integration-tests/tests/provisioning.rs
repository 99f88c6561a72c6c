//! Provisioning jobs driven step by step, without the platform's own workers running, so a
//! test decides exactly where a "killed" worker stops. Its own test binary: its own clusters.

use std::time::Duration;

use domain::{
    AccountId, Database, DatabaseCommand, DatabaseId, DatabaseName, DatabaseState, HostId, OperationId, PlatformRole,
    StreamId,
};
use eventstore::{Extra, Metadata, Store};
use integration_tests::eventually;
use ops::local::testing;
use tokio::sync::OnceCell;
use worker::jobs::{Job, Runner, DELETE_STEPS, PROVISION_STEPS};

struct Fixture {
    url: String,
    keyring: eventstore::vault::Keyring,
    host: HostId,
    account: AccountId,
}

static FIXTURE: OnceCell<Fixture> = OnceCell::const_new();

async fn fixture() -> &'static Fixture {
    FIXTURE
        .get_or_init(|| async {
            let p = testing::shared().await;
            let (_, url) = ops::platform::control_database(&p.control).await.expect("control db");
            let keyring = eventstore::vault::Keyring::generate();
            let store = ops::platform::open_store(&url, keyring.clone(), 4).await.expect("store");
            let host = ops::platform::register_local_host(&store, "local", &p.host).await.expect("host");
            let user =
                ops::accounts::bootstrap_user(&store, "owner@berth.test", PlatformRole::User).await.expect("user");
            Fixture { url, keyring, host, account: user.account_id }
        })
        .await
}

fn store(f: &Fixture) -> Store {
    Store::connect(&f.url, 4).expect("url").with_keyring(f.keyring.clone())
}

fn runner(store: &Store) -> Runner {
    Runner::new(store.clone(), Default::default(), domain::PlanQuotas::default(), None, Default::default())
}

/// Requests a database through the application layer, on `host`.
async fn request(
    store: &Store,
    host: HostId,
    account: AccountId,
    label: &str,
) -> (DatabaseId, OperationId, DatabaseName, String) {
    let name =
        DatabaseName::parse(&format!("{label}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).expect("name");
    let r = integration_tests::request_database(store, account, host, &name, None, &Metadata::default()).await;
    (r.id, r.operation_id, name, r.password)
}

async fn host_counts(name: &DatabaseName) -> (i64, i64) {
    let c = superuser().await;
    let r: i64 =
        c.query_one("select count(*) from pg_roles where rolname = $1", &[&name.as_str()]).await.expect("q").get(0);
    let d: i64 =
        c.query_one("select count(*) from pg_database where datname = $1", &[&name.as_str()]).await.expect("q").get(0);
    (r, d)
}

async fn superuser() -> tokio_postgres::Client {
    let p = testing::shared().await;
    let (c, conn) =
        tokio_postgres::connect(&p.host.pg.dsn("postgres"), tokio_postgres::NoTls).await.expect("superuser");
    tokio::spawn(conn);
    c
}

async fn login_through_bouncer(name: &DatabaseName, password: &str) -> Result<(), tokio_postgres::Error> {
    let p = testing::shared().await;
    let url = format!("postgresql://{name}:{password}@127.0.0.1:{}/{name}", p.host.bouncer.port());
    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    c.simple_query("select 1").await.map(|_| ())
}

#[tokio::test]
async fn a_worker_killed_between_any_two_provisioning_steps_converges_on_rerun() {
    let f = fixture().await;
    let store = store(f);
    let runner = runner(&store);
    for (stop, step) in PROVISION_STEPS.iter().enumerate().take(PROVISION_STEPS.len() - 1) {
        let (id, op, name, password) = request(&store, f.host, f.account, &format!("kill{stop}")).await;
        let job = Job::Provision { database_id: id, operation_id: op, source: None };
        runner.run_steps(&job, 1, Some(stop)).await.unwrap_or_else(|e| panic!("up to {}: {e}", step));
        assert_eq!(store.database(id).await.expect("db").state, DatabaseState::Provisioning, "stopped after {}", step);
        runner.run_steps(&job, 2, None).await.unwrap_or_else(|e| panic!("rerun after {}: {e}", step));
        let db = store.database(id).await.expect("db");
        assert_eq!(db.state, DatabaseState::Running, "after a kill at {}", step);
        assert_eq!(host_counts(&name).await, (1, 1), "exactly one role and one database");
        login_through_bouncer(&name, &password).await.expect("the tenant logs in through PgBouncer");
        // A third run (a duplicate delivery) is a no-op.
        runner.run_steps(&job, 3, None).await.expect("no-op");
        let (op_row, _) = store.operation(op).await.expect("op");
        assert_eq!((op_row.state.as_str(), op_row.attempts), ("succeeded", 2));
    }
}

#[tokio::test]
async fn a_worker_killed_between_any_two_deletion_steps_converges_on_rerun() {
    let f = fixture().await;
    let store = store(f);
    let runner = runner(&store);
    for (stop, step) in DELETE_STEPS.iter().enumerate().take(DELETE_STEPS.len() - 1) {
        let (id, op, name, password) = request(&store, f.host, f.account, &format!("del{stop}")).await;
        runner
            .run_steps(&Job::Provision { database_id: id, operation_id: op, source: None }, 1, None)
            .await
            .expect("provisions");
        let del = OperationId::new();
        store
            .execute::<Database>(
                StreamId::database(id).as_str(),
                &DatabaseCommand::RequestDeletion { operation_id: del },
                &Metadata::default(),
                &[],
            )
            .await
            .expect("store")
            .expect("decided");
        let job = Job::Delete { database_id: id, operation_id: del };
        runner.run_steps(&job, 1, Some(stop)).await.unwrap_or_else(|e| panic!("up to {}: {e}", step));
        runner.run_steps(&job, 2, None).await.unwrap_or_else(|e| panic!("rerun after {}: {e}", step));
        assert_eq!(store.database(id).await.expect("db").state, DatabaseState::Deleted);
        assert_eq!(host_counts(&name).await, (0, 0), "no orphaned role or database");
        assert!(login_through_bouncer(&name, &password).await.is_err());
        assert!(store.role_verifier(id).await.is_err(), "the verifier is forgotten");
        assert!(
            store.get_secret(&format!("database:{}:password", id.uuid())).await.is_err(),
            "the password is forgotten"
        );
    }
}

#[tokio::test]
async fn a_role_of_the_same_name_that_is_not_ours_aborts_without_touching_it() {
    let f = fixture().await;
    let store = store(f);
    let (id, op, name, _) = request(&store, f.host, f.account, "squat").await;
    superuser().await.batch_execute(&format!("CREATE ROLE {} LOGIN", name.quoted())).await.expect("squatter");
    let err =
        runner(&store).run_steps(&Job::Provision { database_id: id, operation_id: op, source: None }, 1, None).await;
    assert!(matches!(err, Err(worker::queue::JobError::Abort(_))), "{err:?}");
    assert_eq!(host_counts(&name).await, (1, 0), "the squatter's role is left alone, no database made");
}

/// The real queue and workers: a host that never answers makes every attempt fail; after
/// the last one the database is `failed`, the operation says why, and an incident is open.
#[tokio::test]
async fn a_job_that_exhausts_its_attempts_fails_the_database_and_opens_an_incident() {
    let f = fixture().await;
    let store = store(f);
    let dead = register_dead_host(&store).await;
    let (id, op, _, _) = request(&store, dead, f.account, "doomed").await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut config = worker::WorkerConfig::new(f.url.clone());
    config.max_attempts = 3;
    config.backoff_base = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(50);
    // A host that never answers: no waiting for it to come back.
    config.host_wait = Duration::ZERO;
    let running = tokio::spawn(worker::run(store.clone(), config, rx));
    let op_row = eventually("the job to fail", Duration::from_secs(60), || async {
        let (row, _) = store.operation(op).await.expect("op");
        if row.state == domain::OperationState::Failed {
            Ok(row)
        } else {
            Err(format!("{row:?}"))
        }
    })
    .await;
    assert_eq!(op_row.attempts, 3);
    // Users get a clear, stable message; the cause (naming the host) is for operators.
    assert_eq!(
        op_row.error.as_deref(),
        Some("the database could not be created; the platform operators have been notified"),
        "{op_row:?}"
    );
    assert_eq!(store.database(id).await.expect("db").state, DatabaseState::Failed);
    // The incident is opened after the failure is recorded (and after the leftovers on the
    // host were looked for): wait for it, with a deadline.
    let incidents = eventually("a provisioning_failed incident", Duration::from_secs(30), || async {
        let open = store.open_incidents("provisioning_failed", &id.to_string()).await.expect("incidents");
        (!open.is_empty()).then_some(open)
    })
    .await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].1, 1, "opened once, not once per attempt");
    let client = tokio_postgres::connect(&f.url, tokio_postgres::NoTls).await.expect("control plane");
    tokio::spawn(client.1);
    let summary: String = client
        .0
        .query_one("select summary from incidents where id = $1", &[&incidents[0].0])
        .await
        .expect("incident")
        .get(0);
    assert!(summary.contains("tenant host"), "the incident says what happened: {summary}");
    let events = store.read_stream(StreamId::database(id).as_str()).await.expect("events");
    assert_eq!(events.last().expect("events").event_type, "OperationFailed");
    stop.send(true).expect("stop");
    running.await.expect("join").expect("worker ends cleanly");
}

async fn register_dead_host(store: &Store) -> HostId {
    use eventstore::StoredEvent;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let id = HostId::new();
    store.put_secret(&hostctl::host::superuser_secret_id(id), b"x").await.expect("secret");
    store.put_secret(&hostctl::host::admin_secret_id(id), b"x").await.expect("secret");
    let e = domain::HostEvent::HostRegistered {
        host_id: id,
        name: format!("dead-{}", id.uuid()),
        pg_host: "127.0.0.1".into(),
        pg_port: closed,
        superuser: "nobody".into(),
        bouncer_host: "127.0.0.1".into(),
        bouncer_port: closed,
        admin_user: "nobody".into(),
        config_dir: "/nonexistent".into(),
        capacity: 0,
        engine: "postgres".into(),
        region: domain::DEFAULT_REGION.into(),
    };
    store
        .append(
            StreamId::host(id).as_str(),
            eventstore::ExpectedVersion::NoStream,
            &[e.to_new().expect("encodes")],
            &Metadata::default(),
            &[],
        )
        .await
        .expect("registered");
    id
}

#[tokio::test]
async fn dispatching_an_event_twice_queues_its_job_once() {
    use eventstore::consumer::Handler;
    let f = fixture().await;
    let store = store(f);
    let (id, _, _, _) = request(&store, f.host, f.account, "twice").await;
    let events = store.read_stream(StreamId::database(id).as_str()).await.expect("events");
    let name = format!("test-{}", uuid::Uuid::new_v4());
    let queue = worker::Lanes::connect_named(&f.url, &name, &format!("{name}-data")).await.expect("queues");
    let dispatcher = worker::dispatch::Dispatcher { queue: queue.clone() };
    dispatcher.handle(&events).await.expect("first dispatch");
    dispatcher.handle(&events).await.expect("second dispatch");
    assert_eq!(queue.control.depth().await.expect("depth"), 1);
    assert_eq!(queue.data.depth().await.expect("depth"), 0, "a plain create is control-lane work");
}

async fn request_maintenance(store: &Store, id: DatabaseId, kind: domain::OperationKind, extras: &[Extra]) -> Job {
    let op = OperationId::new();
    store
        .execute::<Database>(
            StreamId::database(id).as_str(),
            &DatabaseCommand::RequestMaintenance { operation_id: op, kind },
            &Metadata::default(),
            extras,
        )
        .await
        .expect("store")
        .expect("decided");
    Job::Maintain { database_id: id, operation_id: op, action: kind }
}

#[tokio::test]
async fn a_worker_killed_between_any_two_maintenance_steps_converges_on_rerun() {
    use domain::OperationKind as K;
    let f = fixture().await;
    let store = store(f);
    let runner = runner(&store);
    let steps = |k| worker::jobs::maintenance_steps(k).len() - 1;
    for stop in 0..steps(K::Stop).max(steps(K::ResetPassword)) {
        let (id, op, name, _) = request(&store, f.host, f.account, &format!("maint{stop}")).await;
        runner
            .run_steps(&Job::Provision { database_id: id, operation_id: op, source: None }, 1, None)
            .await
            .expect("provisions");
        for kind in [K::Stop, K::Start, K::Restart] {
            let job = request_maintenance(&store, id, kind, &[]).await;
            if stop < steps(kind) {
                runner.run_steps(&job, 1, Some(stop)).await.unwrap_or_else(|e| panic!("{kind:?} up to {stop}: {e}"));
            }
            runner.run_steps(&job, 2, None).await.unwrap_or_else(|e| panic!("{kind:?} rerun after {stop}: {e}"));
            let want = if kind == K::Stop { DatabaseState::Stopped } else { DatabaseState::Running };
            assert_eq!(store.database(id).await.expect("db").state, want, "{kind:?} killed after step {stop}");
        }
        let password = format!("pw{}", uuid::Uuid::new_v4().simple());
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let extras = [
            Extra::Secret { id: format!("database:{}:password", id.uuid()), plaintext: password.clone().into_bytes() },
            Extra::RoleVerifier { database_id: id.uuid(), verifier },
        ];
        let job = request_maintenance(&store, id, K::ResetPassword, &extras).await;
        runner.run_steps(&job, 1, Some(stop)).await.unwrap_or_else(|e| panic!("reset up to {stop}: {e}"));
        runner.run_steps(&job, 2, None).await.unwrap_or_else(|e| panic!("reset rerun after {stop}: {e}"));
        login_through_bouncer(&name, &password).await.expect("the new password works through PgBouncer");
        runner.run_steps(&job, 3, None).await.expect("a duplicate delivery is a no-op");
    }
}

#[tokio::test]
async fn the_sweeper_expires_rules_whose_expiry_job_never_ran() {
    use domain::{Allowlist, AllowlistCommand, Cidr, RuleId};
    let f = fixture().await;
    let store = store(f);
    let (id, op, _, _) = request(&store, f.host, f.account, "sweep").await;
    runner(&store)
        .run_steps(&Job::Provision { database_id: id, operation_id: op, source: None }, 1, None)
        .await
        .expect("provisions");
    let now = chrono::Utc::now();
    let add = AllowlistCommand::Add {
        database_id: id,
        rule_id: RuleId::new(),
        cidr: Cidr::parse("192.0.2.0/24").expect("valid"),
        label: None,
        expires_at: Some(now + chrono::Duration::milliseconds(300)),
        now,
    };
    let stream = String::from(StreamId::allowlist(id));
    store.execute::<Allowlist>(&stream, &add, &Metadata::default(), &[]).await.expect("store").expect("decided");
    // No workers run in this binary: the expiry job queued for this rule never runs.
    assert_eq!(worker::allowlists::sweep_expired(&store).await.expect("sweeps"), 0, "not due yet");
    let expires_at = now + chrono::Duration::milliseconds(300);
    let swept = eventually("the sweeper to expire the rule", Duration::from_secs(10), || async {
        let n = worker::allowlists::sweep_expired(&store).await.expect("sweeps");
        (n > 0).then_some(n)
    })
    .await;
    assert!(chrono::Utc::now() >= expires_at, "swept only once the rule expired ({expires_at})");
    assert_eq!(swept, 1);
    assert_eq!(worker::allowlists::sweep_expired(&store).await.expect("sweeps"), 0, "expired once");
    assert!(store.allowlist(id).await.expect("rules").is_empty());
    let events = store.read_stream(&stream).await.expect("events");
    assert_eq!(events.last().expect("events").event_type, "AllowlistRuleExpired");
}

/// PgBouncer forgets DISABLE when it restarts. A stopped database stays closed anyway —
/// PostgreSQL refuses it — and the next sync puts PgBouncer's refusal back. A host of its
/// own, so restarting its PgBouncer disturbs no other test.
#[tokio::test]
async fn a_stopped_database_stays_closed_across_a_pgbouncer_restart() {
    use ops::local::{Bouncer, BouncerOptions, LocalHost, LocalHostOptions};
    let f = fixture().await;
    let store = store(f);
    let dir = testing::scratch_dir("second-host").expect("dir");
    let host = LocalHost::start(&dir, &LocalHostOptions::for_tests()).await.expect("a second host");
    let host_id =
        ops::platform::register_local_host(&store, &format!("second-{}", uuid::Uuid::new_v4().simple()), &host)
            .await
            .expect("registered");
    let runner = runner(&store);
    let (id, op, name, password) = request(&store, host_id, f.account, "restart").await;
    runner
        .run_steps(&Job::Provision { database_id: id, operation_id: op, source: None }, 1, None)
        .await
        .expect("provisions");
    let stop = request_maintenance(&store, id, domain::OperationKind::Stop, &[]).await;
    runner.run_steps(&stop, 1, None).await.expect("stops");
    let login = |bouncer: &Bouncer| {
        let dsn = bouncer.dsn(name.as_str(), name.as_str(), &password);
        async move {
            match tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await {
                Ok(_) => "admitted".to_owned(),
                Err(e) => e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_else(|| e.to_string()),
            }
        }
    };
    assert!(login(&host.bouncer).await.contains("is disabled"));

    host.bouncer.stop().expect("stops pgbouncer");
    let restarted = Bouncer::start(&dir.join("pgbouncer"), &host.pg, &BouncerOptions::default(), host.tls.clone())
        .await
        .expect("restarts");
    assert_eq!(restarted.port(), host.bouncer.port(), "same port");
    let refused = login(&restarted).await;
    assert!(refused.contains("not currently accepting connections"), "PostgreSQL still refuses: {refused}");

    let conn = worker::hosts::open(&runner.hosts, &store, host_id).await.expect("host");
    worker::hosts::sync_bouncer(&store, &runner.plans, &conn).await.expect("syncs");
    assert!(login(&restarted).await.contains("is disabled"), "PgBouncer refuses again after a sync");
    restarted.stop().expect("stop");
    host.pg.stop().expect("stop");
}
