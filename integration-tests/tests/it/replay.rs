//! Replay rebuilds the read models in memory and bulk-copies them (not statement by
//! statement, as the live path writes them): both must agree for every kind of event,
//! including awkward text and JSON, which travel through a binary `COPY`.

use std::collections::HashMap;

use chrono::{NaiveDate, TimeZone, Utc};
use domain::{
    AccountEvent, AccountId, AllowlistEvent, BackupEvent, BackupId, BackupTrigger, Cidr, DatabaseEvent, DatabaseId,
    DatabaseName, DatabaseUserEvent, DeletionReason, HostId, OperationId, PlatformRole, RuleId, TableStats, UserId,
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
    log.put(format!("host-{}", host.uuid()), host_event.to_new().expect("enc")).await;
    let acct = format!("account-{}", account.uuid());
    let anon_stream = format!("account-{}", anon.uuid());
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
            AccountEvent::AnonymousAccountCreated { account_id: anon, user_id: anon_user, secret_hash: "ab12".into() },
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
            log.put(format!("database-{}", id.uuid()), e.to_new().expect("enc")).await;
        }
    }
    // The storage-quota lock: one database left locked, one locked and unlocked again.
    let reason = domain::LockReason::StorageQuota;
    for e in [
        DatabaseEvent::DatabaseLocked { database_id: db, reason },
        DatabaseEvent::DatabaseLocked { database_id: anon_db, reason },
        DatabaseEvent::DatabaseUnlocked { database_id: anon_db },
    ] {
        log.put(format!("database-{}", e.database_id().uuid()), e.to_new().expect("enc")).await;
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
        log.put(format!("backup-{}", id.uuid()), e.to_new().expect("enc")).await;
    }

    // Allowlist: one rule stays (with a label and an expiry), one is removed.
    let (kept, removed) = (RuleId::new(), RuleId::new());
    let rules = format!("allowlist-{}", db.uuid());
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
    let users = format!("dbusers-{}", db.uuid());
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
    log.put(format!("backup-{}", bad.uuid()), late.to_new().expect("enc")).await;

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
