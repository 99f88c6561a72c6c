//! A tenant's schema migrations (`POST /databases/{id}/migrations`): each runs in one
//! transaction in the tenant database, as the tenant's own role, and is recorded in a table
//! of that database the tenant can read, `berth.schema_migrations`.
//!
//! # What holds
//!
//! - **The tenant's rights, the tenant's settings.** The session is
//!   [`crate::tenant::connect_user_sql`]'s: the migration is the tenant's own SQL and behaves
//!   as in psql (its `search_path`, its role settings), under our deadline. The few statements
//!   of ours in that session name everything by schema (`pg_catalog.…`, `berth.…`,
//!   `OPERATOR(pg_catalog.=)`), because the tenant's `search_path` applies to them too.
//! - **One at a time per database.** The transaction first takes
//!   `pg_advisory_xact_lock(`[`LOCK_KEY`]`)` (advisory locks are per database); a second
//!   migration waits for the first to commit (at most `lock_timeout`, the migration's timeout)
//!   and then reads its row. So the same migration sent twice at once runs once.
//! - **All or nothing.** The migration's SQL (the simple-query protocol: any number of
//!   statements), and the row recording it, commit together or not at all. A `COMMIT` or
//!   `ROLLBACK` inside the text would end our transaction early; the transaction id is
//!   compared before and after the text, and such a migration is refused (what ran before
//!   its `COMMIT` may be committed, and it is not recorded).
//! - **A deadline.** `statement_timeout`, `lock_timeout` and the idle timeout are the
//!   migration's timeout, in the startup packet; past it (plus [`crate::sql::GRACE`]) a
//!   cancel request is sent and the session dropped, which rolls back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{DatabaseName, TenantHost};

use crate::sql::{sql_error, CancelOnDrop, SqlError, GRACE};
use crate::tenant::{connect, connect_user_sql, tenant_error, SessionLimits, TenantConn, TenantLogin};
use crate::HostError;

/// The advisory lock a migration holds for its transaction: `berth_mi` in ASCII.
pub const LOCK_KEY: i64 = 0x6265_7274_685f_6d69;

/// Characters of a migration's SQL kept as its `sql_preview`.
pub const PREVIEW_CHARS: usize = 200;

/// Rows `list` returns at most.
pub const LIST_LIMIT: i64 = 10_000;

const SETUP: &str = "CREATE SCHEMA IF NOT EXISTS berth; \
    CREATE TABLE IF NOT EXISTS berth.schema_migrations (\
      name pg_catalog.text PRIMARY KEY, \
      checksum pg_catalog.text NOT NULL, \
      applied_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(), \
      applied_by pg_catalog.text NOT NULL, \
      sql_preview pg_catalog.text NOT NULL)";

const RECORDED: &str =
    "SELECT checksum::pg_catalog.text FROM berth.schema_migrations WHERE name OPERATOR(pg_catalog.=) $1::pg_catalog.text";

const RECORD: &str = "INSERT INTO berth.schema_migrations (name, checksum, applied_by, sql_preview) \
    VALUES ($1::pg_catalog.text, $2::pg_catalog.text, $3::pg_catalog.text, $4::pg_catalog.text)";

const XACT_ID: &str = "SELECT pg_catalog.pg_current_xact_id()::pg_catalog.text";

/// A migration to apply.
#[derive(Debug, Clone, Copy)]
pub struct Migration<'a> {
    pub name: &'a str,
    /// The SHA-256 of `sql`, lowercase hex.
    pub checksum: &'a str,
    pub sql: &'a str,
    /// Who asked (recorded in the row).
    pub applied_by: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The SQL ran and the migration is recorded.
    Applied,
    /// A migration of this name and checksum was already recorded: nothing ran.
    AlreadyApplied,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// A migration of this name is recorded with another checksum, or another migration held
    /// the database's migration lock past the timeout.
    #[error("{0}")]
    Conflict(String),
    /// The migration failed in PostgreSQL (or ran past its timeout) and nothing of it stays:
    /// the tenant's own error about its own SQL (PostgreSQL's message and SQLSTATE).
    #[error("{0}")]
    Failed(String),
    /// The host did not answer, refused the login or dropped the session. For the log.
    #[error("{0}")]
    Unavailable(String),
}

fn failed(e: SqlError) -> MigrationError {
    match e {
        SqlError::Sql { code, message, detail, hint, .. } => {
            let mut text = format!("the migration failed and nothing was applied: {message} (SQLSTATE {code})");
            for (what, extra) in [("detail", detail), ("hint", hint)] {
                if let Some(extra) = extra {
                    text.push_str(&format!("; {what}: {extra}"));
                }
            }
            MigrationError::Failed(text)
        }
        SqlError::Timeout(_) => {
            MigrationError::Failed("the migration ran past its timeout and was cancelled; nothing was applied".into())
        }
        SqlError::Rejected(m) => MigrationError::Failed(format!("the migration failed and nothing was applied: {m}")),
        SqlError::Unavailable(m) => MigrationError::Unavailable(m),
        e @ SqlError::Refused { .. } => MigrationError::Unavailable(e.to_string()),
    }
}

