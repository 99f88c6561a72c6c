//! SQL over HTTP: `POST /databases/{id}/sql` ([`run`]), its per-query audit ([`audit`]),
//! the explorer role read-only SQL runs under ([`explorer`]), approvals ([`approvals`]) and
//! the statement classifier they stand on ([`classify`]).
//!
//! Who runs what:
//! - owners and admins run SQL as the database's own role (never more), in a session of its
//!   own per request ([`hostctl::sql::run`]);
//! - read-only SQL — asked for with `read_only`, and the only kind a developer gets — runs
//!   under the database's explorer role inside a read-only transaction: PostgreSQL refuses
//!   every write, the text is never inspected for it;
//! - viewers run none.
//!
//! Every request is bounded: the statement timeout (`[limits] sql_timeout_secs`), rows and
//! bytes of the answer, and the requests running at once per database and per process (more
//! are 429) — a tenant's SQL cannot take the platform's slots from other tenants.

pub mod approvals;
pub mod audit;
pub mod audit_writer;
pub mod classify;
pub mod explorer;
mod slots;

use std::time::{Duration, Instant};

use domain::{ApprovalId, DatabaseName, QuerySource, TenantHost};
use eventstore::queries::DatabaseRow;
use eventstore::Metadata;
pub use hostctl::sql::SqlResult;
use hostctl::sql::{SqlError, SqlRequest};
use hostctl::TenantLogin;
use serde_json::Value;

use crate::authz::{Action, DbRole};
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::Error;
pub(crate) use crate::owner_login::owner_login;
use crate::Control;

pub use slots::SqlSlots;

/// What a caller sends: exactly one of `query` and `file_content`.
#[derive(Debug, Clone, Default)]
pub struct SqlInput {
    pub query: Option<String>,
    pub file_content: Option<String>,
    pub params: Vec<Value>,
    pub read_only: bool,
}

/// What came of it: rows, or the statement held for approval.
#[derive(Debug)]
pub enum SqlOutcome {
    Ran(SqlResult),
    Held { approval_id: ApprovalId },
}

/// A database that is not running, or locked, runs no SQL.
pub(crate) fn runnable(db: &DatabaseRow) -> Result<(), Error> {
    if db.state != domain::DatabaseState::Running {
        return Err(Error::Conflict(format!("the database is {}; SQL runs while it is running", db.state)));
    }
    if let Some(reason) = db.locked_reason {
        return Err(Error::Conflict(format!("the database is locked: {}", reason.explanation())));
    }
    Ok(())
}

/// The host did not answer, or what reaching it takes could not be read: logged here, the
/// caller is told the host did not answer.
pub(crate) fn host_error(e: &dyn std::fmt::Display) -> Error {
    tracing::warn!(error = %e, "SQL over HTTP could not reach a tenant database");
    Error::Unavailable("the database's host did not answer".into())
}

/// The request as `hostctl` runs it, with the deployment's caps.
pub(crate) fn request(ctx: &Control, text: String, params: Vec<Value>, read_only: bool) -> SqlRequest {
    let l = &ctx.settings.limits;
    SqlRequest {
        text,
        params,
        read_only,
        timeout: Duration::from_secs(l.sql_timeout_secs.max(1)),
        max_rows: l.sql_max_rows,
        max_bytes: l.sql_max_bytes,
    }
}

/// A failed run as the caller sees it. The tenant's own error about its own SQL is shown to
/// whoever may run SQL on the database.
pub(crate) fn sql_failure(e: SqlError) -> Error {
    match e {
        SqlError::Sql { code, message, detail, hint, position } => {
            let mut text = format!("{message} (SQLSTATE {code})");
            if let Some(p) = position {
                text.push_str(&format!(" at character {p}"));
            }
            if let Some(d) = detail {
                text.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = hint {
                text.push_str(&format!("; hint: {h}"));
            }
            Error::Unprocessable(text)
        }
        e @ SqlError::Timeout(_) => Error::Unprocessable(e.to_string()),
        // Valid JSON that cannot run as given (the params do not fit the statement, a COPY).
        SqlError::Rejected(m) => Error::Unprocessable(m),
        SqlError::Unavailable(m) => host_error(&m),
        SqlError::Refused { code } => {
            state_refusal(&code).unwrap_or_else(|| host_error(&format!("the login was refused (SQLSTATE {code})")))
        }
    }
}

/// A login the database refused because of its own state, as the caller sees it: its
/// connection limit (the tenant's own sessions) is 429; stopping, restarting, locked
/// (`ALLOW_CONNECTIONS false`) or going away is 409 — the database, not the host.
fn state_refusal(code: &str) -> Option<Error> {
    match code {
        "53300" => Some(Error::RateLimited(Duration::from_secs(1))),
        "57P03" | "55000" | "3D000" | "28000" => Some(Error::Conflict(format!(
            "the database is not taking sessions now (SQLSTATE {code}); retry once it runs"
        ))),
        _ => None,
    }
}

/// [`host_error`], unless the database refused the session for its own state
/// ([`state_refusal`]).
pub(crate) fn tenant_host_error(e: &hostctl::HostError) -> Error {
    let code = match e {
        hostctl::HostError::Postgres(pg) => pg.as_db_error().map(|d| d.code().code().to_owned()),
        _ => None,
    };
    code.and_then(|c| state_refusal(&c)).unwrap_or_else(|| host_error(e))
}

/// Checks there is SQL text (how long it may be is the API's body cap).
fn check_text(text: &str) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::InvalidRequest("invalid field `query`: the SQL text is empty".into()));
    }
    Ok(())
}

