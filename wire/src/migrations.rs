//! Migrations and dumps (API.md, "SQL over HTTP").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /databases/{id}/migrations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyMigration {
    /// The migration's key: 1 to 200 characters, no control characters, no leading or
    /// trailing whitespace.
    pub name: String,
    /// The SQL: any number of statements, run in one transaction as the database's own role.
    /// No `COMMIT`/`ROLLBACK` inside.
    pub sql: String,
    /// The SHA-256 of `sql`, 64 lowercase hex digits; when given it must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// What `POST /databases/{id}/migrations` did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MigrationResult {
    /// `applied` (201) or `already_applied` (200: the same name and checksum were recorded
    /// before; nothing ran).
    pub status: String,
    pub name: String,
    pub checksum: String,
}

/// A recorded migration (`berth.schema_migrations` in the tenant database).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MigrationView {
    pub name: String,
    pub checksum: String,
    pub applied_at: DateTime<Utc>,
    /// The user who applied it (`usr_…`).
    pub applied_by: String,
    /// The first 200 characters of its SQL.
    pub sql_preview: String,
}

/// `POST /databases/{id}/dump` (the body may be empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DumpRequest {
    /// Schema only (`pg_dump --schema-only`): no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddl_only: Option<bool>,
}
