//! Databases, their lifecycle, credentials and operations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The caller's role on a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DbRole {
    Viewer,
    Developer,
    Admin,
    Owner,
}

/// `POST /databases`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDatabase {
    /// `^[a-z][a-z0-9-]{2,62}$`; also the database's and its login's name.
    pub name: String,
    /// `postgres` (the default), `mariadb` (when the deployment enables it; its connection
    /// string is `mysql://…`) or `mongodb` (never enabled: `400 ENGINE_DISABLED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Place it on a host of this region (`GET /admin/hosts` lists them); an unknown region
    /// is `400 INVALID_REQUEST`. Unset: any region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DatabaseView {
    pub id: String,
    pub name: String,
    /// `postgres` or `mariadb`.
    pub engine: String,
    /// `provisioning`, `running`, `locked` (running, but the platform refuses its
    /// connections: see `locked_reason`), `stopped`, `deleting`, `failed`.
    pub state: String,
    /// Why a `locked` database refuses connections: `storage_quota` (the account is over
    /// its plan's storage quota; the lock lifts by itself once it is back under). A stopped
    /// database of such an account keeps `state: "stopped"` and carries the reason too (it
    /// cannot be started until then). Null when not locked.
    pub locked_reason: Option<String>,
    /// False while the platform cannot reach the database's host (its `state` is unchanged:
    /// nothing happened to the database itself).
    pub available: bool,
    pub role: DbRole,
    pub host: String,
    pub port: u16,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
    /// The operation to poll, when one is under way (create, delete, lifecycle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

/// `GET /databases/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DatabaseDetail {
    #[serde(flatten)]
    pub database: DatabaseView,
    pub username: String,
    pub last_backup_at: Option<DateTime<Utc>>,
    /// When a backup of this database was last restored and checked good.
    pub last_verified_backup_at: Option<DateTime<Utc>>,
}

/// The create (and restore, branch) response: the only time the password is shown
/// (besides credentials).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedDatabase {
    #[serde(flatten)]
    pub database: DatabaseView,
    pub username: String,
    pub password: String,
    pub connection_string: String,
}

/// A database's login: returned by reset-password (once, for the new password) and by
/// `GET /databases/{id}/credentials`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub connection_string: String,
    /// The reset operation (reset-password only; 202 means it is still being applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

/// `GET /operations/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OperationView {
    pub id: String,
    pub kind: String,
    /// `pending`, `running`, `succeeded` or `failed`.
    pub state: String,
    pub attempts: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub database_id: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}
