//! Signing in, the caller's account, and plans.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /auth/session`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// An OIDC id token from the configured issuer.
    pub id_token: String,
}

/// The signed-in user, as a session names it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionUserView {
    pub user_id: String,
    pub email: Option<String>,
    pub account_id: String,
    pub platform_role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<SessionUserView>,
}

/// `POST /auth/anonymous`: `anonymous_secret` is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AnonymousView {
    pub account_id: String,
    pub anonymous_secret: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST /auth/anonymous/refresh`, `POST /auth/claim`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnonymousCredentials {
    pub account_id: String,
    pub anonymous_secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClaimView {
    pub account_id: String,
    pub claimed_into: String,
    pub database_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsageView {
    pub databases: i64,
    pub storage_mb: f64,
}

/// A plan's quotas.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuotasView {
    /// Databases an account may have (not counting deleted ones).
    pub databases: i64,
    /// Account-wide storage, MB.
    pub storage_mb: i64,
    /// `CONNECTION LIMIT` of each database role.
    pub connection_limit: i32,
    /// Database users (extra login roles) per database.
    pub database_users: u64,
    /// Server connections PgBouncer opens to one database, all of its roles together.
    pub server_connections: i32,
    /// `temp_file_limit` of every role of the database, MB.
    pub temp_file_limit_mb: i32,
}

/// `GET /me`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    pub user_id: String,
    pub email: Option<String>,
    /// `user` or `admin`.
    pub platform_role: String,
    pub account_id: String,
    /// `free`, `pro` or `business`.
    pub plan: String,
    pub quotas: QuotasView,
    pub usage: UsageView,
}

/// `PATCH /admin/accounts/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    /// `free`, `pro` or `business`.
    pub plan: String,
}

/// An account's plan, as set by a platform admin.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountPlanView {
    pub id: String,
    pub plan: String,
}
