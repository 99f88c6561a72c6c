//! A database's users: extra login roles confined to it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
