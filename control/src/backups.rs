//! Backups: request, delete and verify one; restore one, or branch a running database, into
//! a new database of the caller's account.

use std::time::Duration;

use domain::{
    Backup, BackupCommand, BackupError, BackupId, BackupTrigger, DatabaseName, DatabaseSource, DeletionReason,
    OperationId, StreamId,
};
use eventstore::backups::BackupRow;
use eventstore::queries::DatabaseRow;
use eventstore::{Extra, Metadata};

use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::{create_from, load_authorized, Created};
use crate::error::{Error, OrInternal};
use crate::Control;

fn domain_error(e: BackupError) -> Error {
    match e {
        BackupError::NotFound => Error::NotFound("backup"),
        BackupError::AlreadyExists => Error::Conflict("the backup was changed concurrently; retry".into()),
        BackupError::WrongState { state, action } => {
            Error::Conflict(format!("the backup is {}; cannot {action} it now", state.as_str()))
        }
    }
}

async fn execute(ctx: &Control, id: BackupId, command: &BackupCommand, meta: &Metadata) -> Result<(), Error> {
    execute_with(ctx, id, command, meta, &[]).await
}

async fn execute_with(
    ctx: &Control,
    id: BackupId,
    command: &BackupCommand,
    meta: &Metadata,
    extras: &[Extra],
) -> Result<(), Error> {
    match ctx.store.execute::<Backup>(StreamId::backup(id).as_str(), command, meta, extras).await? {
        Ok(_) => Ok(()),
        Err(e) => Err(domain_error(e)),
    }
}

/// The database (authorised for `action`) and one of its backups that is not deleted.
pub async fn load_backup(
    ctx: &Control,
    caller: &Caller,
    db: &str,
    backup: &str,
    action: Action,
) -> Result<(DatabaseRow, BackupRow), Error> {
    let (db, _) = load_authorized(ctx, caller, db, action).await?;
    let id = BackupId::parse(backup).map_err(|_| Error::NotFound("backup"))?;
    let backup = match ctx.store.backup(id).await {
        Ok(b) if b.database_id == db.id && b.state != domain::BackupState::Deleted => b,
        Ok(_) | Err(eventstore::StoreError::NotFound) => return Err(Error::NotFound("backup")),
        Err(e) => return Err(e.into()),
    };
    Ok((db, backup))
}

