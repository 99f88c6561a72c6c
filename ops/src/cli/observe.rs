//! `berth db observe` and `berth db metrics`: how a database is doing, now and over the
//! past day.

use client::wire::MetricsQuery;

use super::output::{self, Outcome, Table};
use super::{resolve_db, time, Ctx};

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// `berth db observe DB`: the summary, then the tenant's statements by total time.
pub async fn observe(ctx: &Ctx, db: &str) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let r = ctx.client.observability(&id).await?;
    if ctx.json {
        return output::json(&r.raw);
    }
    let s = &r.data.summary;
    output::fields(&[
        ("tps", ms(s.tps)),
        ("latency avg ms", ms(s.latency_avg_ms)),
        ("latency p99 ms (estimate)", ms(s.latency_p99_ms)),
        ("active connections", s.active_connections.to_string()),
        ("storage bytes", s.database_storage_bytes.to_string()),
    ])?;
    let Some(samples) = &r.data.samples else {
        eprintln!("(statements: not shown to viewers, or not recorded on this host)");
        return Ok(());
    };
    println!();
    let mut t = Table::new(&["CALLS", "ERRORS", "AVG MS", "P99 MS", "MAX MS", "QUERY"]);
    for x in samples {
        t.row(vec![
            x.sample_count.to_string(),
            x.error_count.to_string(),
            format!("{:.2}", x.latency_avg_ms),
            format!("{:.2}", x.latency_p99_ms),
            format!("{:.2}", x.latency_max_ms),
            output::clean(&x.query.split_whitespace().collect::<Vec<_>>().join(" ")),
        ]);
    }
    t.print()
}

/// `berth db metrics DB [--since T]`: one row per sample (a minute apart), oldest first.
pub async fn metrics(ctx: &Ctx, db: &str, since: Option<chrono::DateTime<chrono::Utc>>) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let r = ctx.client.metrics(&id, &MetricsQuery { since }).await?;
    if ctx.json {
        return output::json(&r.raw);
    }
    let mut t = Table::new(&["AT", "TPS", "LATENCY MS", "ACTIVE", "BYTES"]);
    for p in &r.data.history {
        t.row(vec![
            time(&p.at),
            ms(p.tps),
            ms(p.latency_avg_ms),
            p.active_connections.to_string(),
            p.size_bytes.to_string(),
        ]);
    }
    t.print()
}
