//! How a database is doing, now and over the past day: DB9's observability shape (TPS,
//! latency, sessions, storage, the statements that take the time) from `pg_stat_database`
//! and `pg_stat_statements` on the host (the tenant's roles only: see `hostctl::observe`),
//! and its history from the samples the worker records (`eventstore::samples`).

use chrono::{DateTime, Duration, Utc};
use domain::DatabaseId;
use eventstore::samples::Sample;
use hostctl::observe::{DatabaseCounters, StatementSample};

use crate::authz::{Action, DbRole};
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::Error;
use crate::inspect::{host_conn, host_error};
use crate::Control;
use eventstore::queries::DatabaseRow;

/// How long samples are kept and how far back `since` may reach.
pub const HISTORY: Duration = Duration::hours(24);

/// Statements on the observability page, by total time.
const SAMPLES: i64 = 20;

/// Points one history answer carries at most (a day at one-minute resolution, and then some).
const MAX_POINTS: i64 = 1500;

/// Rates between the newest reading and one about a minute older.
const RATE_WINDOW: Duration = Duration::seconds(60);

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Transactions per second over the last minute; `None` before there is a minute to
    /// compare with (a database the worker has not sampled yet).
    pub tps: Option<f64>,
    /// Mean execution time of the tenant's statements over the last minute; `None` when none
    /// ran.
    pub latency_avg_ms: Option<f64>,
    /// See [`p99_of`]; `None` when no statement was recorded.
    pub latency_p99_ms: Option<f64>,
    pub active_connections: i64,
    pub database_storage_bytes: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatementView {
    pub query: String,
    pub sample_count: i64,
    /// Failures of the statement seen through Berth's own routes (the per-query audit, by
    /// fingerprint): PostgreSQL does not count a statement that failed.
    pub error_count: i64,
    pub latency_avg_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observability {
    pub summary: Summary,
    /// `None` for viewers (statement text is for the roles that may see credentials) and when
    /// the host does not record statements.
    pub samples: Option<Vec<StatementView>>,
}

/// One point of a database's history: rates since the point before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub tps: Option<f64>,
    pub latency_avg_ms: Option<f64>,
    pub active_connections: i64,
    pub size_bytes: i64,
}

/// Transactions per second and mean statement latency from `from` to `to`; `None` where the
/// counters went back (statistics reset, the host restarted) or nothing ran.
fn rates(from: &Sample, to: &Sample) -> (Option<f64>, Option<f64>) {
    let secs = (to.at - from.at).num_milliseconds() as f64 / 1000.0;
    let xacts = to.transactions - from.transactions;
    let tps = (secs > 0.0 && xacts >= 0).then(|| xacts as f64 / secs);
    let calls = to.calls - from.calls;
    let latency = (calls > 0 && to.exec_ms >= from.exec_ms).then(|| (to.exec_ms - from.exec_ms) / calls as f64);
    (tps, latency)
}

/// Each sample as a point, with the rates since the one before it (none for the first).
pub fn points(samples: &[Sample]) -> Vec<Point> {
    samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (tps, latency_avg_ms) = match i.checked_sub(1).and_then(|p| samples.get(p)) {
                Some(prev) => rates(prev, s),
                None => (None, None),
            };
            Point { at: s.at, tps, latency_avg_ms, active_connections: s.active_connections, size_bytes: s.size_bytes }
        })
        .collect()
}

/// The 99th percentile of latency over all calls, from per-statement estimates
/// ([`StatementSample::p99_estimate_ms`]): the smallest estimate such that the statements at
/// or under it account for 99% of the calls. An estimate: PostgreSQL keeps no histogram.
pub fn p99_of(statements: &[StatementSample]) -> Option<f64> {
    let mut by_estimate: Vec<(f64, i64)> = statements.iter().map(|s| (s.p99_estimate_ms(), s.calls)).collect();
    by_estimate.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: i64 = by_estimate.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return None;
    }
    let mut seen = 0;
    for (estimate, calls) in &by_estimate {
        seen += calls;
        if seen as f64 >= 0.99 * total as f64 {
            return Some(*estimate);
        }
    }
    by_estimate.last().map(|(e, _)| *e)
}

fn as_sample(c: &DatabaseCounters, at: DateTime<Utc>) -> Sample {
    Sample {
        at,
        transactions: c.transactions,
        calls: c.calls,
        exec_ms: c.exec_ms,
        active_connections: c.active_connections,
        size_bytes: c.size_bytes,
    }
}

async fn live(ctx: &Control, caller: &Caller, id: &str) -> Result<(DatabaseRow, DbRole), Error> {
    let (db, role) = load_authorized(ctx, caller, id, Action::View).await?;
    crate::databases::require_postgres(&db, "observability (statement statistics)")?;
    if !db.state.is_live() {
        return Err(Error::Conflict(format!("the database is {}; nothing to observe yet", db.state)));
    }
    Ok((db, role))
}

