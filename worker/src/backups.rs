//! Backup jobs: take a backup, remove a deleted backup's object, verify a backup by restoring
//! it into a scratch database; and the "populate" provisioning step that fills a new
//! database from a backup (restore) or from another database (branch).

use chrono::{DateTime, Utc};
use domain::{
    Backup, BackupCommand, BackupError, BackupId, BackupState, DatabaseId, DatabaseName, DatabaseSource, DatabaseState,
    StreamId,
};
use eventstore::incidents::IncidentReport;
use eventstore::{Metadata, Store};
use hostctl::bins::PgBins;
use hostctl::engine::{BackupTaken, Streams};
use hostctl::objects::{store_error, ObjectStoreConfig};
use hostctl::{restore_check, HostError, TenantEngine, TenantLogin};
use opendal::Operator;

use crate::jobs::Runner;
use crate::queue::JobError;

/// What backup jobs need: where objects go and the PostgreSQL client tools.
#[derive(Clone)]
pub struct BackupRuntime {
    pub objects: Operator,
    pub bins: PgBins,
    /// gzip level: 1 is as fast as `gzip -1` and compresses SQL well enough.
    pub level: u32,
}

impl BackupRuntime {
    pub fn new(config: &ObjectStoreConfig) -> anyhow::Result<Self> {
        Ok(Self { objects: config.operator()?, bins: PgBins::find()?, level: 1 })
    }

    /// What a data-lane job of `runner` streams through.
    pub(crate) fn streams(&self, runner: &Runner) -> Streams<'_> {
        Streams { objects: &self.objects, bins: &self.bins, level: self.level, deadline: runner.limits.data_deadline }
    }
}

/// The scratch database a verification of backup `id` restores into: a `berth-` name no
/// tenant can take, owned by the tenant's role and counted in its storage while it exists.
pub fn scratch_name(id: BackupId) -> String {
    format!("berth-verify-{}", &id.uuid().simple().to_string()[..16])
}

/// `<database>/<YYYYMMDD_HHMMSS>.sql.gz`, UTC; the `n`th backup to start in the same second
/// (n ≥ 2) is `<database>/<YYYYMMDD_HHMMSS>-<n>.sql.gz`.
pub fn object_key(database: &str, at: DateTime<Utc>, n: u32) -> String {
    let stamp = at.format("%Y%m%d_%H%M%S");
    if n <= 1 {
        format!("{database}/{stamp}.sql.gz")
    } else {
        format!("{database}/{stamp}-{n}.sql.gz")
    }
}

/// Incidents a successful backup clears.
pub const BACKUP_FAILED: &str = "backup_failed";
pub const BACKUP_STALE: &str = "backup_stale";

impl Runner {
    pub(crate) fn runtime(&self) -> Result<&BackupRuntime, JobError> {
        self.backups.as_ref().ok_or_else(|| JobError::abort("backups are not configured on this worker"))
    }

