//! Rebuilding the read models from the log and comparing them with the live ones.
//!
//! Everything happens in one repeatable-read transaction that is rolled back at the end: the
//! scratch schema never outlives the run, and the live tables and the log are read in the
//! same snapshot, so concurrent writers cannot make a false difference. The very projection
//! routine of the append path rebuilds the models, run against rows in memory
//! ([`MemTables`]) instead of statements, and the result is copied into scratch tables
//! (`like public.<table>`, without indexes) with one `COPY` per table: a rebuild costs a
//! read of the log and a bulk load, not a round trip per write.

use std::time::{Duration, Instant};

use futures::future::Either;
use futures::TryStreamExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;
use uuid::Uuid;

use super::{ReadModel, CONSUMER, READ_MODELS};
use crate::codec::{decode_from, RawJson};
use crate::tables::MemTables;
use crate::{projection, Position, RecordedEvent, Store, StoreError};

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Differences shown per table and direction.
    pub sample: i64,
    /// Compare with the live tables (the benchmark only measures the rebuild).
    pub compare: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self { sample: 10, compare: true }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TableDiff {
    pub table: &'static str,
    pub live_rows: i64,
    pub replayed_rows: i64,
    /// Rows (as JSON) live but not rebuilt, and rebuilt but not live; at most `sample` each.
    pub only_live: Vec<String>,
    pub only_replayed: Vec<String>,
}

