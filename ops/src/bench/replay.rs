//! Replay (the audit rebuild: read the log in commit order, in a read-only snapshot, and run
//! every event through the live projection into scratch tables) against reading the same rows, in the same order,
//! with `COPY (SELECT … ORDER BY …) TO STDOUT`: how much projecting costs over just reading.
//!
//! The log is a realistic mix in a fresh control-plane database: per account, its creation,
//! a user, and two databases that are created, provisioned and deleted (12 events, 4 of
//! them activity entries). It is numbered and chained by the audit consumer's own code first,
//! so the replay also numbers activity.

use std::time::{Duration, Instant};

use domain::{
    AccountEvent, AccountId, DatabaseEvent, DatabaseId, DatabaseName, HostEvent, HostId, OperationId, PlatformRole,
    StreamId, UserId,
};
use eventstore::audit::{self, ReplayOptions};
use eventstore::{Metadata, NewEvent, Store, StoredEvent};
use futures::TryStreamExt;
use tokio_postgres::Client;

fn account_block(i: usize, host: HostId) -> anyhow::Result<Vec<(String, NewEvent)>> {
    let account = AccountId::new();
    let user = UserId::new();
    let account_stream = String::from(StreamId::account(account));
    let mut out = vec![
        (account_stream.clone(), AccountEvent::AccountCreated { account_id: account, plan: "free".into() }.to_new()?),
        (
            account_stream,
            AccountEvent::UserRegistered {
                account_id: account,
                user_id: user,
                email: format!("bench-{i}@berth.test"),
                platform_role: PlatformRole::User,
            }
            .to_new()?,
        ),
    ];
    for d in 0..2 {
        let database_id = DatabaseId::new();
        let (create, delete) = (OperationId::new(), OperationId::new());
        let stream = String::from(StreamId::database(database_id));
        let name = DatabaseName::parse(&format!("bench-{i}-{d}")).map_err(|e| anyhow::anyhow!("{e}"))?;
        for e in [
            DatabaseEvent::DatabaseCreationRequested {
                database_id,
                name,
                account_id: account,
                host_id: host,
                operation_id: create,
                engine: "postgres".into(),
                source: None,
            },
            DatabaseEvent::OperationAttemptStarted { database_id, operation_id: create, attempt: 1 },
            DatabaseEvent::DatabaseProvisioned { database_id, operation_id: create },
            DatabaseEvent::DatabaseDeletionRequested { database_id, operation_id: delete },
            DatabaseEvent::DatabaseDeleted { database_id, operation_id: delete },
        ] {
            out.push((stream.clone(), e.to_new()?));
        }
    }
    Ok(out)
}

/// Writes about `n` events straight into the log, 2,400 per transaction (generating the log
/// is not what is measured).
async fn generate(client: &Client, n: usize) -> anyhow::Result<usize> {
    let host = HostId::new();
    let registered = HostEvent::HostRegistered {
        host_id: host,
        name: "bench".into(),
        pg_host: "127.0.0.1".into(),
        pg_port: 1,
        superuser: "postgres".into(),
        bouncer_host: "127.0.0.1".into(),
        bouncer_port: 2,
        admin_user: "pgbouncer".into(),
        config_dir: "/nonexistent".into(),
        capacity: 0,
        engine: "postgres".into(),
        region: domain::DEFAULT_REGION.into(),
    };
    let mut rows = vec![(String::from(StreamId::host(host)), registered.to_new()?)];
    let meta = serde_json::to_value(Metadata {
        actor: domain::Actor { user_id: Some(UserId::new()), api_key_id: None },
        ..Default::default()
    })?;
    let mut i = 0;
    while rows.len() < n {
        rows.extend(account_block(i, host)?);
        i += 1;
    }
    let mut versions = std::collections::HashMap::<String, i64>::new();
    for chunk in rows.chunks(2400) {
        let (mut streams, mut vers, mut ids, mut types, mut data) = (vec![], vec![], vec![], vec![], vec![]);
        for (stream, e) in chunk {
            let v = versions.entry(stream.clone()).or_default();
            *v += 1;
            streams.push(stream.clone());
            vers.push(*v);
            ids.push(e.event_id);
            types.push(e.event_type.to_owned());
            data.push(e.data.clone());
        }
        client
            .execute(
                "insert into events (stream_id, version, event_id, type, schema_version, data, metadata, occurred_at)
                 select s, v, i, t, 1, d, $6, now()
                 from unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::jsonb[]) as u(s, v, i, t, d)",
                &[&streams, &vers, &ids, &types, &data, &meta],
            )
            .await?;
    }
    Ok(rows.len())
}

async fn copy_read(client: &Client) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let stream = client
        .copy_out(
            "copy (select global_position, tx_id, stream_id, version, event_id, type, schema_version, data, metadata,
                          occurred_at
                   from events order by events.tx_id, events.global_position) to stdout",
        )
        .await?;
    futures::pin_mut!(stream);
    let mut bytes = 0u64;
    while let Some(chunk) = stream.try_next().await? {
        bytes += chunk.len() as u64;
    }
    Ok((started.elapsed(), bytes))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub async fn run(events: usize) -> anyhow::Result<()> {
    anyhow::ensure!(events >= 100, "--events must be at least 100");
    let platform = crate::local::testing::shared().await;
    let db = format!("bench_replay_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    platform.control.create_database_if_missing(&db).await?;
    let url = platform.control.url(&db);
    let store = Store::connect(&url, 4)?;
    store.migrate().await?;
    let client = crate::local::connect(&url).await?;
    let n = generate(&client, events).await?;
    client.batch_execute("analyze").await?;
    let numbered = store.audit_catch_up().await?;
    println!("bench replay: {n} events ({numbered} numbered and chained), fresh control-plane database, fsync off");
    let opts = ReplayOptions { compare: false, ..ReplayOptions::default() };
    let (mut ours, mut raw, mut load) = (Vec::new(), Vec::new(), Vec::new());
    let mut mb = 0.0;
    for _ in 0..3 {
        let report = audit::replay_with(&store, &opts).await?;
        anyhow::ensure!(report.events as usize == n, "replay read {} of {n} events", report.events);
        ours.push(n as f64 / report.rebuild.as_secs_f64());
        load.push(report.load.as_secs_f64() / report.rebuild.as_secs_f64());
        let (took, bytes) = copy_read(&client).await?;
        raw.push(n as f64 / took.as_secs_f64());
        mb = bytes as f64 / 1e6;
    }
    let (o, r) = (median(ours), median(raw));
    println!("  replay (project into scratch tables): {o:.0} events/s (median of 3; target ≥ 100000)");
    println!("    of which loading the rebuilt rows (COPY into the scratch tables): {:.0}%", median(load) * 100.0);
    println!("  raw COPY … ORDER BY … TO STDOUT:      {r:.0} rows/s ({mb:.1} MB)");
    println!("  ratio {:.2}x (target ≥ 0.3x)", o / r);
    let started = Instant::now();
    let verified = audit::verify(&store).await?;
    anyhow::ensure!(verified.broken.is_none(), "the chain of the generated log is broken: {:?}", verified.broken);
    println!("  audit verify: {:.0} links/s", verified.links as f64 / started.elapsed().as_secs_f64());
    drop(client);
    let admin = crate::local::connect(&platform.control.url("postgres")).await?;
    admin.batch_execute(&format!("drop database if exists {db} with (force)")).await?;
    Ok(())
}
