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

/// Checks the hash chain; true when every link holds.
pub async fn verify(store: &Store, out: &mut dyn Write) -> anyhow::Result<bool> {
    let report = audit::verify(store).await?;
    match &report.broken {
        None => {
            writeln!(out, "chain intact: {} links, head {}", report.links, report.head)?;
            Ok(true)
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
            Ok(false)
        }
    }
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
