//! Backups, restores and branches.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /databases/{id}/backups` (the body may be empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBackup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `POST /databases/{id}/restore`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBackup {
    pub backup_id: String,
    /// The new database's name: `^[a-z][a-z0-9-]{2,62}$`.
    pub target_name: String,
}

/// `POST /databases/{id}/branch`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchDatabase {
    /// The new database's name: `^[a-z][a-z0-9-]{2,62}$`.
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupView {
    pub id: String,
    pub database_id: String,
    /// `pending`, `running`, `succeeded` or `failed` (and `deleted`).
    pub state: String,
    /// `manual` or `scheduled`.
    pub trigger: String,
    pub label: Option<String>,
    pub object_key: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The UTC day a scheduled backup is for.
    pub scheduled_for: Option<NaiveDate>,
    pub error: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    pub verified_ok: Option<bool>,
    /// The operation to poll (the backup itself, or a verification just requested).
    pub operation_id: String,
}
