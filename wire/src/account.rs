//! Signing in, the caller's account, and plans.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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

/// Filters and paging of `GET /admin/accounts` (newest first).
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountQuery {
    /// `free`, `pro` or `business`.
    pub plan: Option<String>,
    /// A substring of the owner's email, any case.
    pub email: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    #[serde(default, deserialize_with = "crate::numbers::opt_i64")]
    pub limit: Option<i64>,
}

/// An account as platform admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    /// `free`, `pro` or `business`.
    pub plan: String,
    pub created_at: DateTime<Utc>,
    /// The owner's email; null for an anonymous account.
    pub owner_email: Option<String>,
    pub anonymous: bool,
    /// Databases that are not deleted.
    pub databases: i64,
    /// Their measured size together.
    pub storage_mb: f64,
    /// API keys not revoked.
    pub api_keys: i64,
}
