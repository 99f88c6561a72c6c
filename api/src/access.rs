//! IP allowlists: parsing rules into domain types and appending to the database's allowlist
//! stream. Enforcement follows from the events (a job re-renders PgBouncer's HBA file).
//!
//! Error choices: a malformed CIDR, a TTL of zero or over 30 days, a bad label → 400
//! `INVALID_REQUEST` naming the field; a rule that duplicates or overlaps a live one → 409
//! `CONFLICT` (like a taken name: it collides with existing state, and removing the other
//! rule makes it valid); more than the per-database cap → 422 `UNPROCESSABLE`; a database
//! that is not running or stopped (provisioning, deleting, failed) → 409; deleted → 404.
//!
//! POST and DELETE answer once the host's PgBouncer enforces the change (201 / 204), or,
//! past the server's wait budget, 202 (the change is recorded and being applied).

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use domain::allowlist::MAX_TTL_SECONDS;
use domain::{Allowlist, AllowlistCommand, AllowlistError, Cidr, RuleId, StreamId};
use eventstore::allowlists::RuleRow;
use eventstore::queries::DatabaseRow;
use eventstore::Metadata;

use crate::auth::Caller;
use crate::authz::Action;
use crate::error::{ApiError, OrInternal};
use crate::service::load_authorized;
use crate::AppState;

fn check_live(db: &DatabaseRow) -> Result<(), ApiError> {
    match db.state.as_str() {
        "running" | "stopped" => Ok(()),
        other => Err(ApiError::Conflict(format!("the database is {other}; its allowlist cannot change now"))),
    }
}

fn label(raw: Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(l) if l.chars().count() > 100 || l.chars().any(char::is_control) => {
            Err(ApiError::InvalidRequest("invalid field `label`: at most 100 characters, no control characters".into()))
        }
        other => Ok(other),
    }
}

fn allowlist_error(e: AllowlistError) -> ApiError {
    match e {
        AllowlistError::RuleNotFound => ApiError::NotFound("allowlist rule"),
        e @ AllowlistError::Overlaps { .. } => ApiError::Conflict(format!("{e}; remove it first or use it as is")),
        e @ AllowlistError::TooMany => ApiError::Unprocessable(e.to_string()),
        e @ AllowlistError::NotExpired => ApiError::internal(e),
    }
}

pub async fn list(state: &AppState, caller: &Caller, id: &str) -> Result<Vec<RuleRow>, ApiError> {
    let (db, _) = load_authorized(state, caller, id, Action::Manage).await?;
    Ok(state.store.allowlist(db.id).await?)
}

/// Waits (up to the server's budget) until the host's PgBouncer enforces the latest change
/// to the database's allowlist; false if it does not yet.
async fn wait_enforced(state: &AppState, db: &DatabaseRow) -> Result<bool, ApiError> {
    let deadline = Instant::now() + state.config.create_wait;
    let mut interval = StdDuration::from_millis(2);
    loop {
        if state.store.bouncer_has_latest_of(db.host_id, StreamId::allowlist(db.id).as_str()).await? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(StdDuration::from_millis(25));
    }
}

/// Adds a rule; returns it and whether PgBouncer enforces it already.
pub async fn add(
    state: &AppState,
    caller: &Caller,
    id: &str,
    cidr: &str,
    raw_label: Option<String>,
    ttl_seconds: Option<u64>,
    meta: Metadata,
) -> Result<(RuleRow, bool), ApiError> {
    let (db, _) = load_authorized(state, caller, id, Action::Manage).await?;
    let cidr = Cidr::parse(cidr).map_err(|e| ApiError::InvalidRequest(format!("invalid field `cidr`: {e}")))?;
    let label = label(raw_label)?;
    let now = Utc::now();
    let expires_at = match ttl_seconds {
        None => None,
        Some(t) if (1..=MAX_TTL_SECONDS).contains(&t) => Some(now + Duration::seconds(t as i64)),
        Some(_) => {
            return Err(ApiError::InvalidRequest(format!(
                "invalid field `ttl_seconds`: must be between 1 and {MAX_TTL_SECONDS} (30 days)"
            )))
        }
    };
    check_live(&db)?;
    let rule_id = RuleId::new();
    let command = AllowlistCommand::Add { database_id: db.id, rule_id, cidr, label, expires_at, now };
    if let Err(e) = state.store.execute::<Allowlist>(StreamId::allowlist(db.id).as_str(), &command, &meta, &[]).await? {
        return Err(allowlist_error(e));
    }
    let enforced = wait_enforced(state, &db).await?;
    let rules = state.store.allowlist(db.id).await?;
    Ok((rules.into_iter().find(|r| r.id == rule_id).or_internal("the rule just added is not listed")?, enforced))
}

/// Removes a rule; true once PgBouncer no longer admits by it.
pub async fn remove(state: &AppState, caller: &Caller, id: &str, rule: &str, meta: Metadata) -> Result<bool, ApiError> {
    let (db, _) = load_authorized(state, caller, id, Action::Manage).await?;
    let rule_id = RuleId::parse(rule).map_err(|_| ApiError::NotFound("allowlist rule"))?;
    check_live(&db)?;
    let command = AllowlistCommand::Remove { rule_id };
    match state.store.execute::<Allowlist>(StreamId::allowlist(db.id).as_str(), &command, &meta, &[]).await? {
        Ok(_) => wait_enforced(state, &db).await,
        Err(e) => Err(allowlist_error(e)),
    }
}
