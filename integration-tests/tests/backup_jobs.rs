//! Backup jobs driven directly, without the platform's own workers, so a test decides when a
//! worker "dies", which object store a job writes to (the filesystem, or a real S3-protocol
//! server), and what time the scheduler thinks it is. Its own test binary: its own clusters.

use std::time::Duration;

use chrono::Utc;
use domain::{
    AccountId, Backup, BackupCommand, BackupId, BackupState, BackupTrigger, Database, DatabaseCommand, DatabaseId,
    DatabaseName, DatabaseSource, DatabaseState, HostId, OperationId, PlatformRole, StreamId,
};
use eventstore::{Metadata, Store};
use hostctl::objects::ObjectStoreConfig;
use integration_tests::data::{fill_varied, fingerprint};
use integration_tests::eventually_every;
use ops::local::s3::S3Server;
use ops::local::testing;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use worker::backups::{BackupRuntime, BACKUP_FAILED, BACKUP_STALE};
use worker::jobs::{Job, Runner};
use worker::queue::Handler;
use worker::scheduler::{BackupSchedule, Scheduler};

struct Fixture {
    url: String,
    keyring: eventstore::vault::Keyring,
    host: HostId,
    account: AccountId,
    fs: ObjectStoreConfig,
}

static FIXTURE: OnceCell<Fixture> = OnceCell::const_new();
static S3: OnceCell<S3Server> = OnceCell::const_new();

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
            let fs = ObjectStoreConfig::Fs { root: p.dir.join("backups") };
            Fixture { url, keyring, host, account: user.account_id, fs }
        })
        .await
}

async fn s3() -> &'static S3Server {
    S3.get_or_init(|| async {
        let p = testing::shared().await;
        S3Server::start(&p.dir.join("moto.log"), "berth-backups").await.expect("moto starts")
    })
    .await
}

fn store(f: &Fixture) -> Store {
    Store::connect(&f.url, 4).expect("url").with_keyring(f.keyring.clone())
}

fn runner(store: &Store, objects: &ObjectStoreConfig) -> Runner {
    let backups = Some(BackupRuntime::new(objects).expect("backup runtime"));
    Runner::new(store.clone(), Default::default(), domain::PlanQuotas::default(), backups, Default::default())
}

