//! `berth audit …`: the operator's view of the audit library in `eventstore::audit`. Each
//! command writes a human report to `out` and says whether all is well; the binary turns
//! "not well" into exit code 1 (and an error into exit code 2).

use std::io::Write;

use chrono::{DateTime, Utc};
use domain::DatabaseId;
use eventstore::audit::{self, ExportFilter};
use eventstore::Store;

/// Rebuilds every read model from the log and compares; true when all tables match.
pub async fn replay(store: &Store, out: &mut dyn Write) -> anyhow::Result<bool> {
    let report = audit::replay(store).await?;
    writeln!(out, "replayed {} events in {:.3}s", report.events, report.rebuild.as_secs_f64())?;
    for t in &report.tables {
        let verdict = if t.differs() { "DIFFERS" } else { "ok" };
        writeln!(
            out,
            "  {:<12} live {:>7} rows, replayed {:>7} rows: {verdict}",
            t.table, t.live_rows, t.replayed_rows
        )?;
        for row in &t.only_live {
            writeln!(out, "    only live:     {row}")?;
        }
        for row in &t.only_replayed {
            writeln!(out, "    only replayed: {row}")?;
        }
    }
    let clean = report.clean();
    writeln!(out, "{}", if clean { "read models match the log" } else { "read models DIFFER from the log" })?;
    Ok(clean)
}

/// A head hash as an operator anchored it: 64 hex digits.
pub fn parse_head(text: &str) -> anyhow::Result<String> {
    let head = text.trim().to_ascii_lowercase();
    anyhow::ensure!(
        head.len() == 64 && head.bytes().all(|b| b.is_ascii_hexdigit()),
        "an anchored head is 64 hex digits (as `berth audit verify` prints it), not {:?}",
        text.trim()
    );
    Ok(head)
}

/// Checks the hash chain; true when every link holds and, given an anchored head (a hash
/// recorded outside the database earlier), the chain still passes through it.
pub async fn verify(store: &Store, anchor: Option<&str>, out: &mut dyn Write) -> anyhow::Result<bool> {
    let report = audit::verify_anchored(store, anchor).await?;
    let mut ok = match &report.broken {
        None => {
            writeln!(out, "chain intact: {} links, head {}", report.links, report.head)?;
            true
        }
        Some(b) => {
            writeln!(
                out,
                "chain BROKEN at link {} (event {} at position {}): {}",
                b.seq,
                domain::EventId(b.event_id),
                b.global_position,
                b.reason
            )?;
            writeln!(out, "{} links hold before it; last good hash {}", report.links, report.head)?;
            false
        }
    };
    if let Some(anchor) = anchor {
        match report.anchored_at {
            Some(at) => {
                writeln!(out, "anchored head {anchor} found at link {at}; {} links added since", report.links - at)?
            }
            None => {
                writeln!(out, "anchored head {anchor} NOT FOUND: the log or the chain was rewritten or cut before it")?;
                ok = false;
            }
        }
    }
    if ok {
        writeln!(out, "anchor this head outside the database: {}", report.head)?;
    }
    Ok(ok)
}

/// Writes events since `since` (optionally of one database) as JSON lines; returns how many.
pub async fn export(
    store: &Store,
    since: DateTime<Utc>,
    database: Option<DatabaseId>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<u64> {
    Ok(audit::export(store, &ExportFilter { since: Some(since), database }, out).await?)
}
