//! Who besides the owner may use a database: collaborators and their roles, one stream per
//! database (`access-<uuid>`: the family's name is on disk, older than this module's), apart
//! from the database's lifecycle stream so sharing never contends with provisioning. (A
//! database changing hands is `AccountClaimed`, one event.)

use serde::{Deserialize, Serialize};

use crate::aggregate::{Activity, Aggregate};
use crate::{AccountId, DatabaseId, UserId};

/// A collaborator's role. (The owner is not a collaborator: ownership is the account's.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareRole {
    Admin,
    Developer,
    Viewer,
}

impl ShareRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "developer" => Some(Self::Developer),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CollaboratorsEvent {
    DatabaseShared { database_id: DatabaseId, user_id: UserId, email: String, role: ShareRole },
    ShareRoleChanged { database_id: DatabaseId, user_id: UserId, role: ShareRole },
    DatabaseUnshared { database_id: DatabaseId, user_id: UserId },
}

impl CollaboratorsEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::DatabaseShared { .. } => "DatabaseShared",
            Self::ShareRoleChanged { .. } => "ShareRoleChanged",
            Self::DatabaseUnshared { .. } => "DatabaseUnshared",
        }
    }

    pub fn database_id(&self) -> DatabaseId {
        match self {
            Self::DatabaseShared { database_id, .. }
            | Self::ShareRoleChanged { database_id, .. }
            | Self::DatabaseUnshared { database_id, .. } => *database_id,
        }
    }

    pub fn activity(&self) -> Option<Activity> {
        let (action, details) = match self {
            Self::DatabaseShared { user_id, email, role, .. } => {
                ("database.share", serde_json::json!({ "user_id": user_id.to_string(), "email": email, "role": role }))
            }
            Self::ShareRoleChanged { user_id, role, .. } => {
                ("database.share", serde_json::json!({ "user_id": user_id.to_string(), "role": role }))
            }
            Self::DatabaseUnshared { user_id, .. } => {
                ("database.unshare", serde_json::json!({ "user_id": user_id.to_string() }))
            }
        };
        Some(Activity { action, details })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollaboratorsCommand {
    Share {
        database_id: DatabaseId,
        user_id: UserId,
        email: String,
        role: ShareRole,
        user_account: AccountId,
        owner_account: AccountId,
    },
    ChangeRole {
        database_id: DatabaseId,
        user_id: UserId,
        role: ShareRole,
    },
    Unshare {
        database_id: DatabaseId,
        user_id: UserId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollaboratorsError {
    #[error("the user is already a collaborator on this database")]
    AlreadyShared,
    #[error("the user is not a collaborator on this database")]
    NotShared,
    #[error("the owner's account cannot be added as a collaborator")]
    SharingWithOwner,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collaborators {
    pub roles: Vec<(UserId, ShareRole)>,
}

impl Collaborators {
    fn role_of(&self, user: UserId) -> Option<ShareRole> {
        self.roles.iter().find(|(u, _)| *u == user).map(|(_, r)| *r)
    }
}

impl Aggregate for Collaborators {
    type Command = CollaboratorsCommand;
    type Event = CollaboratorsEvent;
    type Error = CollaboratorsError;

    fn decide(&self, command: &CollaboratorsCommand) -> Result<Vec<CollaboratorsEvent>, CollaboratorsError> {
        use CollaboratorsCommand as C;
        use CollaboratorsEvent as E;
        match command {
            C::Share { database_id, user_id, email, role, user_account, owner_account } => {
                if user_account == owner_account {
                    return Err(CollaboratorsError::SharingWithOwner);
                }
                if self.role_of(*user_id).is_some() {
                    return Err(CollaboratorsError::AlreadyShared);
                }
                Ok(vec![E::DatabaseShared {
                    database_id: *database_id,
                    user_id: *user_id,
                    email: email.clone(),
                    role: *role,
                }])
            }
            C::ChangeRole { database_id, user_id, role } => match self.role_of(*user_id) {
                None => Err(CollaboratorsError::NotShared),
                Some(r) if r == *role => Ok(vec![]),
                Some(_) => Ok(vec![E::ShareRoleChanged { database_id: *database_id, user_id: *user_id, role: *role }]),
            },
            C::Unshare { database_id, user_id } => {
                if self.role_of(*user_id).is_none() {
                    return Err(CollaboratorsError::NotShared);
                }
                Ok(vec![E::DatabaseUnshared { database_id: *database_id, user_id: *user_id }])
            }
        }
    }

    fn apply(&mut self, event: &CollaboratorsEvent) {
        use CollaboratorsEvent as E;
        match event {
            E::DatabaseShared { user_id, role, .. } => self.roles.push((*user_id, *role)),
            E::ShareRoleChanged { user_id, role, .. } => {
                for (u, r) in &mut self.roles {
                    if u == user_id {
                        *r = *role;
                    }
                }
            }
            E::DatabaseUnshared { user_id, .. } => self.roles.retain(|(u, _)| u != user_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(db: DatabaseId, user: UserId, role: ShareRole) -> CollaboratorsCommand {
        CollaboratorsCommand::Share {
            database_id: db,
            user_id: user,
            email: "x@example.com".into(),
            role,
            user_account: AccountId::new(),
            owner_account: AccountId::new(),
        }
    }

    #[test]
    fn share_change_and_unshare() {
        let (db, user) = (DatabaseId::new(), UserId::new());
        let mut s = Collaborators::default();
        for e in s.decide(&share(db, user, ShareRole::Viewer)).expect("shares") {
            s.apply(&e);
        }
        assert_eq!(s.decide(&share(db, user, ShareRole::Admin)), Err(CollaboratorsError::AlreadyShared));
        let same = CollaboratorsCommand::ChangeRole { database_id: db, user_id: user, role: ShareRole::Viewer };
        assert_eq!(s.decide(&same), Ok(vec![]), "no change, no event");
        let up = CollaboratorsCommand::ChangeRole { database_id: db, user_id: user, role: ShareRole::Developer };
        for e in s.decide(&up).expect("changes") {
            s.apply(&e);
        }
        assert_eq!(s.roles, vec![(user, ShareRole::Developer)]);
        let un = CollaboratorsCommand::Unshare { database_id: db, user_id: user };
        for e in s.decide(&un).expect("unshares") {
            s.apply(&e);
        }
        assert_eq!(s.decide(&un), Err(CollaboratorsError::NotShared));
    }

    #[test]
    fn the_owners_own_account_cannot_be_a_collaborator() {
        let account = AccountId::new();
        let cmd = CollaboratorsCommand::Share {
            database_id: DatabaseId::new(),
            user_id: UserId::new(),
            email: "me@example.com".into(),
            role: ShareRole::Admin,
            user_account: account,
            owner_account: account,
        };
        assert_eq!(Collaborators::default().decide(&cmd), Err(CollaboratorsError::SharingWithOwner));
    }
}