/// A running database (optionally filled from `source`), provisioned by running its job.
async fn database(
    store: &Store,
    runner: &Runner,
    label: &str,
    source: Option<DatabaseSource>,
) -> (DatabaseId, DatabaseName) {
    let f = fixture().await;
    let name =
        DatabaseName::parse(&format!("{label}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).expect("name");
    let r = integration_tests::request_database(store, f.account, f.host, &name, source, &Metadata::default()).await;
    let (id, op) = (r.id, r.operation_id);
    runner.run_steps(&Job::Provision { database_id: id, operation_id: op, source }, 1, None).await.expect("provisions");
    assert_eq!(store.database(id).await.expect("db").state, DatabaseState::Running);
    (id, name)
}

/// A session in one tenant database on the host, acting as the database's own role (so what
/// it creates is the tenant's, as when the tenant creates it through PgBouncer).
async fn connect_db(name: &str) -> tokio_postgres::Client {
    let p = testing::shared().await;
    let (c, conn) = tokio_postgres::connect(&p.host.pg.dsn(name), tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(conn);
    c.batch_execute(&format!("SET ROLE \"{name}\"")).await.expect("acts as the tenant");
    c
}

async fn request_backup(store: &Store, db: DatabaseId) -> BackupId {
    let id = BackupId::new();
    let cmd = BackupCommand::Request {
        backup_id: id,
        database_id: db,
        operation_id: OperationId::new(),
        trigger: BackupTrigger::Manual,
        label: None,
        scheduled_for: None,
    };
    store
        .execute::<Backup>(StreamId::backup(id).as_str(), &cmd, &Metadata::default(), &[])
        .await
        .expect("store")
        .expect("ok");
    id
}

/// Every complete object under `<database>/`.
async fn objects_of(op: &opendal::Operator, name: &DatabaseName) -> Vec<String> {
    let mut keys: Vec<String> = op
        .list(&format!("{name}/"))
        .await
        .expect("lists")
        .into_iter()
        .map(|e| e.path().to_owned())
        .filter(|p| !p.ends_with('/'))
        .collect();
    keys.sort();
    keys
}

fn tmp_bytes(store: &ObjectStoreConfig) -> u64 {
    let ObjectStoreConfig::Fs { root } = store else { return 0 };
    std::fs::read_dir(root.join(hostctl::objects::FS_TMP_DIR))
        .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_backup_killed_midway_leaves_no_complete_object_and_its_retry_leaves_exactly_one() {
    let f = fixture().await;
    let store = store(f);
    // A directory of its own, so no other test's upload looks like this one's.
    let objects = ObjectStoreConfig::Fs { root: testing::shared().await.dir.join("backups-killed") };
    let runner = runner(&store, &objects);
    let (db, name) = database(&store, &runner, "killed", None).await;
    connect_db(name.as_str())
        .await
        .batch_execute(
            "create table big as select g, (select string_agg(md5(random()::text || g || s), '')
                                            from generate_series(1, 30) s) as body
             from generate_series(1, 40000) g",
        )
        .await
        .expect("fills");
    let id = request_backup(&store, db).await;
    let tmp_before = tmp_bytes(&objects);

    let attempt = tokio::spawn({
        let runner = runner.clone();
        async move { runner.run_steps(&Job::Backup { backup_id: id }, 1, None).await }
    });
    // Whether it started writing (true) or finished first (false); looked at often, to
    // catch it mid-upload.
    let (within, every) = (Duration::from_secs(120), Duration::from_millis(5));
    let writing = eventually_every("the backup to start writing", within, every, || async {
        if tmp_bytes(&objects) > tmp_before {
            Some(true)
        } else {
            attempt.is_finished().then_some(false)
        }
    })
    .await;
    assert!(writing, "the backup finished before it could be killed: {:?}", attempt.await);
    // The worker dies here: every future of the attempt is dropped mid-upload.
    attempt.abort();
    let _ = attempt.await;

    let killed = store.backup(id).await.expect("backup");
    assert_eq!(killed.state, BackupState::Running, "a killed backup is not succeeded");
    let op = BackupRuntime::new(&objects).expect("runtime").objects;
    let first_key = killed.object_key.clone().expect("the attempt recorded its key");
    assert!(!op.exists(&first_key).await.expect("stat"), "a half object is visible at {first_key}");
    assert!(objects_of(&op, &name).await.is_empty());

    runner.run_steps(&Job::Backup { backup_id: id }, 2, None).await.expect("the retry succeeds");
    let done = store.backup(id).await.expect("backup");
    assert_eq!(done.state, BackupState::Succeeded);
    let key = done.object_key.clone().expect("key");
    assert_eq!(objects_of(&op, &name).await, vec![key.clone()], "exactly one object");
    let bytes = op.read(&key).await.expect("reads").to_vec();
    assert_eq!(bytes.len() as i64, done.size_bytes.expect("size"));
    assert_eq!(hex::encode(Sha256::digest(&bytes)), done.sha256.expect("sha"));
    let big = done.tables.iter().find(|t| t.table == "public.big").expect("stats for big");
    assert_eq!(big.rows, 40000);
}

#[tokio::test]
async fn backups_restores_and_verification_round_trip_through_a_real_s3_server() {
    let f = fixture().await;
    let store = store(f);
    let s3 = s3().await;
    let runner = runner(&store, &s3.config());
    let (db, name) = database(&store, &runner, "s3src", None).await;
    let source = connect_db(name.as_str()).await;
    fill_varied(&source, 2000).await.expect("fills");
    // Over one upload part, so the multipart path is exercised too.
    source
        .batch_execute(
            "create table noise as select g, (select string_agg(md5(random()::text || g || s), '')
                                              from generate_series(1, 20) s) as body
             from generate_series(1, 30000) g",
        )
        .await
        .expect("noise");
    let before = fingerprint(&source).await.expect("fingerprint");

    let id = request_backup(&store, db).await;
    runner.run_steps(&Job::Backup { backup_id: id }, 1, None).await.expect("backs up to S3");
    let backup = store.backup(id).await.expect("backup");
    assert_eq!(backup.state, BackupState::Succeeded);
    let key = backup.object_key.clone().expect("key");
    let op = BackupRuntime::new(&s3.config()).expect("runtime").objects;
    let stat = op.stat(&key).await.expect("the object is in the bucket");
    assert_eq!(stat.content_length() as i64, backup.size_bytes.expect("size"));
    assert!(stat.content_length() > 8 * 1024 * 1024, "multipart: {}", stat.content_length());

    let (_, restored) = database(&store, &runner, "s3dst", Some(DatabaseSource::Backup { backup_id: id })).await;
    let restored = connect_db(restored.as_str()).await;
    assert_eq!(fingerprint(&restored).await.expect("fingerprint"), before);

    let op_id = OperationId::new();
    let cmd = BackupCommand::RequestVerification { operation_id: op_id };
    store
        .execute::<Backup>(StreamId::backup(id).as_str(), &cmd, &Metadata::default(), &[])
        .await
        .expect("store")
        .expect("ok");
    runner.run_steps(&Job::VerifyBackup { backup_id: id, operation_id: op_id }, 1, None).await.expect("verifies");
    let verified = store.backup(id).await.expect("backup");
    assert_eq!(verified.verified_ok, Some(true));
}

#[tokio::test]
async fn a_restore_killed_midway_is_redone_from_scratch() {
    let f = fixture().await;
    let store = store(f);
    let runner = runner(&store, &f.fs);
    let (db, name) = database(&store, &runner, "halfsrc", None).await;
    let source = connect_db(name.as_str()).await;
    fill_varied(&source, 500).await.expect("fills");
    let before = fingerprint(&source).await.expect("fingerprint");
    let id = request_backup(&store, db).await;
    runner.run_steps(&Job::Backup { backup_id: id }, 1, None).await.expect("backs up");

    let target =
        DatabaseName::parse(&format!("half-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])).expect("name");
    let source_of = Some(DatabaseSource::Backup { backup_id: id });
    let r =
        integration_tests::request_database(&store, f.account, f.host, &target, source_of, &Metadata::default()).await;
    let (tid, op) = (r.id, r.operation_id);
    let job = Job::Provision { database_id: tid, operation_id: op, source: source_of };
    let populate = worker::jobs::PROVISION_STEPS
        .iter()
        .position(|s| *s == worker::jobs::JobStep::Populate)
        .expect("a populate step");
    // Killed right after "restrict": the database exists, half-filled by hand as a dying
    // restore would leave it.
    runner.run_steps(&job, 1, Some(populate - 1)).await.expect("first steps");
    connect_db(target.as_str()).await.batch_execute("create table public.debris (x int)").await.expect("debris");
    runner.run_steps(&job, 2, None).await.expect("rerun");
    assert_eq!(store.database(tid).await.expect("db").state, DatabaseState::Running);
    assert_eq!(fingerprint(&connect_db(target.as_str()).await).await.expect("fingerprint"), before);
}

#[tokio::test]
async fn two_schedulers_ticking_at_once_request_exactly_one_backup_per_database_and_day() {
    let f = fixture().await;
    let store = store(f);
    let runner = runner(&store, &f.fs);
    let (db, _) = database(&store, &runner, "sched", None).await;
    let a = Scheduler { store: store.clone(), schedule: BackupSchedule::default() };
    let b = Scheduler { store: Store::connect(&f.url, 2).expect("url"), schedule: BackupSchedule::default() };
    let now = Utc::now() + chrono::Duration::days(1);
    let (ra, rb) = tokio::join!(a.tick(now, Some(db)), b.tick(now, Some(db)));
    let requested = ra.expect("tick a").requested.len() + rb.expect("tick b").requested.len();
    assert_eq!(requested, 1);
    let backups = store.backups_of(db).await.expect("backups");
    assert_eq!(backups.len(), 1);
    let (day, _) = worker::scheduler::due_day(BackupSchedule::default().at, now);
    assert_eq!((backups[0].trigger.as_str(), backups[0].scheduled_for), ("scheduled", Some(day)));
    assert!(a.tick(now, Some(db)).await.expect("tick").requested.is_empty(), "a later tick the same day");

    // Even a request under another id for the same day is refused by the read model.
    let other = BackupId::new();
    let cmd = BackupCommand::Request {
        backup_id: other,
        database_id: db,
        operation_id: OperationId::new(),
        trigger: BackupTrigger::Scheduled,
        label: None,
        scheduled_for: Some(day),
    };
    let refused = store.execute::<Backup>(StreamId::backup(other).as_str(), &cmd, &Metadata::default(), &[]).await;
    assert!(matches!(refused, Err(eventstore::StoreError::Conflict(_))), "{refused:?}");

    // Back after a day of downtime: the missed day is caught up by the first tick.
    let later = now + chrono::Duration::days(1);
    assert_eq!(a.tick(later, Some(db)).await.expect("tick").requested.len(), 1);
    assert_eq!(store.backups_of(db).await.expect("backups").len(), 2);
}

#[tokio::test]
async fn retention_deletes_old_backups_and_their_objects_even_of_deleted_databases() {
    let f = fixture().await;
    let store = store(f);
    let runner = runner(&store, &f.fs);
    let (db, name) = database(&store, &runner, "retain", None).await;
    let id = request_backup(&store, db).await;
    runner.run_steps(&Job::Backup { backup_id: id }, 1, None).await.expect("backs up");
    let key = store.backup(id).await.expect("backup").object_key.expect("key");

    let del = OperationId::new();
    let stream = String::from(StreamId::database(db));
    let cmd = DatabaseCommand::RequestDeletion { operation_id: del };
    store.execute::<Database>(&stream, &cmd, &Metadata::default(), &[]).await.expect("store").expect("ok");
    runner.run_steps(&Job::Delete { database_id: db, operation_id: del }, 1, None).await.expect("deletes");

    let scheduler = Scheduler { store: store.clone(), schedule: BackupSchedule::default() };
    let within = scheduler.tick(Utc::now() + chrono::Duration::days(29), Some(db)).await.expect("tick");
    assert!(within.deleted.is_empty(), "a deleted database's backups are kept for the window");
    let past = scheduler.tick(Utc::now() + chrono::Duration::days(31), Some(db)).await.expect("tick");
    assert_eq!(past.deleted, vec![id]);
    assert_eq!(store.backup(id).await.expect("backup").state, BackupState::Deleted);
    let op = BackupRuntime::new(&f.fs).expect("runtime").objects;
    assert!(op.exists(&key).await.expect("stat"));
    runner.run_steps(&Job::PurgeBackup { backup_id: id, object_key: key.clone() }, 1, None).await.expect("purges");
    assert!(objects_of(&op, &name).await.is_empty());
    // A second delivery of the purge is a no-op.
    runner.run_steps(&Job::PurgeBackup { backup_id: id, object_key: key }, 2, None).await.expect("no-op");
}

#[tokio::test]
async fn failed_and_stale_backups_open_incidents_that_the_next_success_resolves() {
    let f = fixture().await;
    let store = store(f);
    let good = runner(&store, &f.fs);
    let (db, _) = database(&store, &good, "incident", None).await;
    let mut broken = good.clone();
    if let Some(rt) = broken.backups.as_mut() {
        rt.bins = hostctl::bins::PgBins { bindir: "/nonexistent".into(), pkglibdir: None };
    }
    for attempt in 1..=2 {
        let id = request_backup(&store, db).await;
        let job = Job::Backup { backup_id: id };
        let err = broken.run_steps(&job, 1, None).await.expect_err("pg_dump cannot start");
        broken.exhausted(job, err.to_string()).await;
        assert_eq!(store.backup(id).await.expect("backup").state, BackupState::Failed);
        let open = store.open_incidents(BACKUP_FAILED, &db.to_string()).await.expect("incidents");
        assert_eq!(open.iter().map(|(_, n)| *n).collect::<Vec<_>>(), vec![attempt], "one incident, bumped");
    }
    let scheduler = Scheduler { store: store.clone(), schedule: BackupSchedule::default() };
    let stale = scheduler.tick(Utc::now() + chrono::Duration::hours(27), Some(db)).await.expect("tick");
    assert_eq!(stale.stale_opened, 1);
    assert_eq!(store.open_incidents(BACKUP_STALE, &db.to_string()).await.expect("incidents").len(), 1);

    let id = request_backup(&store, db).await;
    good.run_steps(&Job::Backup { backup_id: id }, 1, None).await.expect("backs up");
    for kind in [BACKUP_FAILED, BACKUP_STALE] {
        assert!(store.open_incidents(kind, &db.to_string()).await.expect("incidents").is_empty(), "{kind} resolved");
    }
}

#[tokio::test]
async fn a_backup_whose_object_was_altered_fails_verification() {
    let f = fixture().await;
    let store = store(f);
    let runner = runner(&store, &f.fs);
    let (db, name) = database(&store, &runner, "tamper", None).await;
    connect_db(name.as_str())
        .await
        .batch_execute("create table t as select generate_series(1, 100) n")
        .await
        .expect("t");
    let id = request_backup(&store, db).await;
    runner.run_steps(&Job::Backup { backup_id: id }, 1, None).await.expect("backs up");
    let key = store.backup(id).await.expect("backup").object_key.expect("key");
    // Someone with access to the bucket swaps in a dump with one row fewer.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(
        &mut gz,
        b"create table public.t (n int); insert into public.t select generate_series(1, 99);",
    )
    .expect("gz");
    let op = BackupRuntime::new(&f.fs).expect("runtime").objects;
    op.write(&key, gz.finish().expect("gz")).await.expect("overwrites");

    let op_id = OperationId::new();
    let cmd = BackupCommand::RequestVerification { operation_id: op_id };
    store
        .execute::<Backup>(StreamId::backup(id).as_str(), &cmd, &Metadata::default(), &[])
        .await
        .expect("store")
        .expect("ok");
    runner.run_steps(&Job::VerifyBackup { backup_id: id, operation_id: op_id }, 1, None).await.expect("verifies");
    let verified = store.backup(id).await.expect("backup");
    assert_eq!(verified.verified_ok, Some(false));
    assert_eq!(store.last_backup_times(db).await.expect("times").1, None, "never verified good");
}