fn preview(sql: &str) -> String {
    sql.chars().take(PREVIEW_CHARS).collect()
}

/// Applies `m` to `database` as `login`'s role, within `timeout` (see the module's doc).
pub async fn apply(
    host: &TenantHost,
    login: &TenantLogin,
    database: &DatabaseName,
    m: &Migration<'_>,
    timeout: Duration,
) -> Result<Outcome, MigrationError> {
    let conn = connect_user_sql(host, database.as_str(), login, timeout)
        .await
        .map_err(|e| MigrationError::Unavailable(format!("login to {database}: {e}")))?;
    let mut cancel = CancelOnDrop(Some(conn.canceller()));
    match tokio::time::timeout(timeout + GRACE, run(&conn, m)).await {
        Err(_) => {
            if let Some(canceller) = cancel.0.take() {
                let _ = tokio::time::timeout(GRACE, canceller.cancel()).await;
            }
            Err(failed(SqlError::Timeout(timeout)))
        }
        Ok(outcome) => {
            cancel.0 = None;
            if outcome.is_err() {
                // Best effort: dropping the session rolls back anyway.
                let _ = tokio::time::timeout(GRACE, conn.batch_execute("ROLLBACK")).await;
            }
            outcome
        }
    }
}

async fn run(conn: &TenantConn, m: &Migration<'_>) -> Result<Outcome, MigrationError> {
    let ours = |e: tokio_postgres::Error| failed(sql_error(e));
    conn.batch_execute("BEGIN").await.map_err(ours)?;
    if let Err(e) = conn.batch_execute(&format!("SELECT pg_catalog.pg_advisory_xact_lock({LOCK_KEY})")).await {
        return Err(match sql_error(e) {
            SqlError::Sql { code, .. } if code == "55P03" => MigrationError::Conflict(
                "another migration of this database is still running; retry when it has finished".into(),
            ),
            other => failed(other),
        });
    }
    conn.batch_execute(SETUP).await.map_err(ours)?;
    if let Some(row) = conn.query_opt(RECORDED, &[&m.name]).await.map_err(ours)? {
        let recorded: String = row.get(0);
        conn.batch_execute("ROLLBACK").await.map_err(ours)?;
        return if recorded == m.checksum {
            Ok(Outcome::AlreadyApplied)
        } else {
            Err(MigrationError::Conflict(format!(
                "a migration named {:?} was already applied with another checksum ({recorded})",
                m.name
            )))
        };
    }
    let before: String = conn.query_one(XACT_ID, &[]).await.map_err(ours)?.get(0);
    conn.batch_execute(m.sql).await.map_err(ours)?;
    let after: String = conn.query_one(XACT_ID, &[]).await.map_err(ours)?.get(0);
    if before != after {
        return Err(MigrationError::Failed(
            "the migration's SQL ended its transaction (COMMIT or ROLLBACK in the text): what ran before that may \
             be committed, and the migration is not recorded; remove the transaction control and apply it again"
                .into(),
        ));
    }
    let preview = preview(m.sql);
    conn.execute(RECORD, &[&m.name, &m.checksum, &m.applied_by, &preview]).await.map_err(ours)?;
    // A deferred constraint of the tenant's fails here, and is the migration's failure.
    conn.batch_execute("COMMIT").await.map_err(ours)?;
    Ok(Outcome::Applied)
}

/// A row of `berth.schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub name: String,
    pub checksum: String,
    pub applied_at: DateTime<Utc>,
    pub applied_by: String,
    pub sql_preview: String,
}

/// The migrations recorded in `database` (none if the table does not exist), oldest first,
/// read as `login`'s role in a session with our pinned settings.
pub async fn list(
    host: &TenantHost,
    login: &TenantLogin,
    database: &DatabaseName,
) -> Result<Vec<AppliedMigration>, HostError> {
    let conn = connect(host, database.as_str(), login, SessionLimits::REQUEST).await?;
    let exists: bool = conn
        .query_one("SELECT pg_catalog.to_regclass('berth.schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(tenant_error)?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = conn
        .query(
            "SELECT name::text, checksum::text, applied_at::timestamptz, applied_by::text, sql_preview::text \
             FROM berth.schema_migrations ORDER BY 3, 1 LIMIT $1",
            &[&LIST_LIMIT],
        )
        .await
        .map_err(tenant_error)?;
    Ok(rows
        .iter()
        .map(|r| AppliedMigration {
            name: r.get(0),
            checksum: r.get(1),
            applied_at: r.get(2),
            applied_by: r.get(3),
            sql_preview: r.get(4),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_is_the_first_characters() {
        assert_eq!(preview("select 1"), "select 1");
        assert_eq!(preview(&"é".repeat(300)).chars().count(), PREVIEW_CHARS);
    }

    #[test]
    fn the_lock_key_spells_its_purpose() {
        assert_eq!(LOCK_KEY.to_be_bytes(), *b"berth_mi");
    }
}
