//! The one place that decides what a caller may do to a database. Every route that touches
//! a database calls `authorize`; nothing else compares roles.

use eventstore::queries::DatabaseRow;

use crate::auth::Caller;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DbRole {
    Viewer,
    Developer,
    Admin,
    Owner,
}

/// Actions, in the rows of API.md's permission table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// View detail, connection activity: every role.
    View,
    /// Credentials, backups (list, create, download): owner, admin, developer.
    Credentials,
    /// Lifecycle, reset password, IP allowlist, collaborators: owner, admin.
    Manage,
    /// SQL explorer, delete, restore/branch: owner only.
    OwnerOnly,
}

impl Action {
    fn least_role(self) -> DbRole {
        match self {
            Action::View => DbRole::Viewer,
            Action::Credentials => DbRole::Developer,
            Action::Manage => DbRole::Admin,
            Action::OwnerOnly => DbRole::Owner,
        }
    }
}

/// The caller's role on a database, if any. Sharing (collaborators) adds the other roles.
pub fn role_on(caller: &Caller, db: &DatabaseRow) -> Option<DbRole> {
    (db.account_id == caller.account_id).then_some(DbRole::Owner)
}

/// A caller with no role never learns the database exists; one whose role is too small
/// gets `FORBIDDEN`.
pub fn authorize(caller: &Caller, db: &DatabaseRow, action: Action) -> Result<DbRole, ApiError> {
    if db.state == "deleted" {
        return Err(ApiError::DatabaseNotFound);
    }
    let role = role_on(caller, db).ok_or(ApiError::DatabaseNotFound)?;
    if role < action.least_role() {
        return Err(ApiError::Forbidden("your role on this database does not allow this action"));
    }
    Ok(role)
}
