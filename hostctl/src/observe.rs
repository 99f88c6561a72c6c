//! How a host's tenant databases are doing, for their owners' observability page and its
//! history: transaction and statement counters from `pg_stat_database` and
//! `pg_stat_statements`, sessions, size. Read as the host's superuser in the maintenance
//! database — catalog views only, no tenant code runs.
//!
//! # Only the tenant's statements
//!
//! `pg_stat_statements` keys its entries by role and database. The tenant's statements are
//! those of its database's roles — the owner (named as the database) and the roles named
//! `<database>.<…>` (database users, the SQL explorer, connect keys). The platform's own
//! sessions log in as the owner too (backups, checksums, inspection, `pg_dump`), so they set
//! `pg_stat_statements.track = none` in their startup options (see `tenant::PINNED`): they
//! are never recorded. That parameter is superuser-only; [`allow_untracked_sessions`] lets
//! every role set it (`GRANT SET ON PARAMETER … TO PUBLIC`, PostgreSQL 15 and later) — a
//! tenant that turns it off in its own sessions hides only its own statements from itself.

use domain::DatabaseName;

use crate::host::HostError;
use crate::HostConn;

/// Cumulative counters of one database at one instant (rates are differences of two).
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseCounters {
    pub name: String,
    /// Committed and rolled-back transactions since the statistics were reset.
    pub transactions: i64,
    /// Top-level statements of the tenant's roles, and their total execution time.
    pub calls: i64,
    pub exec_ms: f64,
    /// Sessions running a statement now.
    pub active_connections: i64,
    pub size_bytes: i64,
}

/// One normalised statement of the tenant's roles (`pg_stat_statements`, summed over them).
#[derive(Debug, Clone, PartialEq)]
pub struct StatementSample {
    /// Normalised text (constants replaced by `$n`).
    pub query: String,
    pub calls: i64,
    pub mean_ms: f64,
    pub stddev_ms: f64,
    pub max_ms: f64,
    pub total_ms: f64,
}

impl StatementSample {
    /// An estimate of the 99th percentile: PostgreSQL keeps no per-statement histogram, only
    /// mean, standard deviation and maximum, so this is mean + 2.326 σ (the 99th percentile
    /// of a normal distribution), never above the maximum seen.
    pub fn p99_estimate_ms(&self) -> f64 {
        (self.mean_ms + 2.326 * self.stddev_ms).min(self.max_ms)
    }
}

/// The roles of database `d` in a `pg_roles r` join (see the module comment). The prefix is
/// compared with `left()`, not `like`, in which a name's `_` would be a wildcard.
/// Starts each statement we run in a session whose settings we cannot pin at login (a
/// pooled session through PgBouncer: [`crate::tenant::connect_user_sql_pooled`]), so that the
/// samples leave it out. A tenant that starts its own statements with it hides them from
/// itself only.
pub const PLATFORM_MARK: &str = "/* berth */";

/// `pg_stat_statements` rows (`s`) that are not ours (see [`PLATFORM_MARK`]).
const NOT_OURS: &str = "pg_catalog.left(s.query, 11) <> '/* berth */'";

const TENANT_ROLE: &str = "(r.rolname = d.datname
     or pg_catalog.left(r.rolname::text, pg_catalog.length(d.datname::text) + 1) = d.datname::text || '.')";

/// Whether the host preloads pg_stat_statements; creates its view in the maintenance
/// database on first use.
pub(crate) async fn statements_available(client: &tokio_postgres::Client) -> bool {
    let loaded = match client
        .query_one(
            "select 'pg_stat_statements' = any(string_to_array(current_setting('shared_preload_libraries'), ', '))",
            &[],
        )
        .await
    {
        Ok(row) => row.get::<_, bool>(0),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether pg_stat_statements is loaded");
            return false;
        }
    };
    if !loaded {
        return false;
    }
    if let Err(e) = client.batch_execute("create extension if not exists pg_stat_statements schema public").await {
        // Two first looks at once race on the catalog; the loser finds it made by the other.
        let made = client
            .query_opt("select 1 from pg_extension where extname = 'pg_stat_statements'", &[])
            .await
            .is_ok_and(|r| r.is_some());
        if !made {
            tracing::warn!(error = %e, "cannot create pg_stat_statements on the tenant host");
            return false;
        }
    }
    true
}

/// Lets every role set `pg_stat_statements.track` (see the module comment). Idempotent; a
/// host before PostgreSQL 15 cannot grant it (and its platform sessions then fail to start
/// while the library is preloaded — the README names 15 as the oldest supported).
pub async fn allow_untracked_sessions(client: &tokio_postgres::Client) -> Result<(), HostError> {
    client.batch_execute("grant set on parameter pg_stat_statements.track to public").await?;
    Ok(())
}

