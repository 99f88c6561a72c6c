//! Who and what may reach a database: network rules, collaborators, database users.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /databases/{id}/allowlist`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    /// An IPv4/IPv6 network (`203.0.113.0/24`) or a single address. `0.0.0.0/0` is allowed
    /// and recorded as open to all.
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The rule expires by itself after this many seconds (1 to 2592000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    pub id: String,
    pub cidr: String,
    pub label: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub open_to_all: bool,
    pub created_at: DateTime<Utc>,
}

/// `POST /databases/{id}/collaborators`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCollaborator {
    pub email: String,
    /// `admin`, `developer` or `viewer`.
    pub role: String,
}

/// `PATCH /databases/{id}/collaborators/{user_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    /// `admin`, `developer` or `viewer`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CollaboratorView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub added_at: DateTime<Utc>,
}

/// `POST /databases/{id}/users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// `^[a-z][a-z0-9-]{2,62}$`; the PostgreSQL role is `<database>.<username>` (≤ 63 bytes).
    pub username: String,
}

/// A database user (an extra login role confined to one database).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub name: String,
    /// The PostgreSQL role to log in as.
    pub username: String,
    /// `creating`, `ready` or `removing`.
    pub state: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedUserView {
    #[serde(flatten)]
    pub user: UserView,
    /// Shown this once; only a SCRAM verifier is kept.
    pub password: String,
    pub connection_string: String,
}