pub async fn request(
    ctx: &Control,
    caller: &Caller,
    db: &str,
    label: Option<String>,
    meta: Metadata,
) -> Result<BackupRow, Error> {
    let (db, _) = load_authorized(ctx, caller, db, Action::Credentials).await?;
    if db.state != domain::DatabaseState::Running {
        return Err(Error::Conflict(format!("the database is {}; cannot back it up now", db.state)));
    }
    if label.as_ref().is_some_and(|l| l.chars().count() > 200) {
        return Err(Error::InvalidRequest("invalid field `label`: at most 200 characters".into()));
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
    let max = ctx.settings.limits.manual_backups_per_day;
    let since = chrono::Utc::now().date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    let extras = [Extra::ManualBackupQuota { database_id: db.id.uuid(), since, max }];
    match execute_with(ctx, id, &command, &meta, &extras).await {
        Err(Error::QuotaExceeded(_)) => {
            return Err(Error::QuotaExceeded(format!(
                "a database may have {max} manual backups per day (UTC); scheduled backups continue"
            )))
        }
        other => other?,
    }
    // The answer is the backup as this request left it (API.md: `state: "pending"`); a fast
    // worker may already be running it, which the next GET shows.
    let mut row = ctx.store.backup(id).await?;
    row.state = domain::BackupState::Pending;
    (row.object_key, row.size_bytes, row.sha256, row.error) = (None, None, None, None);
    (row.started_at, row.finished_at) = (None, None);
    row.tables.clear();
    Ok(row)
}

pub async fn delete(
    ctx: &Control,
    caller: &Caller,
    db: &str,
    backup: &str,
    meta: Metadata,
) -> Result<BackupRow, Error> {
    let (_, b) = load_backup(ctx, caller, db, backup, Action::Manage).await?;
    execute(ctx, b.id, &BackupCommand::Delete { reason: DeletionReason::User }, &meta).await?;
    Ok(ctx.store.backup(b.id).await?)
}

pub async fn verify(
    ctx: &Control,
    caller: &Caller,
    db: &str,
    backup: &str,
    meta: Metadata,
) -> Result<(BackupRow, OperationId), Error> {
    let (_, b) = load_backup(ctx, caller, db, backup, Action::Manage).await?;
    let operation_id = OperationId::new();
    execute(ctx, b.id, &BackupCommand::RequestVerification { operation_id }, &meta).await?;
    Ok((b, operation_id))
}

/// Restores a succeeded backup of `db` into a new database `target_name` (the caller's).
pub async fn restore(
    ctx: &Control,
    caller: &Caller,
    db: &str,
    backup: &str,
    target_name: &str,
    meta: Metadata,
) -> Result<Created, Error> {
    let (source_db, b) = load_backup(ctx, caller, db, backup, Action::OwnerOnly).await.map_err(|e| match e {
        // A malformed id in the body is the body's fault.
        Error::NotFound(_) => Error::NotFound("backup"),
        other => other,
    })?;
    caller.require_full_account()?;
    if b.state != domain::BackupState::Succeeded {
        return Err(Error::Conflict(format!("the backup is {}; only a succeeded backup can be restored", b.state)));
    }
    let name = DatabaseName::parse(target_name)
        .map_err(|e| Error::InvalidName(format!("invalid field `target_name`: {e}")))?;
    let source = DatabaseSource::Backup { backup_id: b.id };
    // Placed like a new database (any host of the engine with room), not beside its source.
    let placed = crate::databases::Placement { engine: source_db.engine, region: None, source: Some(source) };
    create_from(ctx, caller, name, placed, meta, Duration::ZERO).await
}

/// A new database `name` holding `db`'s current schema and data.
pub async fn branch(ctx: &Control, caller: &Caller, db: &str, name: &str, meta: Metadata) -> Result<Created, Error> {
    let (db, _) = load_authorized(ctx, caller, db, Action::OwnerOnly).await?;
    // A branch is a new database of the account: a key limited to some databases cannot.
    caller.require_full_account()?;
    if db.state != domain::DatabaseState::Running {
        return Err(Error::Conflict(format!("the database is {}; cannot branch it now", db.state)));
    }
    let name = DatabaseName::parse(name).map_err(|e| Error::InvalidName(format!("invalid field `name`: {e}")))?;
    let source = DatabaseSource::Branch { database_id: db.id };
    let placed = crate::databases::Placement { engine: db.engine, region: None, source: Some(source) };
    create_from(ctx, caller, name, placed, meta, Duration::ZERO).await
}

/// The database's backups (newest first), for a caller who may see its credentials.
pub async fn list(ctx: &Control, caller: &Caller, db: &str) -> Result<Vec<BackupRow>, Error> {
    let (db, _) = load_authorized(ctx, caller, db, Action::Credentials).await?;
    Ok(ctx.store.backups_of(db.id).await?)
}

/// A backup that can be downloaded: its object's key, sha256 and size.
pub struct Downloadable {
    pub object_key: String,
    pub sha256: String,
    pub size_bytes: i64,
}

/// Where a succeeded backup's object is, for a caller who may see the credentials.
pub async fn downloadable(ctx: &Control, caller: &Caller, db: &str, backup: &str) -> Result<Downloadable, Error> {
    let (_, backup) = load_backup(ctx, caller, db, backup, Action::Credentials).await?;
    match (backup.object_key, backup.sha256, backup.size_bytes, backup.state.as_str()) {
        (Some(object_key), Some(sha256), Some(size_bytes), "succeeded") => {
            Ok(Downloadable { object_key, sha256, size_bytes })
        }
        _ => Err(Error::Conflict(format!("the backup is {}; only a succeeded backup can be downloaded", backup.state))),
    }
}

/// The platform's nightly backup of `database` for `day` (ids derived from the day by the
/// scheduler, so replicas agree): `Ok(true)` if this call requested it, `Ok(false)` if
/// another replica was first.
pub async fn request_scheduled(
    store: &eventstore::Store,
    backup_id: BackupId,
    database_id: domain::DatabaseId,
    operation_id: OperationId,
    day: chrono::NaiveDate,
) -> Result<bool, Error> {
    let command = BackupCommand::Request {
        backup_id,
        database_id,
        operation_id,
        trigger: BackupTrigger::Scheduled,
        label: None,
        scheduled_for: Some(day),
    };
    match store.execute::<Backup>(StreamId::backup(backup_id).as_str(), &command, &Metadata::default(), &[]).await {
        Ok(Ok(_)) => Ok(true),
        // Another replica was first: that is the point.
        Ok(Err(BackupError::AlreadyExists)) => Ok(false),
        Err(eventstore::StoreError::Conflict(c)) if c == "stream_version" || c == "backups_one_per_day" => Ok(false),
        Ok(Err(e)) => Err(e).or_internal("scheduling a backup"),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a backup past the retention period: `Ok(true)` if this call deleted it,
/// `Ok(false)` if it was no longer deletable (deleted already, or running).
pub async fn delete_expired(store: &eventstore::Store, backup_id: BackupId) -> Result<bool, Error> {
    let command = BackupCommand::Delete { reason: DeletionReason::Retention };
    match store.execute::<Backup>(StreamId::backup(backup_id).as_str(), &command, &Metadata::default(), &[]).await? {
        Ok(_) => Ok(true),
        Err(BackupError::WrongState { .. }) => Ok(false),
        Err(e) => Err(e).or_internal("deleting an expired backup"),
    }
}
