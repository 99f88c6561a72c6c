//! Replay rebuilds the read models in memory and bulk-copies them (not statement by
//! statement, as the live path writes them): both must agree for every kind of event,
//! including awkward text and JSON, which travel through a binary `COPY`.

use std::collections::HashMap;

use chrono::{NaiveDate, TimeZone, Utc};
use domain::{
    AccountEvent, AccountId, AllowlistEvent, BackupEvent, BackupId, BackupTrigger, Cidr, DatabaseEvent, DatabaseId,
    DatabaseName, DatabaseUserEvent, DeletionReason, HostId, OperationId, PlatformRole, RuleId, StreamId, TableStats,
    UserId,
};
use eventstore::{audit, ExpectedVersion, Metadata, NewEvent, Store, StoredEvent};
use integration_tests::{fresh_control_store, unique_name};

/// Appends events one stream at a time, keeping each stream's version.
struct Log {
    store: Store,
    versions: HashMap<String, i64>,
    meta: Metadata,
}

impl Log {
    async fn put(&mut self, stream: String, event: NewEvent) {
        let v = self.versions.entry(stream.clone()).or_default();
        let expected = if *v == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(*v) };
        self.store.append(&stream, expected, &[event], &self.meta, &[]).await.expect("append");
        *v += 1;
    }
}

const AWKWARD: &str = "tab\there, back\\slash, new\nline, quote \" and ünïcødé";

