//! The one place that decides what a caller may do to a database. Every use case that touches
//! a database calls `authorize`; nothing else compares roles.

use eventstore::queries::DatabaseRow;

use crate::caller::Caller;
use crate::error::Error;

/// The caller's role on a database, as the API publishes it (ordered viewer < … < owner).
pub use wire::DbRole;

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

/// A collaborator's stored role.
fn role_of_share(role: &str) -> Option<DbRole> {
    match role {
        "admin" => Some(DbRole::Admin),
        "developer" => Some(DbRole::Developer),
        "viewer" => Some(DbRole::Viewer),
        _ => None,
    }
}

/// The caller's role on a database: owner when it is their account's, else their role as a
/// collaborator (`collaborator`, looked up by the caller), else none. Platform admins get no
/// implicit role on tenants' databases: they administer the platform, not its data. A key
/// with `ro` access to the database gets at most developer there: the read rows of the
/// permission table (view, credentials, read-only SQL), never more.
pub fn role_on(caller: &Caller, db: &DatabaseRow, collaborator: Option<&str>) -> Option<DbRole> {
    let role =
        if db.account_id == caller.account_id { Some(DbRole::Owner) } else { collaborator.and_then(role_of_share) };
    match role {
        Some(role) if caller.read_only_on(db.id) => Some(role.min(DbRole::Developer)),
        role => role,
    }
}

/// A caller with no role — or whose key does not reach the database — never learns it
/// exists; one whose role is too small gets `FORBIDDEN`.
pub fn authorize(
    caller: &Caller,
    db: &DatabaseRow,
    collaborator: Option<&str>,
    action: Action,
) -> Result<DbRole, Error> {
    if db.state == domain::DatabaseState::Deleted || !caller.in_scope(db.id) {
        return Err(Error::DatabaseNotFound);
    }
    let role = role_on(caller, db, collaborator).ok_or(Error::DatabaseNotFound)?;
    if role < action.least_role() {
        return Err(Error::Forbidden("your role on this database does not allow this action"));
    }
    Ok(role)
}