    /// Decides and appends a backup command. `Ok(false)`: the backup is past that point (a
    /// re-run after the outcome was recorded).
    pub(crate) async fn backup_command(&self, id: BackupId, command: BackupCommand) -> Result<bool, JobError> {
        let meta = Metadata { causation_id: Some(id.uuid()), ..Metadata::default() };
        match self.store.execute::<Backup>(StreamId::backup(id).as_str(), &command, &meta, &[]).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(BackupError::WrongState { .. })) => Ok(false),
            Ok(Err(e)) => Err(JobError::abort_from(e.to_string(), e)),
            Err(e) => Err(JobError::retry_from(format!("control plane: {e}"), e)),
        }
    }

    /// One attempt at a backup. A previous attempt's object (complete or not) is removed
    /// first, so a retry after a kill leaves exactly one object: this attempt's.
    pub(crate) async fn run_backup(&self, id: BackupId, attempt: u32) -> Result<(), JobError> {
        let rt = self.runtime()?;
        let backup = self.store.backup(id).await.map_err(store_err)?;
        if !matches!(backup.state, BackupState::Pending | BackupState::Running) {
            tracing::info!(backup = %id, state = %backup.state, "nothing to do: backup already finished");
            return Ok(());
        }
        let db = self.store.database(backup.database_id).await.map_err(store_err)?;
        // Names are handed out under a per-database mutex held until the name is recorded (with
        // Start), so two backups starting in the same second never share an object: the second
        // gets a suffix. A retry keeps its name; what the last attempt left under it goes first.
        let mut naming = None;
        let key = match &backup.object_key {
            Some(old) => {
                rt.objects.delete(old).await.map_err(|e| JobError::from(store_error(e)))?;
                old.clone()
            }
            None => {
                naming = Some(self.store.mutex("backup-name", db.id.uuid()).await.map_err(store_err)?);
                self.free_object_key(rt, db.name.as_str(), Utc::now()).await?
            }
        };
        if !self.backup_command(id, BackupCommand::Start { attempt, object_key: key.clone() }).await? {
            return Ok(());
        }
        drop(naming);
        let host = crate::hosts::engine(&self.hosts, &self.store, db.host_id).await?;
        let name = &db.name;
        let login = self.owner_login(db.id, name).await?;
        let BackupTaken { dump: dumped, tables } = host.backup(name, &login, rt.streams(self), &key).await?;
        let command =
            BackupCommand::Succeed { object_key: key, size_bytes: dumped.size_bytes, sha256: dumped.sha256, tables };
        self.backup_command(id, command).await?;
        let resource = db.id.to_string();
        for kind in [BACKUP_FAILED, BACKUP_STALE] {
            self.store.resolve_incident(kind, &resource).await.map_err(store_err)?;
        }
        Ok(())
    }

    /// The first of `<database>/<second>.sql.gz`, `…-2.sql.gz`, … that no backup has recorded
    /// and the object store does not hold.
    async fn free_object_key(&self, rt: &BackupRuntime, database: &str, at: DateTime<Utc>) -> Result<String, JobError> {
        let mut n = 1;
        loop {
            let key = object_key(database, at, n);
            let taken = self.store.backup_key_taken(&key).await.map_err(store_err)?
                || rt.objects.exists(&key).await.map_err(|e| JobError::from(store_error(e)))?;
            if !taken {
                return Ok(key);
            }
            n += 1;
        }
    }

    /// A backup that failed for good: recorded, and an incident opened (or bumped) on its
    /// database.
    /// `shown` is recorded on the backup for its users; `error`, the raw cause, goes only to
    /// the log and the incident.
    pub(crate) async fn backup_exhausted(&self, id: BackupId, shown: &str, error: &str) {
        tracing::error!(backup = %id, error = %error, "backup failed for good");
        if let Err(e) = self.backup_command(id, BackupCommand::Fail { error: shown.to_owned() }).await {
            tracing::error!(error = %e, "could not record the backup failure");
        }
        let resource = match self.store.backup(id).await {
            Ok(b) => b.database_id.to_string(),
            Err(e) => {
                tracing::error!(error = %e, "could not load the failed backup");
                return;
            }
        };
        let summary = format!("backup {id} of database {resource} failed: {error}");
        let report = IncidentReport {
            kind: BACKUP_FAILED,
            severity: "error",
            resource_type: "database",
            resource_id: &resource,
            summary: &summary,
        };
        if let Err(e) = self.store.report_incident(&report).await {
            tracing::error!(error = %e, "could not open an incident");
        }
    }

    /// Logs a verification that could not restore the backup and opens (or bumps) an
    /// incident with the raw cause.
    async fn verification_incident(&self, id: BackupId, database: &str, error: &str) {
        tracing::error!(backup = %id, error = %error, "backup verification could not restore the backup");
        let summary = format!("verification of backup {id} of database {database} failed: {error}");
        let report = IncidentReport {
            kind: "backup_verification_failed",
            severity: "error",
            resource_type: "database",
            resource_id: database,
            summary: &summary,
        };
        if let Err(e) = self.store.report_incident(&report).await {
            tracing::error!(error = %e, "could not open an incident");
        }
    }

    /// Drops a verification's scratch database after its job failed for good (an attempt
    /// cancelled at its deadline cannot drop it itself; the next attempt would have).
    pub(crate) async fn drop_verification_scratch(&self, id: BackupId) {
        let dropped = async {
            let backup = self.store.backup(id).await.map_err(store_err)?;
            let db = self.store.database(backup.database_id).await.map_err(store_err)?;
            let host = crate::hosts::engine(&self.hosts, &self.store, db.host_id).await?;
            host.drop_scratch(&scratch_name(id)).await.map_err(JobError::from)
        };
        if let Err(e) = dropped.await {
            tracing::error!(backup = %id, error = %e, "could not drop a failed verification's scratch database");
        }
    }

    /// Removes a deleted backup's object; absent is success.
    pub(crate) async fn purge_backup(&self, object_key: &str) -> Result<(), JobError> {
        let rt = self.runtime()?;
        rt.objects.delete(object_key).await.map_err(|e| JobError::from(store_error(e)))
    }

    /// Restores the backup into a scratch database, compares its tables with what the
    /// backup recorded, drops the scratch database and records the verdict.
    pub(crate) async fn verify_backup(&self, id: BackupId, operation_id: domain::OperationId) -> Result<(), JobError> {
        let rt = self.runtime()?;
        let backup = self.store.backup(id).await.map_err(store_err)?;
        let (Some(key), Some(sha)) = (&backup.object_key, &backup.sha256) else {
            return Err(JobError::abort("the backup has no object to verify"));
        };
        let db = self.store.database(backup.database_id).await.map_err(store_err)?;
        let conn = crate::hosts::engine(&self.hosts, &self.store, db.host_id).await?;
        let host: &dyn TenantEngine = &*conn;
        let scratch = scratch_name(id);
        let name = &db.name;
        // Owned by, restored as and checked as the tenant's role, like a restore: the dump is
        // their SQL, and the copy holds their functions.
        host.create_scratch(&scratch, name).await?;
        let login = self.owner_login(db.id, name).await?;
        let checked = async {
            host.restore(&scratch, &login, rt.streams(self), key, sha).await?;
            host.table_stats(&scratch, &login, self.limits.data_deadline).await
        }
        .await;
        host.drop_scratch(&scratch).await?;
        let (ok, details) = match checked {
            Ok(restored) => {
                let problems = restore_check::compare(&backup.tables, &restored);
                (problems.is_empty(), serde_json::json!({ "tables": restored.len(), "problems": problems }))
            }
            Err(HostError::Permanent(e)) => {
                // The raw cause (psql's stderr, with the host's details) is for operators.
                self.verification_incident(id, &db.id.to_string(), &e).await;
                let shown =
                    "the backup could not be restored for verification; the platform operators have been notified";
                (false, serde_json::json!({ "tables": 0, "problems": [shown] }))
            }
            Err(e) => return Err(e.into()),
        };
        let command = BackupCommand::RecordVerification { operation_id: Some(operation_id), ok, details };
        self.backup_command(id, command).await?;
        Ok(())
    }

    /// Provisioning step "populate": fills a new database from its source. Idempotent and
    /// rerunnable: a database marked populated is left alone; one that is not (a previous
    /// run may have died halfway through) is dropped and created again first.
    pub(crate) async fn populate(
        &self,
        host: &dyn TenantEngine,
        id: DatabaseId,
        name: &DatabaseName,
        source: &DatabaseSource,
    ) -> Result<(), JobError> {
        if host.is_populated(name).await? {
            return Ok(());
        }
        let rt = self.runtime()?;
        host.recreate_database(name).await?;
        // Filled as the database's own role (so the objects are its own), never as the
        // superuser: a dump is the tenant's SQL and must not run with more rights than theirs.
        let owner = self.owner_login(id, name).await?;
        match source {
            DatabaseSource::Backup { backup_id } => {
                let backup = self.store.backup(*backup_id).await.map_err(store_err)?;
                let (Some(key), Some(sha), BackupState::Succeeded) = (&backup.object_key, &backup.sha256, backup.state)
                else {
                    return Err(JobError::abort(format!("backup {backup_id} is {}; cannot restore it", backup.state)));
                };
                host.restore(name.as_str(), &owner, rt.streams(self), key, sha).await?;
            }
            DatabaseSource::Branch { database_id } => {
                let from = self.store.database(*database_id).await.map_err(store_err)?;
                if from.host_id != host.host().id {
                    return Err(JobError::abort("branching across hosts is not supported yet"));
                }
                // A source deleted or stopped since the branch was asked for cannot be read:
                // fail at once (the failure handler removes what this job made on the host).
                if from.state != DatabaseState::Running {
                    return Err(JobError::abort(format!("the source database is {}; cannot branch it", from.state)));
                }
                // Dumped as the source's own role: pg_dump reads the source database.
                let from_name = &from.name;
                let from_owner = self.owner_login(from.id, from_name).await?;
                host.copy((from_name.as_str(), &from_owner), (name.as_str(), &owner), rt.streams(self)).await?;
            }
        }
        host.mark_populated(name).await?;
        tracing::info!(database = %id, "populated");
        Ok(())
    }

    /// The login of database `id`'s own role.
    pub(crate) async fn owner_login(&self, id: DatabaseId, name: &DatabaseName) -> Result<TenantLogin, JobError> {
        Ok(TenantLogin::owner(name, self.password(id).await?))
    }
}

