//! Who a database is shared with, and as what.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
