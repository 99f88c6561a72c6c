//! The audit library: replay rebuilds the read models exactly, the hash chain catches an
//! edited event at that event, export writes the log as JSON lines with its actors.

use domain::{PlatformRole, StreamId};
use eventstore::audit;
use integration_tests::{fresh_control_store, unique_name};

async fn seed(store: &eventstore::Store, users: usize) -> Vec<ops::accounts::Bootstrapped> {
    let mut out = Vec::new();
    for i in 0..users {
        let email = format!("audit-{i}-{}@berth.test", uuid::Uuid::new_v4().simple());
        out.push(ops::accounts::bootstrap_user(store, &email, PlatformRole::User).await.expect("seed user"));
    }
    out
}

/// Runs `sql` with the append-only trigger off, as someone with the database's keys might.
async fn tamper(url: &str, sql: &str) {
    let c = integration_tests::connect(url).await.expect("control plane");
    c.batch_execute(&format!(
        "begin; alter table events disable trigger events_no_update; {sql};
         alter table events enable trigger events_no_update; commit;"
    ))
    .await
    .expect("tampering");
}

/// Every kind of event, written through the same store paths the API and workers use, into
/// a control-plane database of the test's own (replay of the busy shared one is racy; see
/// the audit notes), then rebuilt by replay and compared table by table.
#[tokio::test]
async fn replay_reproduces_every_read_model() {
    use domain::{
        Account, AccountCommand, CollaboratorsCommand, Database, DatabaseCommand, DatabaseName, HostId, KeyScope,
        OperationId, Plan, ShareRole,
    };
    use eventstore::{ExpectedVersion, Metadata, StoredEvent};
    let (store, _) = fresh_control_store("audit_replay").await;
    let users = seed(&store, 2).await;
    let (owner, friend) = (&users[0], &users[1]);
    let host = HostId::new();
    let h = integration_tests::unreachable_host(host);
    store
        .append(
            StreamId::host(host).as_str(),
            ExpectedVersion::NoStream,
            &[h.to_new().expect("enc")],
            &Metadata::default(),
            &[],
        )
        .await
        .expect("host");
    let meta =
        Metadata { actor: domain::Actor { user_id: Some(owner.user_id), api_key_id: None }, ..Metadata::default() };
    let name = DatabaseName::parse(&unique_name("replayed")).expect("name");
    let requested = integration_tests::request_database(&store, owner.account_id, host, &name, None, &meta).await;
    let (db, op) = (requested.id, requested.operation_id);
    let db_stream = String::from(StreamId::database(db));
    for cmd in [
        DatabaseCommand::StartAttempt { operation_id: op, attempt: 1 },
        DatabaseCommand::MarkProvisioned { operation_id: op },
    ] {
        store.execute::<Database>(&db_stream, &cmd, &meta, &[]).await.expect("store").expect("decided");
    }
    let acct = String::from(StreamId::account(owner.account_id));
    let key = domain::ApiKeyId::new();
    for cmd in [
        AccountCommand::ChangePlan { plan: Plan::Business },
        AccountCommand::CreateKey {
            user_id: owner.user_id,
            api_key_id: key,
            prefix: "zzzzzzzz".into(),
            hash: "h".into(),
            label: "k".into(),
            scope: KeyScope::Selected(vec![db]),
            read_only: vec![],
            max_keys: 50,
        },
        AccountCommand::ReplaceKey { api_key_id: key, prefix: "yyyyyyyy".into(), hash: "h2".into() },
        AccountCommand::RevokeKey { api_key_id: key },
    ] {
        store.execute::<Account>(&acct, &cmd, &meta, &[]).await.expect("store").expect("decided");
    }
    let collaborators = String::from(StreamId::collaborators(db));
    for cmd in [
        CollaboratorsCommand::Share {
            database_id: db,
            user_id: friend.user_id,
            email: "f@berth.test".into(),
            role: ShareRole::Viewer,
            user_account: friend.account_id,
            owner_account: owner.account_id,
        },
        CollaboratorsCommand::ChangeRole { database_id: db, user_id: friend.user_id, role: ShareRole::Admin },
    ] {
        store
            .execute::<domain::Collaborators>(&collaborators, &cmd, &meta, &[])
            .await
            .expect("store")
            .expect("decided");
    }
    let del = OperationId::new();
    for cmd in
        [DatabaseCommand::RequestDeletion { operation_id: del }, DatabaseCommand::MarkDeleted { operation_id: del }]
    {
        store.execute::<Database>(&db_stream, &cmd, &meta, &[]).await.expect("store").expect("decided");
    }
    store.audit_catch_up().await.expect("catch up");

    let report = audit::replay(&store).await.expect("replay runs");
    for t in &report.tables {
        assert!(!t.differs(), "{} differs: only live {:?}, only replayed {:?}", t.table, t.only_live, t.only_replayed);
    }
    for table in ["accounts", "users", "api_keys", "hosts", "databases", "operations", "activity", "collaborators"] {
        let t = report.tables.iter().find(|t| t.table == table).unwrap_or_else(|| panic!("{table} compared"));
        assert!(t.live_rows > 0, "{table} has rows to compare");
    }
}