fn store_err(e: eventstore::StoreError) -> JobError {
    JobError::retry_from(format!("control plane: {e}"), e)
}

/// Opens an incident for every running database with no successful backup since `since`
/// (none already open for it), for the scheduler's watchdog.
pub(crate) async fn report_stale(
    store: &Store,
    since: DateTime<Utc>,
    only: Option<DatabaseId>,
) -> anyhow::Result<usize> {
    let mut opened = 0;
    for db in store.stale_databases(since, only).await? {
        let resource = db.to_string();
        if !store.open_incidents(BACKUP_STALE, &resource).await?.is_empty() {
            continue;
        }
        let summary = format!("database {resource} has no successful backup since {since}");
        let report = IncidentReport {
            kind: BACKUP_STALE,
            severity: "warning",
            resource_type: "database",
            resource_id: &resource,
            summary: &summary,
        };
        store.report_incident(&report).await?;
        opened += 1;
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_named_by_database_and_utc_second() {
        let at: DateTime<Utc> = "2026-03-10T02:00:05.9Z".parse().expect("timestamp");
        assert_eq!(object_key("shop", at, 1), "shop/20260310_020005.sql.gz");
        assert_eq!(object_key("shop", at, 3), "shop/20260310_020005-3.sql.gz");
    }
}
