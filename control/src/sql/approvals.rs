//! Approvals (`domain::approvals`): holding a statement, the settings, the queue, and the
//! decision — which, for an approval, runs the statement once, as the database's own role.
//!
//! Exactly once: the decision is an append at the approvals stream's version; of two
//! approvers racing, one appends `StatementApproved` and runs the statement, the other finds
//! it decided (409). The run's outcome is `ApprovedStatementRan`. If the process dies
//! between the two, the approval stays `approved` and the statement is never run again by
//! itself: running it twice could be worse than not running it (an operator sees it in the
//! queue and the per-query audit tells whether it ran).

use chrono::Utc;
use domain::{
    ApprovalCommand, ApprovalError, ApprovalEvent, ApprovalId, Approvals, QuerySource, RunOutcome, SqlSettings,
    StatementKind, StreamId,
};
use eventstore::queries::DatabaseRow;
use eventstore::sql::ApprovalRow;
use eventstore::{Extra, Metadata};

use super::classify::{classify, Classified};
use super::{audit, execute, owner_login, request, runnable};
use crate::authz::{Action, DbRole};
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::{Error, OrInternal};
use crate::reads::{page_limit, Paged};
use crate::Control;

/// The vault id of a held statement's full text.
pub fn statement_secret_id(id: ApprovalId) -> String {
    format!("approval:{}:statement", id.uuid())
}

fn approval_error(e: ApprovalError) -> Error {
    match e {
        ApprovalError::NotFound => Error::NotFound("approval"),
        ApprovalError::OwnDecision => Error::Forbidden(
            "a statement is approved by an owner or admin other than the one who asked for it (a database with no \
             admins: its owner, with `confirm: true`)",
        ),
        ApprovalError::BadTtl => Error::InvalidRequest(format!("invalid field `ttl_seconds`: {e}")),
        e @ (ApprovalError::Decided(_) | ApprovalError::Expired(_) | ApprovalError::AlreadyRan) => {
            Error::Conflict(e.to_string())
        }
        e @ ApprovalError::NotEnabled => Error::Conflict(e.to_string()),
    }
}

async fn execute_command(
    ctx: &Control,
    db: domain::DatabaseId,
    command: &ApprovalCommand,
    meta: &Metadata,
    extras: &[Extra],
) -> Result<Vec<ApprovalEvent>, Error> {
    let stream = StreamId::approvals(db);
    ctx.store.execute::<Approvals>(stream.as_str(), command, meta, extras).await?.map_err(approval_error)
}

/// Holds `text` for approval (the caller checked it is of a held kind).
pub(crate) async fn hold(
    ctx: &Control,
    caller: &Caller,
    db: &DatabaseRow,
    text: &str,
    classified: &Classified,
    meta: Metadata,
) -> Result<ApprovalId, Error> {
    let approval_id = ApprovalId::new();
    let command = ApprovalCommand::Hold {
        database_id: db.id,
        approval_id,
        statement: classified.normalized.clone().unwrap_or_else(|| "(text that does not parse)".into()),
        kinds: classified.kinds.iter().copied().collect(),
        requested_by: caller.user_id,
        now: Utc::now(),
    };
    let extras = [Extra::Secret { id: statement_secret_id(approval_id), plaintext: text.as_bytes().to_vec() }];
    execute_command(ctx, db.id, &command, &meta, &extras).await?;
    Ok(approval_id)
}

/// `GET /databases/{id}/approval-settings` (owners and admins).
pub async fn settings(ctx: &Control, caller: &Caller, id: &str) -> Result<SqlSettings, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "SQL over HTTP")?;
    Ok(ctx.store.sql_settings(db.id).await?)
}

/// What `PUT /approval-settings` may say; what it leaves out keeps its value.
#[derive(Debug, Default)]
pub struct SettingsChange {
    pub enabled: Option<bool>,
    pub kinds: Option<Vec<String>>,
    pub ttl_seconds: Option<u64>,
    pub record_statements: Option<bool>,
}