#[tokio::test]
async fn replay_names_the_table_and_row_that_drifted_from_the_log() {
    let (store, url) = fresh_control_store("audit_drift").await;
    seed(&store, 2).await;
    store.audit_catch_up().await.expect("catch up");
    assert!(audit::replay(&store).await.expect("replay").clean());

    let c = integration_tests::connect(&url).await.expect("control plane");
    c.batch_execute("update users set platform_role = 'admin' where email like 'audit-0-%'").await.expect("drift");
    let report = audit::replay(&store).await.expect("replay");
    let users = report.tables.iter().find(|t| t.table == "users").expect("users compared");
    assert!(users.differs());
    assert!(users.only_live.iter().any(|r| r.contains("\"admin\"")), "{:?}", users.only_live);
    assert!(users.only_replayed.iter().any(|r| r.contains("\"user\"")), "{:?}", users.only_replayed);
    assert!(report.tables.iter().filter(|t| t.table != "users").all(|t| !t.differs()));
}

#[tokio::test]
async fn verify_fails_at_exactly_the_event_that_was_edited() {
    let (store, url) = fresh_control_store("audit_chain").await;
    seed(&store, 3).await;
    store.audit_catch_up().await.expect("chain the log");
    let ok = audit::verify(&store).await.expect("verify");
    assert!(ok.broken.is_none(), "{:?}", ok.broken);
    assert_eq!(ok.links, 9, "3 users × (account, user, key)");

    let c = integration_tests::connect(&url).await.expect("control plane");
    let target: (i64, uuid::Uuid) = c
        .query_one("select global_position, event_id from events order by global_position offset 4 limit 1", &[])
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("the fifth event");
    tamper(
        &url,
        &format!(
            "update events set data = data || '{{\"email\": \"x@evil.test\"}}' where global_position = {}",
            target.0
        ),
    )
    .await;

    let report = audit::verify(&store).await.expect("verify");
    let broken = report.broken.expect("the chain is broken");
    assert_eq!((broken.global_position, broken.event_id), target);
    assert_eq!(report.links, 4, "the four links before it hold");
}

#[tokio::test]
async fn a_deleted_event_breaks_the_chain_at_its_link() {
    let (store, url) = fresh_control_store("audit_delete").await;
    seed(&store, 2).await;
    store.audit_catch_up().await.expect("chain the log");
    let c = integration_tests::connect(&url).await.expect("control plane");
    let gp: i64 = c.query_one("select max(global_position) from events", &[]).await.expect("last event").get(0);
    tamper(&url, &format!("delete from events where global_position = {gp}")).await;
    let broken = audit::verify(&store).await.expect("verify").broken.expect("broken");
    assert_eq!(broken.global_position, gp);
}

#[tokio::test]
async fn export_writes_json_lines_with_the_recorded_actors() {
    let (store, _) = fresh_control_store("audit_export").await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let users = seed(&store, 2).await;
    store.audit_catch_up().await.expect("chain");
    let mut out = Vec::new();
    let n = audit::export(&store, &audit::ExportFilter { since: Some(since), database: None }, &mut out)
        .await
        .expect("export");
    assert_eq!(n, 6);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 6);
    let keys: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "ApiKeyCreated").collect();
    assert_eq!(keys.len(), 2);
    for (line, user) in keys.iter().zip(&users) {
        assert_eq!(line["actor"]["user_id"], user.user_id.to_string());
        assert!(line["id"].as_str().is_some_and(|i| i.starts_with("evt_")));
        assert!(line["chain_hash"].as_str().is_some_and(|h| h.len() == 64));
        assert!(!line.to_string().contains(&user.key), "no secret in the export");
    }
    let mut later = Vec::new();
    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    let n = audit::export(&store, &audit::ExportFilter { since: Some(future), database: None }, &mut later)
        .await
        .expect("export");
    assert_eq!((n, later.len()), (0, 0));
}
