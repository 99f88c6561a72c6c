//! Reading the log: one stream in version order, or the global order for consumers.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{Metadata, Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub global_position: i64,
    pub tx_id: u64,
    pub stream_id: String,
    pub version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub data: serde_json::Value,
    pub metadata: Metadata,
    pub occurred_at: DateTime<Utc>,
}

/// A point in the commit order: `(tx_id, global_position)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub tx_id: u64,
    pub global_position: i64,
}

impl RecordedEvent {
    pub fn position(&self) -> Position {
        Position { tx_id: self.tx_id, global_position: self.global_position }
    }

    pub(crate) fn from_row(row: &Row) -> Result<Self, StoreError> {
        let tx: &str = row.get("tx_text");
        Ok(Self {
            global_position: row.get("global_position"),
            tx_id: parse_tx(tx)?,
            stream_id: row.get("stream_id"),
            version: row.get("version"),
            event_id: row.get("event_id"),
            event_type: row.get("type"),
            schema_version: row.get("schema_version"),
            data: row.get("data"),
            metadata: serde_json::from_value(row.get("metadata"))?,
            occurred_at: row.get("occurred_at"),
        })
    }
}

/// `tx_id` is selected as text (tokio-postgres has no xid8 type) under another name,
/// `tx_text`: an output column named `tx_id` would capture every `order by tx_id` of the
/// query, which would then sort the text, and "1001" < "859". Ordering is always by the
/// `xid8` column itself (written `events.tx_id` where it could be mistaken).
pub(crate) const COLUMNS: &str =
    "global_position, tx_id::text as tx_text, stream_id, version, event_id, type, schema_version, data, metadata, occurred_at";

/// Parses a `tx_id::text`.
pub(crate) fn parse_tx(text: &str) -> Result<u64, StoreError> {
    text.parse().map_err(|_| StoreError::Codec(format!("bad tx_id {text}")))
}

impl Store {
    pub async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!("select {COLUMNS} from events where stream_id = $1 order by version"))
            .await?;
        let rows = client.query(&statement, &[&stream_id]).await?;
        rows.iter().map(RecordedEvent::from_row).collect()
    }

    /// Up to `limit` events after `after` in commit order. Only transactions older than every
    /// transaction still running are read: `global_position` alone is handed out before
    /// commit, so a reader trusting it would skip an event that commits late, for ever.
    pub async fn read_after(&self, after: Position, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        let client = self.client().await?;
        read_after_on(&client, after, limit).await
    }

    /// The most recent committed position (for consumer lag).
    pub async fn head(&self) -> Result<Position, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "select tx_id::text as tx_text, global_position from events
                 where tx_id < pg_snapshot_xmin(pg_current_snapshot())
                 order by events.tx_id desc, events.global_position desc limit 1",
                &[],
            )
            .await?;
        Ok(match row {
            Some(r) => Position { tx_id: parse_tx(r.get(0))?, global_position: r.get(1) },
            None => Position::default(),
        })
    }
}

pub(crate) async fn read_after_on(
    client: &tokio_postgres::Client,
    after: Position,
    limit: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let tx = after.tx_id.to_string();
    let rows = client
        .query(
            &format!(
                "select {COLUMNS} from events
                 where (tx_id, global_position) > ($1::text::xid8, $2)
                   and tx_id < pg_snapshot_xmin(pg_current_snapshot())
                 order by events.tx_id, events.global_position
                 limit $3"
            ),
            &[&tx, &after.global_position, &limit],
        )
        .await?;
    rows.iter().map(RecordedEvent::from_row).collect()
}