#[tokio::test]
async fn replay_reproduces_backups_allowlists_users_identities_and_claims() {
    let (store, _) = fresh_control_store("audit_replay_all").await;
    let actor = UserId::new();
    let meta = Metadata { actor: domain::Actor { user_id: Some(actor), api_key_id: None }, ..Metadata::default() };
    let mut log = Log { store: store.clone(), versions: HashMap::new(), meta };
    let (host, account, anon, user, anon_user) =
        (HostId::new(), AccountId::new(), AccountId::new(), UserId::new(), UserId::new());
    let host_event = integration_tests::unreachable_host(host);
    log.put(String::from(StreamId::host(host)), host_event.to_new().expect("enc")).await;
    let acct = String::from(StreamId::account(account));
    let anon_stream = String::from(StreamId::account(anon));
    for (stream, e) in [
        (&acct, AccountEvent::AccountCreated { account_id: account, plan: "pro".into() }),
        (
            &acct,
            AccountEvent::UserRegistered {
                account_id: account,
                user_id: user,
                email: format!("{}@berth.test", unique_name("replay")),
                platform_role: PlatformRole::User,
            },
        ),
        (
            &acct,
            AccountEvent::IdentityLinked {
                account_id: account,
                user_id: user,
                issuer: "https://idp.test".into(),
                subject: AWKWARD.into(),
            },
        ),
        (
            &anon_stream,
            AccountEvent::AnonymousAccountCreated {
                account_id: anon,
                user_id: anon_user,
                secret_hash: "ab12".into(),
                signup_source: Some("cd34".into()),
            },
        ),
        (
            &anon_stream,
            AccountEvent::SessionEnded {
                account_id: anon,
                user_id: anon_user,
                session_id: uuid::Uuid::new_v4(),
                expires_at: chrono::Utc::now(),
            },
        ),
    ] {
        log.put(stream.clone(), e.to_new().expect("enc")).await;
    }
    // One database of the account, one of the anonymous account that the claim moves.
    let (db, anon_db) = (DatabaseId::new(), DatabaseId::new());
    for (id, owner) in [(db, account), (anon_db, anon)] {
        let op = OperationId::new();
        for e in [
            DatabaseEvent::DatabaseCreationRequested {
                database_id: id,
                name: DatabaseName::parse(&unique_name("rp")).expect("name"),
                account_id: owner,
                host_id: host,
                operation_id: op,
                engine: "postgres".into(),
                source: None,
            },
            DatabaseEvent::OperationAttemptStarted { database_id: id, operation_id: op, attempt: 1 },
            DatabaseEvent::DatabaseProvisioned { database_id: id, operation_id: op },
        ] {
            log.put(String::from(StreamId::database(id)), e.to_new().expect("enc")).await;
        }
    }
    let abandoned = OperationId::new();
    let restart = DatabaseEvent::DatabaseRestartRequested { database_id: db, operation_id: abandoned };
    log.put(String::from(StreamId::database(db)), restart.to_new().expect("enc")).await;
    // The storage-quota lock: one database left locked, one locked and unlocked again.
    let reason = domain::LockReason::StorageQuota;
    for e in [
        DatabaseEvent::DatabaseLocked { database_id: db, reason },
        DatabaseEvent::DatabaseLocked { database_id: anon_db, reason },
        DatabaseEvent::DatabaseUnlocked { database_id: anon_db },
        // An operation nothing could finish any more, settled by the reconciler.
        DatabaseEvent::OperationAbandoned { database_id: db, operation_id: abandoned, reason: AWKWARD.into() },
    ] {
        log.put(String::from(StreamId::database(e.database_id())), e.to_new().expect("enc")).await;
    }
    let claim = AccountEvent::AccountClaimed {
        account_id: anon,
        by_user_id: user,
        to_account_id: account,
        database_ids: vec![anon_db],
    };
    log.put(anon_stream.clone(), claim.to_new().expect("enc")).await;

    // Backups: one through its whole life, one that failed, one scheduled and deleted.
    let (good, bad, old) = (BackupId::new(), BackupId::new(), BackupId::new());
    let requested = |backup_id, trigger, label: Option<String>, scheduled_for| BackupEvent::BackupRequested {
        backup_id,
        database_id: db,
        operation_id: OperationId::new(),
        trigger,
        label,
        scheduled_for,
    };
    let day = NaiveDate::from_ymd_opt(2026, 11, 21).expect("date");
    let verify_op = OperationId::new();
    let events = [
        (good, requested(good, BackupTrigger::Manual, Some(AWKWARD.into()), None)),
        (good, BackupEvent::BackupStarted { backup_id: good, database_id: db, attempt: 1, object_key: "k1".into() }),
        (good, BackupEvent::BackupStarted { backup_id: good, database_id: db, attempt: 2, object_key: "k2".into() }),
        (
            good,
            BackupEvent::BackupSucceeded {
                backup_id: good,
                database_id: db,
                object_key: "k2".into(),
                size_bytes: 4096,
                sha256: "00ff".into(),
                tables: vec![TableStats { table: "public.\"odd\ttable\"".into(), rows: 3, checksum: "c".into() }],
            },
        ),
        (good, BackupEvent::BackupVerificationRequested { backup_id: good, database_id: db, operation_id: verify_op }),
        (
            good,
            BackupEvent::BackupVerified {
                backup_id: good,
                database_id: db,
                operation_id: Some(verify_op),
                ok: true,
                details: serde_json::json!({ "note": AWKWARD, "tables": [1, 2] }),
            },
        ),
        (bad, requested(bad, BackupTrigger::Manual, None, None)),
        (bad, BackupEvent::BackupStarted { backup_id: bad, database_id: db, attempt: 1, object_key: "k3".into() }),
        (bad, BackupEvent::BackupFailed { backup_id: bad, database_id: db, error: AWKWARD.into() }),
        (old, requested(old, BackupTrigger::Scheduled, None, Some(day))),
        (
            old,
            BackupEvent::BackupDeleted {
                backup_id: old,
                database_id: db,
                reason: DeletionReason::Retention,
                object_key: None,
            },
        ),
    ];
    for (id, e) in events {
        log.put(String::from(StreamId::backup(id)), e.to_new().expect("enc")).await;
    }

    // Allowlist: one rule stays (with a label and an expiry), one is removed.
    let (kept, removed) = (RuleId::new(), RuleId::new());
    let rules = String::from(StreamId::allowlist(db));
    let expires = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).single().expect("time");
    let cidr = |s: &str| Cidr::parse(s).expect("cidr");
    for e in [
        AllowlistEvent::AllowlistRuleAdded {
            database_id: db,
            rule_id: kept,
            cidr: cidr("10.0.0.0/8"),
            label: Some(AWKWARD.into()),
            expires_at: Some(expires),
            open_to_all: false,
        },
        AllowlistEvent::AllowlistRuleAdded {
            database_id: db,
            rule_id: removed,
            cidr: cidr("0.0.0.0/0"),
            label: None,
            expires_at: None,
            open_to_all: true,
        },
        AllowlistEvent::AllowlistRuleRemoved { database_id: db, rule_id: removed, cidr: cidr("0.0.0.0/0") },
    ] {
        log.put(rules.clone(), e.to_new().expect("enc")).await;
    }

    // Database users: one ready, one removed.
    let users = String::from(StreamId::database_users(db));
    let (app, gone) = (DatabaseName::parse("app-user").expect("n"), DatabaseName::parse("old-user").expect("n"));
    for e in [
        DatabaseUserEvent::DatabaseUserCreated { database_id: db, name: app.clone(), role_name: "r_app".into() },
        DatabaseUserEvent::DatabaseUserReady { database_id: db, name: app },
        DatabaseUserEvent::DatabaseUserCreated { database_id: db, name: gone.clone(), role_name: "r_old".into() },
        DatabaseUserEvent::DatabaseUserRemovalRequested { database_id: db, name: gone.clone() },
        DatabaseUserEvent::DatabaseUserRemoved { database_id: db, name: gone, role_name: "r_old".into() },
    ] {
        log.put(users.clone(), e.to_new().expect("enc")).await;
    }

    // Number part of the activity only: replay must number exactly what was numbered.
    store.audit_catch_up().await.expect("catch up");
    let late =
        BackupEvent::BackupDeleted { backup_id: bad, database_id: db, reason: DeletionReason::User, object_key: None };
    log.put(String::from(StreamId::backup(bad)), late.to_new().expect("enc")).await;

    let report = audit::replay(&store).await.expect("replay runs");
    for t in &report.tables {
        assert!(!t.differs(), "{} differs: only live {:?}, only replayed {:?}", t.table, t.only_live, t.only_replayed);
    }
    for table in
        ["identities", "backups", "allowlist_rules", "database_users", "operations", "activity", "accounts", "users"]
    {
        let t = report.tables.iter().find(|t| t.table == table).unwrap_or_else(|| panic!("{table} compared"));
        assert!(t.live_rows > 0 && t.live_rows == t.replayed_rows, "{table}: {} vs {}", t.live_rows, t.replayed_rows);
    }
}

