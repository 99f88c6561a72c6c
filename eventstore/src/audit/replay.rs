//! Rebuilding the read models from the log and comparing them with the live ones.
//!
//! The log and the live tables are read in one read-only repeatable-read transaction: one
//! snapshot for both sides, so writes in flight (creates, key changes, backups) cannot make a
//! false difference. That transaction never writes, so it never takes a transaction id and
//! holds back nothing: consumers read only below the oldest running transaction id, and a
//! replay that held one would pause job dispatch and activity numbering for the whole
//! platform for as long as it ran.
//!
//! The very projection routine of the append path rebuilds the models, run against rows in
//! memory ([`MemTables`]) instead of statements. The result is copied, one binary `COPY` per
//! table, into temporary tables of a second session (`like public.<table>`, so columns a row
//! never set take the live default), each copy a short transaction of its own. Both sides are
//! then read back as PostgreSQL renders them (`to_jsonb`) and compared row for row.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::future::Either;
use futures::TryStreamExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;
use uuid::Uuid;

use super::{ReadModel, CONSUMER, READ_MODELS};
use crate::codec::{decode_from, RawJson};
use crate::read::parse_tx;
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
    let (mut reader, reader_conn) = store.dedicated().await?;
    let (scratch, scratch_conn) = store.dedicated().await?;
    let scratch_driver = tokio::spawn(async move {
        let _ = scratch_conn.await;
    });
    // The reading connection is driven by this task rather than a spawned one: the rows then
    // reach the projection without waking another thread for every batch the socket
    // delivers, which cost more than decoding them. Both connections close when done.
    let result = {
        let work = replay_on(&mut reader, &scratch, opts);
        futures::pin_mut!(work);
        match futures::future::select(work, reader_conn).await {
            Either::Left((report, _)) => report,
            Either::Right((closed, _)) => closed
                .map_err(StoreError::from)
                .and(Err(StoreError::Unavailable("the replay connection closed".into()))),
        }
    };
    drop(scratch);
    scratch_driver.abort();
    result
}

/// The scratch tables: temporary tables of the scratch session, shaped like the live ones
/// (so columns a rebuilt row never set take the live default). They vanish with the session.
const SCRATCH: &str = "pg_temp";

async fn replay_on(
    reader: &mut tokio_postgres::Client,
    scratch: &tokio_postgres::Client,
    opts: &ReplayOptions,
) -> Result<ReplayReport, StoreError> {
    // The reading transaction only ever reads, so it never takes a transaction id: it holds
    // back no consumer (they read only below the oldest running transaction id) and no job
    // dispatch, however long the log. Everything it reads, the log and the live tables, comes
    // from its one snapshot, so writes in flight cannot make a false difference.
    let tx = reader
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    tx.batch_execute("set local timezone = 'UTC'").await?;
    // The rebuilt rows are written on another session, into its temporary tables, each write
    // a short transaction of its own.
    let mut ddl = String::from("set timezone = 'UTC'; set temp_buffers = '256MB';");
    for m in READ_MODELS {
        ddl.push_str(&format!(
            "create temp table {t} (like public.{t} including defaults including constraints);",
            t = m.table
        ));
    }
    scratch.batch_execute(&ddl).await?;
    // Activity is numbered only up to the audit checkpoint in this snapshot; so is replay's.
    let numbered = tx
        .query_opt(
            "select tx_id::text as tx_text, global_position from consumer_checkpoints where name = $1",
            &[&CONSUMER],
        )
        .await?
        .map(|r| Ok::<_, StoreError>(Position { tx_id: parse_tx(r.get(0))?, global_position: r.get(1) }))
        .transpose()?
        .unwrap_or_default();
    let started = Instant::now();
    let (events, load) = rebuild(&tx, scratch, numbered).await?;
    let rebuild_time = started.elapsed();
    let mut tables = Vec::new();
    if opts.compare {
        for m in READ_MODELS {
            tables.push(compare(&tx, scratch, m, opts.sample).await?);
        }
    }
    tx.rollback().await?;
    Ok(ReplayReport { events, rebuild: rebuild_time, load, tables })
}

/// Rebuilds into the scratch session's tables; returns the events read and the time the
/// final load took.
async fn rebuild(
    tx: &Transaction<'_>,
    scratch: &tokio_postgres::Client,
    numbered: Position,
) -> Result<(u64, Duration), StoreError> {
    let mut tables = MemTables::new(READ_MODELS.iter().map(|m| (m.table, m.key)));
    // One streamed query: the server produces rows while this side projects them.
    let stmt = tx
        .prepare(
            // `tx_text`, not `tx_id`: an output column named `tx_id` would make the
            // `order by` sort the text, and replay "100017" before "99981".
            "select global_position, tx_id::text as tx_text, stream_id, version, event_id, type, schema_version,
                    data, metadata, occurred_at
             from public.events order by events.tx_id, events.global_position",
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
        e.tx_id = parse_tx(tx_id)?;
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
    tables.copy_into(scratch, SCRATCH).await?;
    Ok((n, started.elapsed()))
}

/// Compares one live table (in the reader's snapshot) with its rebuilt copy (in the scratch
/// session), row for row as PostgreSQL renders them (`to_jsonb`), so both sides are compared
/// in the database's own canonical form whatever the types.
async fn compare(
    tx: &Transaction<'_>,
    scratch: &tokio_postgres::Client,
    m: &ReadModel,
    sample: i64,
) -> Result<TableDiff, StoreError> {
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
    let rows = |schema: &str| format!("select to_jsonb(x)::text from (select {cols} from {schema}.{t}) x");
    // Each live row counts +1, each rebuilt row -1: what is left over differs.
    let mut balance: HashMap<String, i64> = HashMap::new();
    let live_rows = tally(tx.query_raw(&rows("public"), no_params()), &mut balance, 1).await?;
    let replayed_rows = tally(scratch.query_raw(&rows(SCRATCH), no_params()), &mut balance, -1).await?;
    let mut only_live = Vec::new();
    let mut only_replayed = Vec::new();
    for (row, n) in balance {
        match n.cmp(&0) {
            std::cmp::Ordering::Greater => only_live.extend(std::iter::repeat_n(row, n as usize)),
            std::cmp::Ordering::Less => only_replayed.extend(std::iter::repeat_n(row, n.unsigned_abs() as usize)),
            std::cmp::Ordering::Equal => {}
        }
    }
    let keep = usize::try_from(sample).unwrap_or_default();
    for rows in [&mut only_live, &mut only_replayed] {
        rows.sort();
        rows.truncate(keep);
    }
    Ok(TableDiff { table: t, live_rows, replayed_rows, only_live, only_replayed })
}

fn no_params() -> std::iter::Empty<&'static (dyn ToSql + Sync)> {
    std::iter::empty()
}

/// Adds `sign` to the balance of each row the query returns; returns how many it returned.
async fn tally(
    rows: impl std::future::Future<Output = Result<tokio_postgres::RowStream, tokio_postgres::Error>>,
    balance: &mut HashMap<String, i64>,
    sign: i64,
) -> Result<i64, StoreError> {
    let rows = rows.await?;
    futures::pin_mut!(rows);
    let mut n = 0;
    while let Some(row) = rows.try_next().await? {
        *balance.entry(row.get(0)).or_default() += sign;
        n += 1;
    }
    Ok(n)
}
