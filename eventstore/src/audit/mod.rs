//! The audit trail: what proves the log is complete and untampered, and that the read
//! models are nothing but a function of it.
//!
//! - The **audit consumer** (a checkpointed singleton over the commit order) extends the hash
//!   chain and numbers activity rows, in one transaction with its checkpoint, so a snapshot
//!   always shows the chain and the numbering exactly up to the checkpoint.
//! - [`replay`] rebuilds every read model with the live projection routine and compares it
//!   with the live tables, in one read-only snapshot that holds back no consumer.
//! - [`verify`] recomputes the chain; [`export`] writes the log as JSON lines.

mod chain;
mod export;
mod replay;

use std::sync::Arc;

use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::consumer::Handler;
use crate::read::parse_tx;
use crate::{Position, RecordedEvent, Store, StoreError};

pub use chain::{verify, verify_anchored, BrokenLink, VerifyReport, GENESIS};
pub use export::{export, ExportFilter};
pub use replay::{replay, replay_with, ReplayOptions, ReplayReport, TableDiff};

/// The consumer name of the audit consumer (and its checkpoint row).
pub const CONSUMER: &str = "audit";

/// A read model: a table the projections write and replay must reproduce.
#[derive(Debug, Clone, Copy)]
pub struct ReadModel {
    pub table: &'static str,
    /// Its primary key (replay keeps rows in memory by it).
    pub key: &'static [&'static str],
    /// Columns that record observations rather than events (usage, sizes); not compared.
    pub observed: &'static [&'static str],
}

const fn model(table: &'static str, key: &'static [&'static str], observed: &'static [&'static str]) -> ReadModel {
    ReadModel { table, key, observed }
}

/// Every read model, in one place: a new projection adds its tables here, and replay then
/// rebuilds and compares them.
pub const READ_MODELS: &[ReadModel] = &[
    model("accounts", &["id"], &[]),
    model("users", &["id"], &[]),
    model("api_keys", &["id"], &["last_used_at"]),
    model("hosts", &["id"], &[]),
    model("databases", &["id"], &["size_bytes"]),
    model("operations", &["id"], &[]),
    model("activity", &["event_id"], &[]),
    model("identities", &["issuer", "subject"], &[]),
    model("collaborators", &["database_id", "user_id"], &[]),
    model("backups", &["id"], &[]),
    model("allowlist_rules", &["id"], &[]),
    model("database_users", &["database_id", "name"], &[]),
    model("ended_sessions", &["session_id"], &[]),
    model("query_log", &["id"], &[]),
    model("sql_settings", &["database_id"], &[]),
    model("sql_approvals", &["id"], &[]),
    model("data_keys", &["id"], &[]),
    model("data_auth_configs", &["database_id"], &[]),
    model("database_forwards", &["database_id", "from_host_id"], &[]),
];

/// Numbers the not-yet-numbered activity rows of `events` (given in commit order) with the
/// next sequence numbers. Shared by the consumer and replay, so both number alike; new rows
/// only ever get numbers above every listed row, which keeps newest-first paging stable.
pub(crate) async fn sequence_activity(tx: &Transaction<'_>, events: &[Uuid]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    tx.execute(
        "with todo as (
             select a.event_id, row_number() over (order by o.n) as r
             from unnest($1::uuid[]) with ordinality as o(event_id, n)
             join activity a on a.event_id = o.event_id and a.seq is null),
         base as (select coalesce(max(seq), 0) as b from activity)
         update activity a set seq = base.b + todo.r from todo, base where a.event_id = todo.event_id",
        &[&events],
    )
    .await?;
    Ok(())
}

struct AuditConsumer {
    store: Store,
}

#[async_trait::async_trait]
impl Handler for AuditConsumer {
    async fn handle(&self, events: &[RecordedEvent]) -> anyhow::Result<()> {
        self.store.audit_batch(events).await?;
        Ok(())
    }
}

/// The audit consumer, to run with [`Store::run_consumer`] under [`CONSUMER`].
pub fn consumer(store: Store) -> Arc<dyn Handler> {
    Arc::new(AuditConsumer { store })
}

impl Store {
    /// Chains and numbers a batch of events (commit order) and moves the audit checkpoint,
    /// in one transaction. Repeating a batch changes nothing.
    pub async fn audit_batch(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        let Some(last) = events.last().map(RecordedEvent::position) else { return Ok(()) };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // One audit writer at a time even if a second consumer slipped past the lock.
        tx.execute("select pg_advisory_xact_lock(hashtext('berth audit chain'))", &[]).await?;
        chain::extend(&tx, events).await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        sequence_activity(&tx, &ids).await?;
        tx.execute(
            "insert into consumer_checkpoints (name, tx_id, global_position, updated_at)
             values ($1, $2::text::xid8, $3, now())
             on conflict (name) do update set tx_id = excluded.tx_id,
                 global_position = excluded.global_position, updated_at = now()
             where (consumer_checkpoints.tx_id, consumer_checkpoints.global_position)
                   < (excluded.tx_id, excluded.global_position)",
            &[&CONSUMER, &last.tx_id.to_string(), &last.global_position],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs the audit work over everything committed before the call (tests and the CLI use
    /// it to catch up without waiting for the consumer). Waits, up to a minute, for older
    /// transactions still open anywhere in the cluster, as the consumer would.
    pub async fn audit_catch_up(&self) -> Result<u64, StoreError> {
        let target = {
            let client = self.client().await?;
            client
                .query_opt(
                    // Ordered by the xid8 column: `tx_id::text` under the name `tx_id` would
                    // make `order by tx_id` sort the text ("9991" > "100005").
                    "select tx_id::text as tx_text, global_position from events
                     order by events.tx_id desc, events.global_position desc limit 1",
                    &[],
                )
                .await?
                .map(|r| Ok::<_, StoreError>(Position { tx_id: parse_tx(r.get(0))?, global_position: r.get(1) }))
                .transpose()?
                .unwrap_or_default()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut pos = self.checkpoint(CONSUMER).await?;
        let mut n = 0;
        while pos < target {
            let events = self.read_after(pos, 1000).await?;
            let Some(last) = events.last().map(RecordedEvent::position) else {
                if std::time::Instant::now() > deadline {
                    return Err(StoreError::Unavailable("an older transaction stays open; cannot catch up".into()));
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            self.audit_batch(&events).await?;
            n += events.len() as u64;
            pos = last;
        }
        Ok(n)
    }

    /// Events committed after the consumer's checkpoint: its lag, in events.
    pub async fn consumer_lag(&self, name: &str) -> Result<i64, StoreError> {
        let pos: Position = self.checkpoint(name).await?;
        let client = self.client().await?;
        let row = client
            .query_one(
                "select count(*) from events where (tx_id, global_position) > ($1::text::xid8, $2)",
                &[&pos.tx_id.to_string(), &pos.global_position],
            )
            .await?;
        Ok(row.get(0))
    }
}