/// `PUT /databases/{id}/approval-settings` (the owner).
pub async fn configure(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    change: SettingsChange,
    meta: Metadata,
) -> Result<SqlSettings, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::OwnerOnly).await?;
    crate::databases::require_postgres(&db, "SQL over HTTP")?;
    let mut settings = ctx.store.sql_settings(db.id).await?;
    if let Some(kinds) = change.kinds {
        settings.kinds = kinds
            .iter()
            .map(|k| {
                StatementKind::parse(k).filter(|k| StatementKind::CONFIGURABLE.contains(k)).ok_or_else(|| {
                    Error::InvalidRequest(format!(
                        "invalid field `kinds`: {k:?} is not one of drop, truncate, alter, delete_without_where, \
                         update_without_where"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
    }
    settings.enabled = change.enabled.unwrap_or(settings.enabled);
    if let Some(ttl) = change.ttl_seconds {
        // Out of range is refused by the aggregate (`ApprovalError::BadTtl`).
        settings.ttl_seconds = u32::try_from(ttl).unwrap_or(u32::MAX);
    }
    settings.record_statements = change.record_statements.unwrap_or(settings.record_statements);
    let command = ApprovalCommand::Configure { database_id: db.id, settings };
    execute_command(ctx, db.id, &command, &meta, &[]).await?;
    Ok(ctx.store.sql_settings(db.id).await?)
}

/// `GET /databases/{id}/approvals` (owners and admins), newest first, with each pending
/// statement past its expiry shown as expired.
pub async fn list(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<Paged<ApprovalRow>, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "SQL over HTTP")?;
    let limit = page_limit(limit)?;
    let before = match cursor {
        Some(c) => Some(ApprovalId::parse(c).map_err(|_| Error::InvalidRequest("invalid field `cursor`".into()))?),
        None => None,
    };
    let now = Utc::now();
    let mut rows = ctx.store.approvals(db.id, before, limit).await?;
    for r in &mut rows {
        r.state = r.state_at(now);
    }
    Ok(Paged::of(rows, limit, |r| r.id.to_string()))
}

/// Whether the decider may decide their own request: the owner, on a database shared with
/// no admin, who confirmed it.
async fn self_decision_allowed(ctx: &Control, db: &DatabaseRow, role: DbRole, confirm: bool) -> Result<bool, Error> {
    if !confirm || role != DbRole::Owner {
        return Ok(false);
    }
    let collaborators = ctx.store.collaborators(db.id).await?;
    Ok(!collaborators.iter().any(|c| c.role == "admin"))
}

/// `POST /databases/{id}/approvals/{approval_id}/approve` or `/reject`. An approval runs the
/// statement at once, as the database's own role, and answers what came of it.
pub async fn decide(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    approval: &str,
    approve: bool,
    confirm: bool,
    meta: Metadata,
) -> Result<ApprovalRow, Error> {
    let (db, role) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "SQL over HTTP")?;
    let approval_id = ApprovalId::parse(approval).map_err(|_| Error::NotFound("approval"))?;
    let held = match ctx.store.approval(approval_id).await {
        Ok(row) if row.database_id == db.id => row,
        Ok(_) | Err(eventstore::StoreError::NotFound) => return Err(Error::NotFound("approval")),
        Err(e) => return Err(e.into()),
    };
    // What running it takes is checked before the decision is recorded: an approval whose
    // statement then could not start would stay approved and never run.
    let ready = match approve {
        true => {
            runnable(&db)?;
            Some((ctx.sql_slots.acquire(db.id)?, owner_login(ctx, &db, "an approved statement runs").await?))
        }
        false => None,
    };
    let command = ApprovalCommand::Decide {
        approval_id,
        approve,
        by: caller.user_id,
        self_decision_allowed: self_decision_allowed(ctx, &db, role, confirm).await?,
        now: Utc::now(),
    };
    let events = execute_command(ctx, db.id, &command, &meta, &[]).await?;
    if let [ApprovalEvent::ApprovalExpired { .. }] = &events[..] {
        return Err(Error::Conflict(format!("the approval expired at {}", held.expires_at.to_rfc3339())));
    }
    if let Some((_slot, (host, login))) = ready {
        run_approved(ctx, &db, approval_id, &host, &login, &meta).await?;
    }
    Ok(ctx.store.approval(approval_id).await?)
}

/// Runs an approved statement once and records what came of it.
async fn run_approved(
    ctx: &Control,
    db: &DatabaseRow,
    approval_id: ApprovalId,
    host: &domain::TenantHost,
    login: &hostctl::TenantLogin,
    meta: &Metadata,
) -> Result<(), Error> {
    let text = ctx.store.get_secret(&statement_secret_id(approval_id)).await.or_internal("reading a held statement")?;
    let text = String::from_utf8(text).or_internal("a held statement's text")?;
    let settings = ctx.store.sql_settings(db.id).await?;
    let classified = classify(&text);
    let outcome = execute(host, login, &db.name, &request(ctx, text, Vec::new(), false)).await;
    let source = QuerySource::Approval;
    let record = audit::Record { db: db.id, source, classified: &classified, settings: &settings, outcome: &outcome };
    let run = audit::record(ctx, record, meta.clone()).await?;
    let outcome = RunOutcome { command: run.command, row_count: run.row_count, error: run.error };
    execute_command(ctx, db.id, &ApprovalCommand::RecordRun { approval_id, outcome }, meta, &[]).await?;
    Ok(())
}