/// The summary and the tenant's statements of database `id`.
pub async fn observe(ctx: &Control, caller: &Caller, id: &str) -> Result<Observability, Error> {
    let (db, role) = live(ctx, caller, id).await?;
    let conn = host_conn(ctx, db.host_id).await?;
    let now = Utc::now();
    let names = [db.name.as_str().to_owned()];
    let (counters, statements, before) = tokio::try_join!(
        async { conn.database_counters(&names).await.map_err(|e| host_error(&e)) },
        async { conn.statement_samples(&db.name, SAMPLES).await.map_err(|e| host_error(&e)) },
        async { Ok(ctx.store.first_sample_since(db.id, now - RATE_WINDOW - Duration::seconds(10)).await?) },
    )?;
    let counters =
        counters.first().ok_or_else(|| Error::Conflict("the database is gone from its host".into()))?.clone();
    let current = as_sample(&counters, now);
    let (tps, latency_avg_ms) = before.map_or((None, None), |b| rates(&b, &current));
    let summary = Summary {
        tps,
        latency_avg_ms,
        latency_p99_ms: statements.as_deref().and_then(p99_of),
        active_connections: counters.active_connections,
        database_storage_bytes: counters.size_bytes,
    };
    let samples = match statements {
        Some(statements) if role >= DbRole::Developer => Some(with_errors(ctx, db.id, statements).await?),
        _ => None,
    };
    Ok(Observability { summary, samples })
}

/// The statements with their failures from the per-query audit, matched by fingerprint
/// (`pg_query` fingerprints ignore constants and `$n`, so the normalised text PostgreSQL
/// keeps and the text a user sent fingerprint alike).
async fn with_errors(
    ctx: &Control,
    db: DatabaseId,
    statements: Vec<StatementSample>,
) -> Result<Vec<StatementView>, Error> {
    let fingerprints: Vec<Option<String>> =
        statements.iter().map(|s| pg_query::fingerprint(&s.query).ok().map(|f| f.hex)).collect();
    let known: Vec<String> = fingerprints.iter().flatten().cloned().collect();
    let errors = ctx.store.query_errors(db, &known).await?;
    Ok(statements
        .into_iter()
        .zip(fingerprints)
        .map(|(s, f)| StatementView {
            error_count: f.and_then(|f| errors.iter().find(|(e, _)| *e == f).map(|(_, n)| *n)).unwrap_or(0),
            latency_p99_ms: s.p99_estimate_ms(),
            query: s.query,
            sample_count: s.calls,
            latency_avg_ms: s.mean_ms,
            latency_max_ms: s.max_ms,
        })
        .collect())
}

/// Database `id`'s history since `since` (at most [`HISTORY`] back), oldest first.
pub async fn history(ctx: &Control, caller: &Caller, id: &str, since: DateTime<Utc>) -> Result<Vec<Point>, Error> {
    // Samples are PostgreSQL's statistics; another engine's database has none (an empty
    // history), and its metrics still answer.
    let (db, _) = load_authorized(ctx, caller, id, Action::View).await?;
    let since = since.max(Utc::now() - HISTORY);
    Ok(points(&ctx.store.samples(db.id, since, MAX_POINTS).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(secs: i64, transactions: i64, calls: i64, exec_ms: f64) -> Sample {
        Sample {
            at: DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time"),
            transactions,
            calls,
            exec_ms,
            active_connections: 1,
            size_bytes: 8_000_000,
        }
    }

    #[test]
    fn points_carry_the_rates_since_the_point_before() {
        let p = points(&[sample(0, 100, 10, 5.0), sample(60, 160, 40, 35.0), sample(120, 10, 41, 36.0)]);
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].tps, p[0].latency_avg_ms), (None, None));
        assert_eq!(p[1].tps, Some(1.0));
        assert_eq!(p[1].latency_avg_ms, Some(1.0));
        // The counters went back (the host restarted): no rate rather than a negative one.
        assert_eq!(p[2].tps, None);
        assert_eq!(p[2].latency_avg_ms, Some(1.0));
    }

    fn statement(calls: i64, mean_ms: f64) -> StatementSample {
        StatementSample { query: "q".into(), calls, mean_ms, stddev_ms: 0.0, max_ms: mean_ms, total_ms: 0.0 }
    }

    #[test]
    fn the_p99_follows_the_calls() {
        assert_eq!(p99_of(&[]), None);
        // 990 fast calls and 10 slow: the 99th percentile is still the fast statement's.
        assert_eq!(p99_of(&[statement(990, 1.0), statement(10, 500.0)]), Some(1.0));
        // 20 slow of 1,000: past 1%, the slow one sets it.
        assert_eq!(p99_of(&[statement(980, 1.0), statement(20, 500.0)]), Some(500.0));
    }

    #[test]
    fn a_normalised_statement_fingerprints_as_the_text_that_was_sent() {
        let sent = pg_query::fingerprint("SELECT * FROM orders WHERE id = 42 AND note = 'x'").expect("parses").hex;
        let kept = pg_query::fingerprint("select * from orders where id = $1 and note = $2").expect("parses").hex;
        assert_eq!(sent, kept);
    }
}
