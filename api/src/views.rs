//! Response bodies, as API.md names their fields.

use chrono::{DateTime, Utc};
use eventstore::queries::{ActivityRow, DatabaseRow, OperationRow};
use serde::Serialize;
use utoipa::ToSchema;

use crate::authz::DbRole;

#[derive(Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DatabaseView {
    pub id: String,
    pub name: String,
    pub engine: String,
    /// `provisioning`, `running`, `locked` (running, but the platform refuses its
    /// connections: see `locked_reason`), `stopped`, `deleting`, `failed`.
    pub state: String,
    /// Why a `locked` database refuses connections: `storage_quota` (the account is over
    /// its plan's storage quota; the lock lifts by itself once it is back under). A stopped
    /// database of such an account keeps `state: "stopped"` and carries the reason too (it
    /// cannot be started until then). Null when not locked.
    pub locked_reason: Option<String>,
    pub role: DbRole,
    pub host: String,
    pub port: u16,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

impl DatabaseView {
    pub fn new(db: &DatabaseRow, role: DbRole) -> Self {
        Self {
            id: db.id.to_string(),
            name: db.name.clone(),
            engine: db.engine.clone(),
            state: match (&db.locked_reason, db.state.as_str()) {
                (Some(_), "running") => "locked".into(),
                _ => db.state.clone(),
            },
            locked_reason: db.locked_reason.clone(),
            role,
            host: db.host.clone(),
            port: db.port,
            size_bytes: db.size_bytes,
            created_at: db.created_at,
            operation_id: db.operation_id.map(|o| o.to_string()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DatabaseDetail {
    #[serde(flatten)]
    pub database: DatabaseView,
    pub username: String,
    pub last_backup_at: Option<DateTime<Utc>>,
    /// When a backup of this database was last restored and checked good.
    pub last_verified_backup_at: Option<DateTime<Utc>>,
}

/// The create response: the only time the password is shown (besides credentials).
#[derive(Serialize, ToSchema)]
pub struct CreatedDatabase {
    #[serde(flatten)]
    pub database: DatabaseView,
    pub username: String,
    pub password: String,
    pub connection_string: String,
}

#[derive(Serialize, ToSchema)]
pub struct OperationView {
    pub id: String,
    pub kind: String,
    pub state: String,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub database_id: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<OperationRow> for OperationView {
    fn from(o: OperationRow) -> Self {
        Self {
            id: o.id.to_string(),
            kind: o.kind,
            state: o.state,
            attempts: o.attempts,
            error: o.error,
            database_id: o.database_id.to_string(),
            created_at: o.created_at,
            finished_at: o.finished_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ActorView {
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ResourceView {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ActivityView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: ActorView,
    pub action: String,
    pub resource: ResourceView,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<ActivityRow> for ActivityView {
    fn from(a: ActivityRow) -> Self {
        let resource_id = match a.resource_type.as_str() {
            "database" => domain::DatabaseId(a.resource_id).to_string(),
            "api_key" => domain::ApiKeyId(a.resource_id).to_string(),
            "backup" => domain::BackupId(a.resource_id).to_string(),
            _ => domain::AccountId(a.resource_id).to_string(),
        };
        Self {
            id: domain::EventId(a.event_id).to_string(),
            at: a.at,
            actor: ActorView {
                user_id: a.actor_user_id.map(|u| u.to_string()),
                api_key_id: a.actor_api_key_id.map(|k| k.to_string()),
            },
            action: a.action,
            resource: ResourceView { kind: a.resource_type, id: resource_id, name: a.resource_name },
            details: a.details,
        }
    }
}

/// A database's login: returned by reset-password (once, for the new password) and by
/// `GET /databases/{id}/credentials`.
#[derive(Serialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub connection_string: String,
    /// The reset operation (reset-password only; 202 means it is still being applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BackupView {
    pub id: String,
    pub database_id: String,
    pub state: String,
    pub trigger: String,
    pub label: Option<String>,
    pub object_key: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The UTC day a scheduled backup is for.
    pub scheduled_for: Option<chrono::NaiveDate>,
    pub error: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub verified_ok: Option<bool>,
    /// The operation to poll (the backup itself, or a verification just requested).
    pub operation_id: String,
}

impl From<eventstore::backups::BackupRow> for BackupView {
    fn from(b: eventstore::backups::BackupRow) -> Self {
        Self {
            id: b.id.to_string(),
            database_id: b.database_id.to_string(),
            state: b.state,
            trigger: b.trigger,
            label: b.label,
            object_key: b.object_key,
            size_bytes: b.size_bytes,
            sha256: b.sha256,
            created_at: b.created_at,
            started_at: b.started_at,
            finished_at: b.finished_at,
            scheduled_for: b.scheduled_for,
            error: b.error,
            verified_at: b.verified_at,
            verified_ok: b.verified_ok,
            operation_id: b.operation_id.to_string(),
        }
    }
}