/// The next transaction id the cluster will hand out (takes none itself).
async fn next_xid(c: &tokio_postgres::Client) -> u64 {
    let s: String =
        c.query_one("select pg_snapshot_xmax(pg_current_snapshot())::text", &[]).await.expect("xmax").get(0);
    s.parse().expect("a number")
}

/// Spends `n` transaction ids, each in a transaction of its own (a loop of commits in one
/// `DO` block: about 200,000 a second).
async fn burn_xids(c: &tokio_postgres::Client, n: u64) {
    if n > 0 {
        c.batch_execute(&format!(
            "do $$ begin for i in 1..{n} loop perform pg_current_xact_id(); commit; end loop; end $$"
        ))
        .await
        .expect("burning transaction ids");
    }
}

/// Every real platform's transaction ids cross 1,000, 10,000 and 100,000 in its first day;
/// read as text, "100017" sorts before "99981" and a key revoked after the crossing would be
/// replayed as revoked before it was created. Here a key is created and a database requested
/// just below each of several digit boundaries, and the key revoked and the database
/// provisioned just above it; the consumers' catch-up, replay and the chain must all still
/// follow the commit order.
#[tokio::test]
async fn replay_and_verify_follow_the_commit_order_across_transaction_id_digit_boundaries() {
    use domain::{Account, AccountCommand, Database, DatabaseCommand, KeyScope};
    let (store, url) = fresh_control_store("audit_xid_digits").await;
    let c = integration_tests::connect(&url).await.expect("control plane");
    let owner =
        ops::accounts::bootstrap_user(&store, &format!("{}@berth.test", unique_name("xid")), PlatformRole::User)
            .await
            .expect("seed");
    let meta =
        Metadata { actor: domain::Actor { user_id: Some(owner.user_id), api_key_id: None }, ..Metadata::default() };
    let host = HostId::new();
    let h = integration_tests::unreachable_host(host);
    store
        .append(StreamId::host(host).as_str(), ExpectedVersion::NoStream, &[h.to_new().expect("enc")], &meta, &[])
        .await
        .expect("host");
    let acct = String::from(StreamId::account(owner.account_id));
    let mut crossed = Vec::new();
    let mut burnt = 0;
    // A round whose events miss a side of the boundary (other tests took ids meanwhile) does
    // not count; the next round aims at the next boundary.
    for round in 0..8 {
        if crossed.len() == 3 {
            break;
        }
        let next = next_xid(&c).await;
        let boundary = 10u64.pow(next.to_string().len() as u32);
        // Land below the boundary with room to spare: the other tests share the cluster and
        // take ids too, hundreds in the moment between the burn and this round's first events.
        let below = boundary.saturating_sub(5_000).max(next) - next;
        if burnt + below > 1_500_000 {
            break;
        }
        burn_xids(&c, below).await;
        burnt += below;
        let (key, db, op) = (domain::ApiKeyId::new(), DatabaseId::new(), OperationId::new());
        let db_stream = String::from(StreamId::database(db));
        let create_key = AccountCommand::CreateKey {
            user_id: owner.user_id,
            api_key_id: key,
            prefix: format!("{round:08}"),
            hash: "h".into(),
            label: format!("below {boundary}"),
            scope: KeyScope::Selected(vec![db]),
            read_only: vec![],
            max_keys: 1000,
        };
        store.execute::<Account>(&acct, &create_key, &meta, &[]).await.expect("store").expect("decided");
        let create_db = DatabaseCommand::Create {
            id: db,
            name: DatabaseName::parse(&unique_name("xid")).expect("name"),
            account_id: owner.account_id,
            host_id: host,
            operation_id: op,
            source: None,
            engine: domain::Engine::Postgres,
        };
        store.execute::<Database>(&db_stream, &create_db, &meta, &[]).await.expect("store").expect("decided");
        let above = boundary.saturating_sub(next_xid(&c).await) + 10;
        burn_xids(&c, above).await;
        burnt += above;
        store
            .execute::<Account>(&acct, &AccountCommand::RevokeKey { api_key_id: key }, &meta, &[])
            .await
            .expect("store")
            .expect("decided");
        for cmd in [
            DatabaseCommand::StartAttempt { operation_id: op, attempt: 1 },
            DatabaseCommand::MarkProvisioned { operation_id: op },
        ] {
            store.execute::<Database>(&db_stream, &cmd, &meta, &[]).await.expect("store").expect("decided");
        }
        // Counted only with events of this round on both sides of the boundary.
        let both: bool = c
            .query_one(
                "select bool_or(tx_id < $1::text::xid8) and bool_or(tx_id >= $1::text::xid8)
                 from events where stream_id = $2",
                &[&boundary.to_string(), &db_stream],
            )
            .await
            .expect("sides")
            .get(0);
        if both {
            crossed.push(boundary);
        }
    }
    assert!(crossed.len() >= 2, "crossed only {crossed:?} with events on both sides");
    eprintln!("crossed {crossed:?} ({burnt} transaction ids spent)");

    // The audit consumer's catch-up reaches the real end of the log (not the textual maximum).
    store.audit_catch_up().await.expect("catch up");
    assert_eq!(store.consumer_lag(audit::CONSUMER).await.expect("lag"), 0, "the audit consumer caught up");
    let report = audit::replay(&store).await.expect("replay runs");
    for t in &report.tables {
        assert!(!t.differs(), "{} differs: only live {:?}, only replayed {:?}", t.table, t.only_live, t.only_replayed);
    }
    let keys = report.tables.iter().find(|t| t.table == "api_keys").expect("api_keys compared");
    assert!(keys.live_rows > crossed.len() as i64, "{} keys", keys.live_rows);
    let events: i64 = c.query_one("select count(*) from events", &[]).await.expect("count").get(0);
    assert_eq!(report.events as i64, events);
    let verified = audit::verify(&store).await.expect("verify runs");
    assert!(verified.broken.is_none(), "{:?}", verified.broken);
    assert_eq!(verified.links, events, "every event is chained");
    // The export lists the events in commit order too.
    let mut out = Vec::new();
    audit::export(&store, &audit::ExportFilter::default(), &mut out).await.expect("export");
    let exported: Vec<i64> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["position"].as_i64().expect("position"))
        .collect();
    let order: Vec<i64> = c
        .query("select global_position from events order by events.tx_id, events.global_position", &[])
        .await
        .expect("order")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(exported, order, "export follows the commit order");
}