/// `POST /databases/{id}/sql`.
pub async fn run(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    input: SqlInput,
    meta: Metadata,
) -> Result<SqlOutcome, Error> {
    let (db, role) = load_authorized(ctx, caller, id, Action::Credentials).await?;
    crate::databases::require_postgres(&db, "SQL over HTTP")?;
    let text = match (input.query, input.file_content) {
        (Some(q), None) => q,
        (None, Some(f)) => f,
        _ => return Err(Error::InvalidRequest("exactly one of `query` and `file_content` is required".into())),
    };
    check_text(&text)?;
    runnable(&db)?;
    // Developers read; owners and admins read when they ask to.
    let read_only = input.read_only || role < DbRole::Admin;
    let classify = audit::classify_cached(&text);
    let source = if read_only { QuerySource::Explorer } else { QuerySource::Sql };
    let login = async {
        match source {
            QuerySource::Explorer => explorer::login(ctx, &db).await,
            _ => owner_login(ctx, &db, "SQL runs").await,
        }
    };
    // The control plane's reads at once: they are most of what the request waits for.
    let (settings, classified, (host, login)) =
        tokio::try_join!(async { Ok(crate::data_cache::sql_settings(ctx, db.id).await?) }, classify, login)?;
    let kinds: Vec<_> = classified.kinds.iter().copied().collect();
    if !read_only && settings.holds(&kinds) {
        if !input.params.is_empty() {
            return Err(Error::InvalidRequest(
                "invalid field `params`: a statement held for approval cannot bind params (their values would \
                 have to be kept until it runs); write them into the text"
                    .into(),
            ));
        }
        let approval_id = approvals::hold(ctx, caller, &db, &text, &classified, meta).await?;
        return Ok(SqlOutcome::Held { approval_id });
    }
    let _slot = ctx.sql_slots.acquire(db.id)?;
    let req = request(ctx, text, input.params, read_only);
    let unfinished = audit::Unfinished::new(&ctx.store, db.id, source, &classified, &settings, &meta);
    let outcome = execute(&host, &login, &db.name, &req).await;
    unfinished.disarm();
    if matches!(outcome.result, Err(SqlError::Unavailable(_))) && source == QuerySource::Explorer {
        // The role may be gone (an operator dropped it): made again on the next request.
        ctx.explorers.lock().remove(&db.id);
    }
    let record = audit::Record { db: db.id, source, classified: &classified, settings: &settings, outcome: &outcome };
    audit::record(ctx, record, meta).await?;
    match outcome.result {
        Ok(r) => Ok(SqlOutcome::Ran(r)),
        Err(e @ (SqlError::Unavailable(_) | SqlError::Refused { .. })) => {
            // A stop, restart, lock or delete that began while the request ran is the
            // database's state (409), not a host that failed.
            if let Ok(fresh) = ctx.store.database(db.id).await {
                runnable(&fresh)?;
            }
            Err(sql_failure(e))
        }
        Err(e) => Err(sql_failure(e)),
    }
}

/// A run and how long it took.
pub(crate) struct Timed {
    pub result: Result<SqlResult, SqlError>,
    pub elapsed: Duration,
}

pub(crate) async fn execute(host: &TenantHost, login: &TenantLogin, name: &DatabaseName, req: &SqlRequest) -> Timed {
    let started = Instant::now();
    let result = hostctl::sql::run(host, login, name, req).await;
    Timed { result, elapsed: started.elapsed() }
}

#[cfg(test)]
mod refusal_tests {
    use super::*;

    #[test]
    fn a_database_refusing_sessions_for_its_state_is_not_a_host_failure() {
        for stopping in ["57P03", "55000", "3D000", "28000"] {
            assert_eq!(state_refusal(stopping).map(|e| e.code()), Some("CONFLICT"), "{stopping}");
        }
        assert_eq!(state_refusal("53300").map(|e| e.code()), Some("RATE_LIMITED"));
        assert!(state_refusal("28P01").is_none(), "a wrong password of ours is the platform's failure");
        let refused = sql_failure(SqlError::Refused { code: "55000".into() });
        assert_eq!(refused.code(), "CONFLICT");
    }
}
