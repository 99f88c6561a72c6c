//! IP allowlists: parsing rules into domain types and appending to the database's allowlist
//! stream. Enforcement follows from the events (a job re-renders PgBouncer's HBA file).
//!
//! Error choices: a malformed CIDR, a TTL of zero or over 30 days, a bad label → 400
//! `INVALID_REQUEST` naming the field; a rule that duplicates or overlaps a live one → 409
//! `CONFLICT` (like a taken name: it collides with existing state, and removing the other
//! rule makes it valid); more than the per-database cap → 422 `UNPROCESSABLE`; a database
//! that is not running or stopped (provisioning, deleting, failed) → 409; deleted → 404.
//!
//! Adding and removing wait, up to the wait budget, until the host's PgBouncer enforces the
//! change, and say whether it does (the API answers 201/204 if so, else 202: recorded and
//! being applied).

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use domain::allowlist::MAX_TTL_SECONDS;
use domain::{Allowlist, AllowlistCommand, AllowlistError, Cidr, RuleId, StreamId};
use eventstore::allowlists::RuleRow;
use eventstore::queries::DatabaseRow;
use eventstore::Metadata;

use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::{Error, OrInternal};
use crate::Control;

fn check_live(db: &DatabaseRow) -> Result<(), Error> {
    match db.state.as_str() {
        "running" | "stopped" => Ok(()),
        other => Err(Error::Conflict(format!("the database is {other}; its allowlist cannot change now"))),
    }
}

fn label(raw: Option<String>) -> Result<Option<String>, Error> {
    match raw {
        Some(l) if l.chars().count() > 100 || l.chars().any(char::is_control) => {
            Err(Error::InvalidRequest("invalid field `label`: at most 100 characters, no control characters".into()))
        }
        other => Ok(other),
    }
}

fn allowlist_error(e: AllowlistError) -> Error {
    match e {
        AllowlistError::RuleNotFound => Error::NotFound("allowlist rule"),
        e @ AllowlistError::Overlaps { .. } => Error::Conflict(format!("{e}; remove it first or use it as is")),
        e @ AllowlistError::TooMany => Error::Unprocessable(e.to_string()),
        e @ AllowlistError::NotExpired => Error::internal(e),
    }
}

pub async fn list(ctx: &Control, caller: &Caller, id: &str) -> Result<Vec<RuleRow>, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    Ok(ctx.store.allowlist(db.id).await?)
}

/// Waits (up to the server's budget) until the host's PgBouncer enforces the latest change
/// to the database's allowlist; false if it does not yet.
async fn wait_enforced(ctx: &Control, db: &DatabaseRow) -> Result<bool, Error> {
    let deadline = Instant::now() + ctx.settings.wait;
    let mut interval = StdDuration::from_millis(2);
    loop {
        if ctx.store.bouncer_has_latest_of(db.host_id, StreamId::allowlist(db.id).as_str()).await? {
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
    ctx: &Control,
    caller: &Caller,
    id: &str,
    cidr: &str,
    raw_label: Option<String>,
    ttl_seconds: Option<u64>,
    meta: Metadata,
) -> Result<(RuleRow, bool), Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let cidr = Cidr::parse(cidr).map_err(|e| Error::InvalidRequest(format!("invalid field `cidr`: {e}")))?;
    let label = label(raw_label)?;
    let now = Utc::now();
    let expires_at = match ttl_seconds {
        None => None,
        Some(t) if (1..=MAX_TTL_SECONDS).contains(&t) => Some(now + Duration::seconds(t as i64)),
        Some(_) => {
            return Err(Error::InvalidRequest(format!(
                "invalid field `ttl_seconds`: must be between 1 and {MAX_TTL_SECONDS} (30 days)"
            )))
        }
    };
    check_live(&db)?;
    let rule_id = RuleId::new();
    let command = AllowlistCommand::Add { database_id: db.id, rule_id, cidr, label, expires_at, now };
    if let Err(e) = ctx.store.execute::<Allowlist>(StreamId::allowlist(db.id).as_str(), &command, &meta, &[]).await? {
        return Err(allowlist_error(e));
    }
    let enforced = wait_enforced(ctx, &db).await?;
    let rules = ctx.store.allowlist(db.id).await?;
    Ok((rules.into_iter().find(|r| r.id == rule_id).or_internal("the rule just added is not listed")?, enforced))
}

/// Removes a rule; true once PgBouncer no longer admits by it.
pub async fn remove(ctx: &Control, caller: &Caller, id: &str, rule: &str, meta: Metadata) -> Result<bool, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let rule_id = RuleId::parse(rule).map_err(|_| Error::NotFound("allowlist rule"))?;
    check_live(&db)?;
    let command = AllowlistCommand::Remove { rule_id };
    match ctx.store.execute::<Allowlist>(StreamId::allowlist(db.id).as_str(), &command, &meta, &[]).await? {
        Ok(_) => wait_enforced(ctx, &db).await,
        Err(e) => Err(allowlist_error(e)),
    }
}
