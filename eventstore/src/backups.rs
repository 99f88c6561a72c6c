//! The `backups` read model: its projection from `backup-<uuid>` streams and the queries the
//! API, the backup jobs and the scheduler ask of it.

use chrono::{DateTime, NaiveDate, Utc};
use domain::{
    BackupEvent, BackupId, BackupState, BackupTrigger, DatabaseId, OperationId, OperationKind, OperationState,
    TableStats,
};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::decode_column;
use crate::projection::{database_owner, finish_operation, insert_activity, insert_operation, Resource};
use crate::tables::{Key, Set, Tables};
use crate::{RecordedEvent, Store, StoreError};

pub(crate) async fn project_backup<T: Tables>(t: &mut T, e: &RecordedEvent, b: &BackupEvent) -> Result<(), StoreError> {
    use BackupEvent as E;
    let at = e.occurred_at;
    let (backup_id, database_id) = b.ids();
    let (id, db) = (backup_id.uuid(), database_id.uuid());
    match b {
        E::BackupRequested { operation_id, trigger, label, scheduled_for, .. } => {
            let (account, _) = database_owner(t, db).await?;
            t.insert(
                "backups",
                vec![
                    ("id", id.into()),
                    ("database_id", db.into()),
                    ("account_id", account.into()),
                    ("operation_id", operation_id.uuid().into()),
                    ("state", BackupState::Pending.as_str().into()),
                    ("trigger", trigger.as_str().into()),
                    ("label", label.into()),
                    ("scheduled_for", (*scheduled_for).into()),
                    ("created_at", at.into()),
                ],
            )
            .await?;
            insert_operation(t, operation_id.uuid(), OperationKind::Backup, db, account, e).await?;
        }
        E::BackupStarted { attempt, object_key, .. } => {
            let attempts = || Set::To((*attempt as i32).into());
            let set = vec![
                ("state", Set::To(BackupState::Running.as_str().into())),
                ("attempts", attempts()),
                ("object_key", Set::To(object_key.into())),
                ("started_at", Set::IfNull(at.into())),
            ];
            t.update("backups", Key::id(id), set).await?;
            let operation = operation_of(t, id).await?;
            t.update(
                "operations",
                Key::id(operation),
                vec![("state", Set::To(OperationState::Running.as_str().into())), ("attempts", attempts())],
            )
            .await?;
        }
        E::BackupSucceeded { object_key, size_bytes, sha256, tables, .. } => {
            let set = vec![
                ("state", Set::To(BackupState::Succeeded.as_str().into())),
                ("object_key", Set::To(object_key.into())),
                ("size_bytes", Set::To((*size_bytes).into())),
                ("sha256", Set::To(sha256.into())),
                ("tables", Set::To(serde_json::to_value(tables)?.into())),
                ("finished_at", Set::To(at.into())),
            ];
            t.update("backups", Key::id(id), set).await?;
            let operation = operation_of(t, id).await?;
            finish_operation(t, operation, OperationState::Succeeded, None, e).await?;
        }
        E::BackupFailed { error, .. } => {
            let set = vec![
                ("state", Set::To(BackupState::Failed.as_str().into())),
                ("error", Set::To(error.into())),
                ("finished_at", Set::To(at.into())),
            ];
            t.update("backups", Key::id(id), set).await?;
            let operation = operation_of(t, id).await?;
            finish_operation(t, operation, OperationState::Failed, Some(error), e).await?;
        }
        E::BackupDeleted { .. } => {
            let set =
                vec![("state", Set::To(BackupState::Deleted.as_str().into())), ("deleted_at", Set::To(at.into()))];
            t.update("backups", Key::id(id), set).await?;
        }
        E::BackupVerificationRequested { operation_id, .. } => {
            let (account, _) = database_owner(t, db).await?;
            insert_operation(t, operation_id.uuid(), OperationKind::VerifyBackup, db, account, e).await?;
        }
        E::BackupVerified { operation_id, ok, details, .. } => {
            let set = vec![
                ("verified_at", Set::To(at.into())),
                ("verified_ok", Set::To((*ok).into())),
                ("verify_details", Set::To(details.clone().into())),
            ];
            t.update("backups", Key::id(id), set).await?;
            if let Some(op) = operation_id {
                finish_operation(t, op.uuid(), OperationState::Succeeded, None, e).await?;
            }
        }
    }
    if let Some(activity) = b.activity() {
        let (account, name) = database_owner(t, db).await?;
        let resource = Resource { kind: "backup", id, name: Some(name) };
        insert_activity(t, e, account, Some(db), activity.action, resource, &activity.details).await?;
    }
    Ok(())
}

async fn operation_of<T: Tables>(t: &mut T, backup: Uuid) -> Result<Uuid, StoreError> {
    t.must_get("backups", Key::id(backup), &["operation_id"]).await?[0].uuid()
}