impl HostConn {
    /// [`allow_untracked_sessions`] on this host.
    pub async fn allow_untracked_sessions(&self) -> Result<(), HostError> {
        allow_untracked_sessions(&*self.pool.get().await?).await
    }

    /// Counters of each named database that exists on the host (one statement for all).
    pub async fn database_counters(&self, names: &[String]) -> Result<Vec<DatabaseCounters>, HostError> {
        let client = self.pool.get().await?;
        let statements = statements_available(&client).await;
        // The statistics are read once (materialised), not once per database.
        let calls = if statements {
            format!(
                "with s as materialized (
                     select s.dbid, s.userid, sum(s.calls) as calls, sum(s.total_exec_time) as exec_ms
                       from public.pg_stat_statements s where s.toplevel and {NOT_OURS} group by 1, 2)
                 select d.datname::text, x.calls, x.exec_ms
                   from pg_database d,
                        lateral (select coalesce(sum(s.calls), 0)::int8 as calls,
                                        coalesce(sum(s.exec_ms), 0)::float8 as exec_ms
                                   from s join pg_roles r on r.oid = s.userid
                                  where s.dbid = d.oid and {TENANT_ROLE}) x
                  where d.datname::text = any($1)"
            )
        } else {
            "select d.datname::text, 0::int8, 0::float8 from pg_database d where d.datname::text = any($1)".into()
        };
        let rows = client
            .query(
                &format!(
                    "with c as ({calls})
                     select d.datname::text, (st.xact_commit + st.xact_rollback)::int8, c.calls, c.exec_ms,
                            (select count(*) from pg_stat_activity a
                              where a.datid = d.oid and a.state = 'active')::int8,
                            pg_database_size(d.oid)
                       from pg_database d join pg_stat_database st on st.datid = d.oid
                       join c on c.datname = d.datname::text"
                ),
                &[&names],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(DatabaseCounters {
                    name: r.get(0),
                    transactions: r.get(1),
                    calls: r.get(2),
                    exec_ms: r.get(3),
                    active_connections: r.get(4),
                    // NULL when the database was dropped while it was measured.
                    size_bytes: r.get::<_, Option<i64>>(5)?,
                })
            })
            .collect())
    }

    /// The tenant's statements in `name` by total execution time, at most `limit`; `None`
    /// when the host does not record statements. A statement that mentions a password or a
    /// secret is left out (utility statements keep their literals before PostgreSQL 16).
    pub async fn statement_samples(
        &self,
        name: &DatabaseName,
        limit: i64,
    ) -> Result<Option<Vec<StatementSample>>, HostError> {
        let client = self.pool.get().await?;
        if !statements_available(&client).await {
            return Ok(None);
        }
        let rows = client
            .query(
                &format!(
                    "select s.query, sum(s.calls)::int8, sum(s.total_exec_time)::float8,
                            max(s.max_exec_time)::float8,
                            -- the pooled mean and deviation of the roles' entries
                            (sum(s.total_exec_time) / nullif(sum(s.calls), 0))::float8,
                            sqrt(greatest(sum(s.calls * (s.stddev_exec_time ^ 2 + s.mean_exec_time ^ 2))
                                 / nullif(sum(s.calls), 0)
                                 - (sum(s.total_exec_time) / nullif(sum(s.calls), 0)) ^ 2, 0))::float8
                       from public.pg_stat_statements s
                       join pg_database d on d.oid = s.dbid join pg_roles r on r.oid = s.userid
                      where d.datname = $1 and s.toplevel and {TENANT_ROLE} and {NOT_OURS}
                        and s.query !~* 'password|secret'
                      group by s.query
                      order by 3 desc
                      limit $2"
                ),
                &[&name.as_str(), &limit],
            )
            .await?;
        Ok(Some(
            rows.iter()
                .map(|r| StatementSample {
                    query: r.get(0),
                    calls: r.get(1),
                    total_ms: r.get(2),
                    max_ms: r.get(3),
                    mean_ms: r.get::<_, Option<f64>>(4).unwrap_or(0.0),
                    stddev_ms: r.get::<_, Option<f64>>(5).unwrap_or(0.0),
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::StatementSample;

    #[test]
    fn the_p99_estimate_is_never_above_the_maximum() {
        let s = StatementSample {
            query: "select $1".into(),
            calls: 10,
            mean_ms: 2.0,
            stddev_ms: 1.0,
            max_ms: 10.0,
            total_ms: 20.0,
        };
        assert!((s.p99_estimate_ms() - 4.326).abs() < 1e-9);
        let spiky = StatementSample { stddev_ms: 50.0, ..s };
        assert_eq!(spiky.p99_estimate_ms(), 10.0);
    }
}

#[cfg(test)]
mod mark_tests {
    use super::*;

    #[test]
    fn the_filter_names_the_mark() {
        assert_eq!(NOT_OURS, format!("pg_catalog.left(s.query, {}) <> '{PLATFORM_MARK}'", PLATFORM_MARK.len()));
    }
}