impl TableDiff {
    pub fn differs(&self) -> bool {
        !self.only_live.is_empty() || !self.only_replayed.is_empty()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    pub events: u64,
    /// Time spent reading and projecting the log and loading the result (not comparing).
    pub rebuild: Duration,
    /// The part of `rebuild` spent copying the rebuilt rows into the scratch tables.
    pub load: Duration,
    pub tables: Vec<TableDiff>,
}

impl ReplayReport {
    pub fn clean(&self) -> bool {
        self.tables.iter().all(|t| !t.differs())
    }
}

pub async fn replay(store: &Store) -> Result<ReplayReport, StoreError> {
    replay_with(store, &ReplayOptions::default()).await
}

pub async fn replay_with(store: &Store, opts: &ReplayOptions) -> Result<ReplayReport, StoreError> {
    let (mut client, conn) = store.dedicated().await?;
    // The connection is driven by this task rather than a spawned one: the rows then reach
    // the projection without waking another thread for every batch the socket delivers, which
    // cost more than decoding them. Once the replay is done the connection is dropped.
    let work = replay_on(&mut client, opts);
    futures::pin_mut!(work);
    match futures::future::select(work, conn).await {
        Either::Left((report, _)) => report,
        Either::Right((closed, _)) => {
            closed?;
            Err(StoreError::Unavailable("the replay connection closed".into()))
        }
    }
}

async fn replay_on(client: &mut tokio_postgres::Client, opts: &ReplayOptions) -> Result<ReplayReport, StoreError> {
    let tx = client.build_transaction().isolation_level(tokio_postgres::IsolationLevel::RepeatableRead).start().await?;
    let scratch = format!("berth_replay_{}", Uuid::new_v4().simple());
    let mut ddl = format!("create schema {scratch};");
    // Unlogged: the rebuilt rows never outlive the transaction, so writing them to the WAL
    // would only slow the load.
    for m in READ_MODELS {
        ddl.push_str(&format!(
            "create unlogged table {scratch}.{t} (like public.{t} including defaults including constraints);",
            t = m.table
        ));
    }
    tx.batch_execute(&ddl).await?;
    // Activity is numbered only up to the audit checkpoint in this snapshot; so is replay's.
    let numbered = tx
        .query_opt("select tx_id::text, global_position from consumer_checkpoints where name = $1", &[&CONSUMER])
        .await?
        .map(|r| Position { tx_id: r.get::<_, String>(0).parse().unwrap_or_default(), global_position: r.get(1) })
        .unwrap_or_default();
    let started = Instant::now();
    let (events, load) = rebuild(&tx, numbered, &scratch).await?;
    let rebuild_time = started.elapsed();
    let mut tables = Vec::new();
    if opts.compare {
        for m in READ_MODELS {
            tables.push(compare(&tx, &scratch, m, opts.sample).await?);
        }
    }
    tx.rollback().await?;
    Ok(ReplayReport { events, rebuild: rebuild_time, load, tables })
}

/// Rebuilds into `scratch`; returns the events read and the time the final load took.
async fn rebuild(tx: &Transaction<'_>, numbered: Position, scratch: &str) -> Result<(u64, Duration), StoreError> {
    let mut tables = MemTables::new(READ_MODELS.iter().map(|m| (m.table, m.key)));
    // One streamed query: the server produces rows while this side projects them.
    let stmt = tx
        .prepare(
            "select global_position, tx_id::text, stream_id, version, event_id, type, schema_version, data, metadata,
                    occurred_at
             from public.events order by tx_id, global_position",
        )
        .await?;
    // Sized from the live tables' statistics: growing maps of a hundred thousand rows step by
    // step cost a few percent of the replay.
    let names: Vec<&str> = READ_MODELS.iter().map(|m| m.table).collect();
    for r in tx
        .query(
            "select relname::text, greatest(reltuples, 0)::int8 from pg_class
             where relnamespace = 'public'::regnamespace and relname = any($1)",
            &[&names],
        )
        .await?
    {
        tables.reserve(&r.get::<_, String>(0), usize::try_from(r.get::<_, i64>(1)).unwrap_or_default());
    }
    let rows = tx.query_raw(&stmt, std::iter::empty::<&(dyn ToSql + Sync)>()).await?;
    futures::pin_mut!(rows);
    let mut n = 0;
    // One event, refilled row by row; metadata is parsed again only when it changes (the
    // events of one append share it).
    let mut e = RecordedEvent {
        global_position: 0,
        tx_id: 0,
        stream_id: String::new(),
        version: 0,
        event_id: Uuid::nil(),
        event_type: String::new(),
        schema_version: 0,
        // Projections read the decoded event, never the raw data.
        data: serde_json::Value::Null,
        metadata: Default::default(),
        occurred_at: Default::default(),
    };
    let mut metadata: Vec<u8> = Vec::new();
    while let Some(row) = rows.try_next().await? {
        let tx_id: &str = row.get(1);
        let (stream_id, event_type, schema_version): (&str, &str, i32) = (row.get(2), row.get(5), row.get(6));
        let decoded = decode_from(stream_id, event_type, schema_version, row.get::<_, RawJson>(7).0);
        e.global_position = row.get(0);
        e.tx_id = tx_id.parse().map_err(|_| StoreError::Codec(format!("bad tx_id {tx_id}")))?;
        e.stream_id.clear();
        e.stream_id.push_str(stream_id);
        e.version = row.get(3);
        e.event_id = row.get(4);
        e.event_type.clear();
        e.event_type.push_str(event_type);
        e.schema_version = schema_version;
        let raw_metadata = row.get::<_, RawJson>(8).0;
        if raw_metadata != metadata.as_slice() {
            e.metadata = serde_json::from_slice(raw_metadata)?;
            metadata.clear();
            metadata.extend_from_slice(raw_metadata);
        }
        e.occurred_at = row.get(9);
        let projected = match decoded {
            Ok(d) => projection::project_decoded(&mut tables, &e, d).await,
            Err(err) => Err(err),
        };
        projected.map_err(|err| {
            StoreError::Codec(format!(
                "replaying {} #{} ({}, position {}): {err}",
                e.stream_id, e.version, e.event_type, e.global_position
            ))
        })?;
        if e.position() <= numbered {
            tables.number_activity(e.event_id);
        }
        n += 1;
    }
    tracing::debug!(events = n, rows = tables.len(), "replay: copying the rebuilt read models");
    let started = Instant::now();
    tables.copy_into(tx, scratch).await?;
    Ok((n, started.elapsed()))
}

async fn compare(tx: &Transaction<'_>, scratch: &str, m: &ReadModel, sample: i64) -> Result<TableDiff, StoreError> {
    let observed: Vec<String> = m.observed.iter().map(|c| c.to_string()).collect();
    let cols: Vec<String> = tx
        .query(
            "select quote_ident(column_name::text) from information_schema.columns
             where table_schema = 'public' and table_name = $1 and column_name::text <> all($2)
             order by ordinal_position",
            &[&m.table, &observed],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let cols = cols.join(", ");
    let t = m.table;
    let count = |schema: &str| format!("select count(*) from {schema}.{t}");
    let live_rows: i64 = tx.query_one(&count("public"), &[]).await?.get(0);
    let replayed_rows: i64 = tx.query_one(&count(scratch), &[]).await?.get(0);
    let diff = |a: &str, b: &str| {
        format!(
            "select to_jsonb(x)::text from (select {cols} from {a}.{t} except all select {cols} from {b}.{t}) x
             order by 1 limit {sample}"
        )
    };
    let rows_of = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>();
    let only_live = rows_of(tx.query(&diff("public", scratch), &[]).await?);
    let only_replayed = rows_of(tx.query(&diff(scratch, "public"), &[]).await?);
    Ok(TableDiff { table: t, live_rows, replayed_rows, only_live, only_replayed })
}
