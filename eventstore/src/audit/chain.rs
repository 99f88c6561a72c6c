//! The hash chain over the committed order. Each link hashes the previous link's hash and the
//! event's stored columns as read back from the table (data and metadata as parsed JSON, so
//! key order cannot matter), so editing, deleting or inserting an event breaks the chain at
//! that event. An attacker who can also rewrite `event_chain` can forge it: anchor the head
//! hash that `verify` prints somewhere outside the database (the export archive does).

use chrono::{DateTime, Utc};
use futures::{pin_mut, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;

use crate::{RecordedEvent, Store, StoreError};

/// The `prev_hash` of the first link.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const EVENT_COLUMNS: &str =
    "e.global_position, e.event_id, e.stream_id, e.version, e.type, e.schema_version, e.data, e.metadata, e.occurred_at";

/// sha256(prev ‖ the event's columns as a JSON array) in hex. The JSON array makes the
/// encoding unambiguous (no field can run into the next).
fn link_hash(prev: &str, row: &Row, offset: usize) -> String {
    let at: DateTime<Utc> = row.get(offset + 8);
    let fields = serde_json::json!([
        row.get::<_, i64>(offset),
        row.get::<_, Uuid>(offset + 1),
        row.get::<_, String>(offset + 2),
        row.get::<_, i64>(offset + 3),
        row.get::<_, String>(offset + 4),
        row.get::<_, i32>(offset + 5),
        row.get::<_, serde_json::Value>(offset + 6),
        row.get::<_, serde_json::Value>(offset + 7),
        at.timestamp_micros(),
    ]);
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(fields.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Appends links for `events` (commit order) that are not chained yet.
pub(super) async fn extend(tx: &Transaction<'_>, events: &[RecordedEvent]) -> Result<(), StoreError> {
    let positions: Vec<i64> = events.iter().map(|e| e.global_position).collect();
    let rows = tx
        .query(
            &format!(
                "select {EVENT_COLUMNS} from unnest($1::bigint[]) with ordinality as o(p, n)
                 join events e on e.global_position = o.p
                 where not exists (select 1 from event_chain c where c.global_position = o.p)
                 order by o.n"
            ),
            &[&positions],
        )
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let head = tx.query_opt("select seq, hash from event_chain order by seq desc limit 1", &[]).await?;
    let (mut seq, mut prev) = head.map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1))).unwrap_or((0, GENESIS.into()));
    let (mut seqs, mut gps, mut ids, mut prevs, mut hashes) = (vec![], vec![], vec![], vec![], vec![]);
    for row in &rows {
        let hash = link_hash(&prev, row, 0);
        seq += 1;
        seqs.push(seq);
        gps.push(row.get::<_, i64>(0));
        ids.push(row.get::<_, Uuid>(1));
        prevs.push(std::mem::replace(&mut prev, hash.clone()));
        hashes.push(hash);
    }
    tx.execute(
        "insert into event_chain (seq, global_position, event_id, prev_hash, hash)
         select * from unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::text[], $5::text[])",
        &[&seqs, &gps, &ids, &prevs, &hashes],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub global_position: i64,
    pub event_id: Uuid,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Links checked.
    pub links: i64,
    /// Hash of the last good link (anchor it outside the database).
    pub head: String,
    /// The first link that does not hold, if any.
    pub broken: Option<BrokenLink>,
    /// With an anchor: the number of the good link whose hash it is (0 for [`GENESIS`]), or
    /// `None` when no good link has it (the log was rewritten or cut before the anchor).
    pub anchored_at: Option<i64>,
}

/// Recomputes the chain from the stored events and reports the first broken link: an event
/// edited or deleted, a link edited, or an event that was chained-over (inserted by hand
/// before the audit checkpoint).
pub async fn verify(store: &Store) -> Result<VerifyReport, StoreError> {
    verify_anchored(store, None).await
}

/// [`verify`], and also finds the link whose hash is `anchor`: a head an operator recorded
/// outside the database earlier. Someone able to rewrite both `events` and `event_chain` can
/// make a chain that verifies, but not one that passes through a hash they cannot change;
/// links appended since the anchor are fine.
pub async fn verify_anchored(store: &Store, anchor: Option<&str>) -> Result<VerifyReport, StoreError> {
    let mut anchored_at = anchor.filter(|a| a.eq_ignore_ascii_case(GENESIS)).map(|_| 0);
    let (mut client, conn) = store.dedicated().await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let stream = tx
        .query_raw(
            &format!(
                "select c.seq, c.global_position, c.event_id, c.prev_hash, c.hash, e.event_id is not null, {EVENT_COLUMNS}
                 from event_chain c left join events e on e.global_position = c.global_position
                 order by c.seq"
            ),
            std::iter::empty::<i32>(),
        )
        .await?;
    pin_mut!(stream);
    let mut prev = GENESIS.to_owned();
    let mut links = 0;
    while let Some(row) = stream.try_next().await? {
        let link = |reason: &str| BrokenLink {
            seq: row.get(0),
            global_position: row.get(1),
            event_id: row.get(2),
            reason: reason.to_owned(),
        };
        let stored_prev: String = row.get(3);
        let stored_hash: String = row.get(4);
        let broken = if links + 1 != row.get::<_, i64>(0) {
            Some(link("a link is missing before this one"))
        } else if stored_prev != prev {
            Some(link("the link's previous hash was changed"))
        } else if !row.get::<_, bool>(5) {
            Some(link("the event was deleted"))
        } else if row.get::<_, Uuid>(7) != row.get::<_, Uuid>(2) {
            Some(link("the event at this position was replaced"))
        } else if link_hash(&prev, &row, 6) != stored_hash {
            Some(link("the event was changed after it was chained"))
        } else {
            None
        };
        if broken.is_some() {
            return Ok(VerifyReport { links, head: prev, broken, anchored_at });
        }
        links += 1;
        if anchored_at.is_none() && anchor.is_some_and(|a| a.eq_ignore_ascii_case(&stored_hash)) {
            anchored_at = Some(links);
        }
        prev = stored_hash;
    }
    // Every event up to the audit checkpoint must be chained; one that is not was added
    // behind the chain's back.
    let row = tx
        .query_opt(
            "select e.global_position, e.event_id from events e
             join consumer_checkpoints k on k.name = $1
             where (e.tx_id, e.global_position) <= (k.tx_id, k.global_position)
               and not exists (select 1 from event_chain c where c.global_position = e.global_position)
             order by e.tx_id, e.global_position limit 1",
            &[&super::CONSUMER],
        )
        .await?;
    let broken = row.map(|r| BrokenLink {
        seq: 0,
        global_position: r.get(0),
        event_id: r.get(1),
        reason: "the event is not in the chain (inserted behind it)".into(),
    });
    Ok(VerifyReport { links, head: prev, broken, anchored_at })
}
