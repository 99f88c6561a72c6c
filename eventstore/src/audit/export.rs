//! The log as JSON lines for an external archive (SIEM, compliance): one event per line in
//! commit order, with its actor ids as recorded (they never change, whatever later happens
//! to the user or key), and the chain hash of the event when it is chained.

use std::io::Write;

use chrono::{DateTime, Utc};
use domain::{ApiKeyId, DatabaseId, EventId, StreamId, UserId};
use futures::{pin_mut, TryStreamExt};
use tokio_postgres::types::ToSql;

use crate::{Metadata, Store, StoreError};

#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub since: Option<DateTime<Utc>>,
    pub database: Option<DatabaseId>,
}

/// Writes matching events to `out`; returns how many.
pub async fn export(store: &Store, filter: &ExportFilter, out: &mut (dyn Write + Send)) -> Result<u64, StoreError> {
    let (client, conn) = store.dedicated().await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    // A database's events: its own stream's, and every other stream's that name it (its
    // backups, allowlist, users, collaborators, approvals and per-query audit records).
    let stream_id = filter.database.map(|d| String::from(StreamId::database(d)));
    let database_id = filter.database.map(|d| d.uuid().to_string());
    let params: [&(dyn ToSql + Sync); 3] = [&filter.since, &stream_id, &database_id];
    let rows = client
        .query_raw(
            "select e.global_position, e.event_id, e.stream_id, e.version, e.type, e.schema_version, e.data,
                    e.metadata, e.occurred_at, c.hash
             from events e left join event_chain c on c.global_position = e.global_position
             where ($1::timestamptz is null or e.occurred_at >= $1)
               and ($2::text is null or e.stream_id = $2 or e.data->>'database_id' = $3)
             order by e.tx_id, e.global_position",
            params,
        )
        .await?;
    pin_mut!(rows);
    let mut n = 0;
    while let Some(r) = rows.try_next().await? {
        let meta: Metadata = serde_json::from_value(r.get(7))?;
        let line = serde_json::json!({
            "id": EventId(r.get(1)).to_string(),
            "position": r.get::<_, i64>(0),
            "stream": r.get::<_, String>(2),
            "version": r.get::<_, i64>(3),
            "type": r.get::<_, String>(4),
            "schema_version": r.get::<_, i32>(5),
            "at": r.get::<_, DateTime<Utc>>(8),
            "actor": {
                "user_id": meta.actor.user_id.map(|u: UserId| u.to_string()),
                "api_key_id": meta.actor.api_key_id.map(|k: ApiKeyId| k.to_string()),
            },
            "request_id": meta.request_id,
            "causation_id": meta.causation_id,
            "correlation_id": meta.correlation_id,
            "data": r.get::<_, serde_json::Value>(6),
            "chain_hash": r.get::<_, Option<String>>(9),
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n").map_err(|e| StoreError::Config(format!("writing the export: {e}")))?;
        n += 1;
    }
    out.flush().map_err(|e| StoreError::Config(format!("writing the export: {e}")))?;
    Ok(n)
}