#[derive(Debug, Clone)]
pub struct BackupRow {
    pub id: BackupId,
    pub database_id: DatabaseId,
    pub operation_id: OperationId,
    pub state: BackupState,
    pub trigger: BackupTrigger,
    pub label: Option<String>,
    pub scheduled_for: Option<NaiveDate>,
    pub object_key: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub tables: Vec<TableStats>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub verified_ok: Option<bool>,
}

const COLUMNS: &str = "id, database_id, operation_id, state, trigger, label, scheduled_for, object_key, size_bytes,
     sha256, tables, error, created_at, started_at, finished_at, verified_at, verified_ok";

fn backup_row(r: &Row) -> Result<BackupRow, StoreError> {
    let tables: Option<serde_json::Value> = r.get("tables");
    Ok(BackupRow {
        id: BackupId(r.get("id")),
        database_id: DatabaseId(r.get("database_id")),
        operation_id: OperationId(r.get("operation_id")),
        state: decode_column("backups.state", r.get("state"), BackupState::parse)?,
        trigger: decode_column("backups.trigger", r.get("trigger"), BackupTrigger::parse)?,
        label: r.get("label"),
        scheduled_for: r.get("scheduled_for"),
        object_key: r.get("object_key"),
        size_bytes: r.get("size_bytes"),
        sha256: r.get("sha256"),
        tables: tables.map(serde_json::from_value).transpose()?.unwrap_or_default(),
        error: r.get("error"),
        created_at: r.get("created_at"),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
        verified_at: r.get("verified_at"),
        verified_ok: r.get("verified_ok"),
    })
}

impl Store {
    /// Whether any backup (of any state, deleted ones too) has recorded `key` as its object.
    pub async fn backup_key_taken(&self, key: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client.query_one("select exists(select 1 from backups where object_key = $1)", &[&key]).await?;
        Ok(row.get(0))
    }

    pub async fn backup(&self, id: BackupId) -> Result<BackupRow, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt(&format!("select {COLUMNS} from backups where id = $1"), &[&id.uuid()]).await?;
        row.as_ref().map(backup_row).transpose()?.ok_or(StoreError::NotFound)
    }

    /// A database's backups that are not deleted, newest first.
    pub async fn backups_of(&self, db: DatabaseId) -> Result<Vec<BackupRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select {COLUMNS} from backups where database_id = $1 and state <> 'deleted'
                     order by created_at desc, id desc"
                ),
                &[&db.uuid()],
            )
            .await?;
        rows.iter().map(backup_row).collect()
    }

    /// When the database's newest successful backup finished, and when a backup of it was last
    /// verified good.
    pub async fn last_backup_times(
        &self,
        db: DatabaseId,
    ) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), StoreError> {
        let client = self.client().await?;
        let r = client
            .query_one(
                "select max(finished_at) filter (where state = 'succeeded'),
                        max(verified_at) filter (where verified_ok)
                 from backups where database_id = $1",
                &[&db.uuid()],
            )
            .await?;
        Ok((r.get(0), r.get(1)))
    }

    /// Running databases whose scheduled backup for `day` (due at `due`) is missing; only
    /// `only` when given. Databases created after `due` wait for the next day.
    pub async fn due_for_scheduled_backup(
        &self,
        day: NaiveDate,
        due: DateTime<Utc>,
        only: Option<DatabaseId>,
    ) -> Result<Vec<DatabaseId>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select d.id from databases d
                 where d.state = 'running' and d.created_at <= $2 and ($3::uuid is null or d.id = $3)
                   and not exists (select 1 from backups b where b.database_id = d.id and b.scheduled_for = $1)
                 order by d.id",
                &[&day, &due, &only.map(|d| d.uuid())],
            )
            .await?;
        Ok(rows.iter().map(|r| DatabaseId(r.get(0))).collect())
    }

    /// Finished backups created before `before` and not yet deleted (retention), whatever
    /// their database's state.
    pub async fn expired_backups(
        &self,
        before: DateTime<Utc>,
        only: Option<DatabaseId>,
    ) -> Result<Vec<BackupId>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select id from backups
                 where state in ('succeeded', 'failed') and created_at < $1 and ($2::uuid is null or database_id = $2)
                 order by created_at",
                &[&before, &only.map(|d| d.uuid())],
            )
            .await?;
        Ok(rows.iter().map(|r| BackupId(r.get(0))).collect())
    }

    /// Running databases with no successful backup finished since `since` (counting from
    /// their creation when they never had one).
    pub async fn stale_databases(
        &self,
        since: DateTime<Utc>,
        only: Option<DatabaseId>,
    ) -> Result<Vec<DatabaseId>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select d.id from databases d
                 where d.state = 'running' and ($2::uuid is null or d.id = $2)
                   and coalesce((select max(b.finished_at) from backups b
                                 where b.database_id = d.id and b.state = 'succeeded'), d.created_at) < $1
                 order by d.id",
                &[&since, &only.map(|d| d.uuid())],
            )
            .await?;
        Ok(rows.iter().map(|r| DatabaseId(r.get(0))).collect())
    }
}
