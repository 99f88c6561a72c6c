//! What the backup, restore and branch routes do, between parsing and serialising.

use std::time::Duration;

use actix_web::http::StatusCode;
use domain::{
    Backup, BackupCommand, BackupError, BackupId, BackupTrigger, DatabaseName, DatabaseSource, DeletionReason,
    OperationId, StreamId,
};
use eventstore::backups::BackupRow;
use eventstore::queries::DatabaseRow;
use eventstore::{Extra, Metadata};

use crate::auth::Caller;
use crate::authz::Action;
use crate::error::ApiError;
use crate::service::{create_from, load_authorized};
use crate::views::CreatedDatabase;
use crate::AppState;

fn domain_error(e: BackupError) -> ApiError {
    match e {
        BackupError::NotFound => ApiError::NotFound("backup"),
        BackupError::AlreadyExists => ApiError::Conflict("the backup was changed concurrently; retry".into()),
        BackupError::WrongState { state, action } => {
            ApiError::Conflict(format!("the backup is {}; cannot {action} it now", state.as_str()))
        }
    }
}

async fn execute(state: &AppState, id: BackupId, command: &BackupCommand, meta: &Metadata) -> Result<(), ApiError> {
    execute_with(state, id, command, meta, &[]).await
}

async fn execute_with(
    state: &AppState,
    id: BackupId,
    command: &BackupCommand,
    meta: &Metadata,
    extras: &[Extra],
) -> Result<(), ApiError> {
    match state.store.execute::<Backup>(StreamId::backup(id).as_str(), command, meta, extras).await? {
        Ok(_) => Ok(()),
        Err(e) => Err(domain_error(e)),
    }
}

/// The database (authorised for `action`) and one of its backups that is not deleted.
pub async fn load_backup(
    state: &AppState,
    caller: &Caller,
    db: &str,
    backup: &str,
    action: Action,
) -> Result<(DatabaseRow, BackupRow), ApiError> {
    let (db, _) = load_authorized(state, caller, db, action).await?;
    let id = BackupId::parse(backup).map_err(|_| ApiError::NotFound("backup"))?;
    let backup = match state.store.backup(id).await {
        Ok(b) if b.database_id == db.id && b.state != domain::BackupState::Deleted => b,
        Ok(_) | Err(eventstore::StoreError::NotFound) => return Err(ApiError::NotFound("backup")),
        Err(e) => return Err(e.into()),
    };
    Ok((db, backup))
}

pub async fn request(
    state: &AppState,
    caller: &Caller,
    db: &str,
    label: Option<String>,
    meta: Metadata,
) -> Result<BackupRow, ApiError> {
    let (db, _) = load_authorized(state, caller, db, Action::Credentials).await?;
    if db.state != domain::DatabaseState::Running {
        return Err(ApiError::Conflict(format!("the database is {}; cannot back it up now", db.state)));
    }
    if label.as_ref().is_some_and(|l| l.chars().count() > 200) {
        return Err(ApiError::InvalidRequest("invalid field `label`: at most 200 characters".into()));
    }
    let id = BackupId::new();
    let command = BackupCommand::Request {
        backup_id: id,
        database_id: db.id,
        operation_id: OperationId::new(),
        trigger: BackupTrigger::Manual,
        label,
        scheduled_for: None,
    };
    // Manual backups per database per UTC day are capped (scheduled ones are not counted),
    // under a lock per database that only these checks take, so racing requests cannot both
    // pass and none waits on the database's other writers (see `Extra::ManualBackupQuota`).
    let max = state.config.limits.manual_backups_per_day;
    let since = chrono::Utc::now().date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let extras = [Extra::ManualBackupQuota { database_id: db.id.uuid(), since, max }];
    match execute_with(state, id, &command, &meta, &extras).await {
        Err(ApiError::QuotaExceeded(_)) => {
            return Err(ApiError::QuotaExceeded(format!(
                "a database may have {max} manual backups per day (UTC); scheduled backups continue"
            )))
        }
        other => other?,
    }
    // The answer is the backup as this request left it (API.md: `state: "pending"`); a fast
    // worker may already be running it, which the next GET shows.
    let mut row = state.store.backup(id).await?;
    row.state = domain::BackupState::Pending;
    (row.object_key, row.size_bytes, row.sha256, row.error) = (None, None, None, None);
    (row.started_at, row.finished_at) = (None, None);
    row.tables.clear();
    Ok(row)
}

pub async fn delete(
    state: &AppState,
    caller: &Caller,
    db: &str,
    backup: &str,
    meta: Metadata,
) -> Result<BackupRow, ApiError> {
    let (_, b) = load_backup(state, caller, db, backup, Action::Manage).await?;
    execute(state, b.id, &BackupCommand::Delete { reason: DeletionReason::User }, &meta).await?;
    Ok(state.store.backup(b.id).await?)
}

pub async fn verify(
    state: &AppState,
    caller: &Caller,
    db: &str,
    backup: &str,
    meta: Metadata,
) -> Result<(BackupRow, OperationId), ApiError> {
    let (_, b) = load_backup(state, caller, db, backup, Action::Manage).await?;
    let operation_id = OperationId::new();
    execute(state, b.id, &BackupCommand::RequestVerification { operation_id }, &meta).await?;
    Ok((b, operation_id))
}

/// Restores a succeeded backup of `db` into a new database `target_name` (the caller's).
pub async fn restore(
    state: &AppState,
    caller: &Caller,
    db: &str,
    backup: &str,
    target_name: &str,
    meta: Metadata,
) -> Result<(StatusCode, CreatedDatabase), ApiError> {
    let (_, b) = load_backup(state, caller, db, backup, Action::OwnerOnly).await.map_err(|e| match e {
        // A malformed id in the body is the body's fault.
        ApiError::NotFound(_) => ApiError::NotFound("backup"),
        other => other,
    })?;
    caller.require_full_account()?;
    if b.state != domain::BackupState::Succeeded {
        return Err(ApiError::Conflict(format!("the backup is {}; only a succeeded backup can be restored", b.state)));
    }
    let name = DatabaseName::parse(target_name)
        .map_err(|e| ApiError::InvalidName(format!("invalid field `target_name`: {e}")))?;
    let source = DatabaseSource::Backup { backup_id: b.id };
    create_from(state, caller, name, Some(source), meta, Duration::ZERO).await
}

/// A new database `name` holding `db`'s current schema and data.
pub async fn branch(
    state: &AppState,
    caller: &Caller,
    db: &str,
    name: &str,
    meta: Metadata,
) -> Result<(StatusCode, CreatedDatabase), ApiError> {
    let (db, _) = load_authorized(state, caller, db, Action::OwnerOnly).await?;
    // A branch is a new database of the account: a key limited to some databases cannot.
    caller.require_full_account()?;
    if db.state != domain::DatabaseState::Running {
        return Err(ApiError::Conflict(format!("the database is {}; cannot branch it now", db.state)));
    }
    let name = DatabaseName::parse(name).map_err(|e| ApiError::InvalidName(format!("invalid field `name`: {e}")))?;
    let source = DatabaseSource::Branch { database_id: db.id };
    create_from(state, caller, name, Some(source), meta, Duration::ZERO).await
}
