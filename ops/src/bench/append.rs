//! Event-store appends against raw INSERTs of the same rows into a plain table of the same
//! shape, in the same control-plane cluster, same run: single-event transactions at
//! concurrency 1 and 16, and 10-event batches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstore::{ExpectedVersion, Metadata, NewEvent, Store};
use tokio_postgres::Client;

use crate::harness;

/// Exactly the shape of `events`, its indexes and constraints included (LIKE does not copy
/// the immutability trigger, which only fires on UPDATE and DELETE).
const SHAPE: &str = "drop table if exists bench_raw_events;
    create table bench_raw_events (like events including all)";

fn event(i: usize) -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: "BenchEventRecorded",
        schema_version: 1,
        data: serde_json::json!({ "type": "BenchEventRecorded", "n": i, "note": "a row of event-like size" }),
    }
}

/// Runs `total` appends split over `tasks` concurrent tasks, each with its own streams.
async fn ours(store: &Store, total: usize, tasks: usize, batch: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let store = store.clone();
        let per = total / tasks;
        set.spawn(async move {
            let stream = format!("bench-{}", uuid::Uuid::new_v4());
            let mut version = 0i64;
            for chunk in 0..per / batch {
                let events: Vec<NewEvent> = (0..batch).map(|i| event(t * per + chunk * batch + i)).collect();
                let expected = if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
                store.append(&stream, expected, &events, &Metadata::default(), &[]).await?;
                version += batch as i64;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(start.elapsed())
}

/// What a competent developer writes against a plain table: one autocommit INSERT through a
/// prepared statement per event, or one multi-row INSERT from arrays per batch.
async fn raw(clients: &[Arc<Client>], total: usize, batch: usize) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let per = total / clients.len();
    for c in clients {
        let c = c.clone();
        set.spawn(async move {
            let stream = format!("bench-{}", uuid::Uuid::new_v4());
            let meta = serde_json::to_value(Metadata::default())?;
            if batch == 1 {
                let insert = c
                    .prepare(
                        "insert into bench_raw_events
                             (stream_id, version, event_id, type, schema_version, data, metadata, occurred_at)
                         values ($1, $2, $3, $4, $5, $6, $7, now())",
                    )
                    .await?;
                for i in 0..per {
                    let e = event(i);
                    let v = (i + 1) as i64;
                    c.execute(&insert, &[&stream, &v, &e.event_id, &e.event_type, &e.schema_version, &e.data, &meta])
                        .await?;
                }
                return anyhow::Ok(());
            }
            let insert = c
                .prepare(
                    "insert into bench_raw_events
                         (stream_id, version, event_id, type, schema_version, data, metadata, occurred_at)
                     select $1, v, id, t, $5, d, $6, now()
                       from unnest($2::bigint[], $3::uuid[], $4::text[], $7::jsonb[]) as u(v, id, t, d)",
                )
                .await?;
            for chunk in 0..per / batch {
                let events: Vec<NewEvent> = (0..batch).map(|i| event(chunk * batch + i)).collect();
                let versions: Vec<i64> = (0..batch).map(|i| (chunk * batch + i + 1) as i64).collect();
                let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
                let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
                let data: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();
                c.execute(&insert, &[&stream, &versions, &ids, &types, &1i32, &meta, &data]).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(start.elapsed())
}

async fn raw_notified(c: &Client, total: usize) -> anyhow::Result<Duration> {
    let insert = c
        .prepare(
            "with i as (
                 insert into bench_raw_events
                     (stream_id, version, event_id, type, schema_version, data, metadata, occurred_at)
                 values ($1, $2, $3, $4, $5, $6, $7, now())
                 returning 1)
             select pg_notify('berth_events', $1) from i",
        )
        .await?;
    let stream = format!("bench-{}", uuid::Uuid::new_v4());
    let meta = serde_json::to_value(Metadata::default())?;
    let start = Instant::now();
    for i in 0..total {
        let e = event(i);
        let v = (i + 1) as i64;
        c.query(&insert, &[&stream, &v, &e.event_id, &e.event_type, &e.schema_version, &e.data, &meta]).await?;
    }
    Ok(start.elapsed())
}

/// Two settings, each with its own baseline table beside `events`:
/// - the event store alone: a scratch database of the same cluster, migrated, with nothing
///   listening or consuming — what the append path itself costs (the target);
/// - the live platform's control database, where every append also feeds the dispatch and
///   audit consumers (which read each event back and chain it) and the API's listener, all
///   sharing the machine's cores with the writers.
pub async fn run(events: usize) -> anyhow::Result<()> {
    anyhow::ensure!(events >= 160, "--events must be at least 160");
    let h = harness::shared();
    let scratch = format!("bench_append_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    h.platform.control.create_database_if_missing(&scratch).await?;
    let scratch_url = h.platform.control.url(&scratch);
    println!("bench append: {events} events per case, control-plane cluster, fsync off");
    let alone = Store::connect(&scratch_url, 16)?.with_keyring(h.keyring.clone());
    alone.migrate().await?;
    println!(" event store alone (scratch database, no listener or consumer):");
    let result = cases(&alone, &scratch_url, events).await;
    drop(alone);
    let admin = crate::local::connect(&h.control_url).await?;
    admin.batch_execute(&format!("drop database \"{scratch}\" with (force)")).await?;
    result?;
    println!(" live platform (dispatch and audit consumers and the API listener at work):");
    let live = Store::connect(&h.control_url, 16)?.with_keyring(h.keyring.clone());
    cases(&live, &h.control_url, events).await
}

async fn cases(store: &Store, url: &str, events: usize) -> anyhow::Result<()> {
    let mut clients = Vec::new();
    for _ in 0..16 {
        clients.push(Arc::new(crate::local::connect(url).await?));
    }
    clients[0].batch_execute(SHAPE).await?;
    for (label, tasks, batch) in [
        ("1 event/tx, concurrency 1", 1, 1),
        ("1 event/tx, concurrency 16", 16, 1),
        ("10 events/tx, concurrency 1", 1, 10),
    ] {
        // Median of three rounds each, alternating, to ride out noise.
        let (mut o, mut r) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            o.push(events as f64 / ours(store, events, tasks, batch).await?.as_secs_f64());
            r.push(events as f64 / raw(&clients[..tasks], events, batch).await?.as_secs_f64());
        }
        o.sort_by(f64::total_cmp);
        r.sort_by(f64::total_cmp);
        let (o, r) = (o[1], r[1]);
        println!("  {label}: append {o:.0} events/s, raw insert {r:.0} rows/s, ratio {:.2}x (target ≥ 0.7x)", o / r);
    }
    // Not a target, a reference: what a NOTIFY per transaction (as account appends send in
    // their statement) costs a raw INSERT alone.
    let mut n = Vec::new();
    for _ in 0..3 {
        n.push(events as f64 / raw_notified(&clients[0], events).await?.as_secs_f64());
    }
    n.sort_by(f64::total_cmp);
    println!(
        "  reference: raw insert + pg_notify in the same statement, 1 event/tx, concurrency 1: {:.0} rows/s",
        n[1]
    );
    clients[0].batch_execute("drop table bench_raw_events").await?;
    Ok(())
}
