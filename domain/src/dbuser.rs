//! Extra login roles of a database ("database users"): each is a PostgreSQL role named
//! `<database>.<user>` (a '.' never appears in a database name, so it cannot collide with a
//! database's own role or another database's users), allowed to connect to that database
//! only. Their own stream, `dbusers-<database uuid>`.
//!
//! ```text
//! (none) ──create──▶ creating ──ready──▶ ready ──remove──▶ removing ──removed──▶ (none)
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::{DatabaseId, DatabaseName, NameError};

/// User names the data API's roles of every database take (`"<database>.anon"`, …).
pub const DATA_API_ROLES: [&str; 3] = ["anon", "authenticated", "service"];

/// The role name of user `user` of database `db`, if it fits PostgreSQL's 63-byte limit and
/// is not one of the data API's ([`DATA_API_ROLES`]).
pub fn role_name(db: &DatabaseName, user: &DatabaseName) -> Result<String, NameError> {
    if DATA_API_ROLES.contains(&user.as_str()) {
        return Err(NameError::Reserved(user.as_str().to_owned()));
    }
    let role = format!("{db}.{user}");
    if role.len() > 63 {
        return Err(NameError::Length);
    }
    Ok(role)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUserCommand {
    /// `max_users`: users the database may have (from its account's plan), this one included.
    Create {
        database_id: DatabaseId,
        database: DatabaseName,
        name: DatabaseName,
        max_users: usize,
    },
    MarkReady {
        name: DatabaseName,
    },
    Remove {
        name: DatabaseName,
    },
    MarkRemoved {
        name: DatabaseName,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DatabaseUserEvent {
    /// The role's SCRAM verifier is stored beside this event, never in it.
    DatabaseUserCreated {
        database_id: DatabaseId,
        name: DatabaseName,
        role_name: String,
    },
    DatabaseUserReady {
        database_id: DatabaseId,
        name: DatabaseName,
    },
    DatabaseUserRemovalRequested {
        database_id: DatabaseId,
        name: DatabaseName,
    },
    DatabaseUserRemoved {
        database_id: DatabaseId,
        name: DatabaseName,
        role_name: String,
    },
}

impl DatabaseUserEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::DatabaseUserCreated { .. } => "DatabaseUserCreated",
            Self::DatabaseUserReady { .. } => "DatabaseUserReady",
            Self::DatabaseUserRemovalRequested { .. } => "DatabaseUserRemovalRequested",
            Self::DatabaseUserRemoved { .. } => "DatabaseUserRemoved",
        }
    }

    pub fn database_id(&self) -> DatabaseId {
        match self {
            Self::DatabaseUserCreated { database_id, .. }
            | Self::DatabaseUserReady { database_id, .. }
            | Self::DatabaseUserRemovalRequested { database_id, .. }
            | Self::DatabaseUserRemoved { database_id, .. } => *database_id,
        }
    }

    pub fn name(&self) -> &DatabaseName {
        match self {
            Self::DatabaseUserCreated { name, .. }
            | Self::DatabaseUserReady { name, .. }
            | Self::DatabaseUserRemovalRequested { name, .. }
            | Self::DatabaseUserRemoved { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseUserError {
    #[error("a user of this name already exists on the database")]
    Exists,
    #[error("no such user")]
    NotFound,
    #[error("the user is being {0}; try again when that is done")]
    Busy(&'static str),
    #[error("the plan allows {0} users per database; remove one first")]
    TooMany(usize),
    #[error("{0}")]
    Name(NameError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    Creating,
    Ready,
    Removing,
}

impl UserState {
    pub const ALL: [Self; 3] = [Self::Creating, Self::Ready, Self::Removing];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Ready => "ready",
            Self::Removing => "removing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseUsers {
    pub database_id: Option<DatabaseId>,
    pub users: BTreeMap<DatabaseName, (String, UserState)>,
}

impl Aggregate for DatabaseUsers {
    type Command = DatabaseUserCommand;
    type Event = DatabaseUserEvent;
    type Error = DatabaseUserError;

    fn decide(&self, command: &DatabaseUserCommand) -> Result<Vec<DatabaseUserEvent>, DatabaseUserError> {
        use DatabaseUserCommand as C;
        use DatabaseUserEvent as E;
        let existing = |name: &DatabaseName| self.users.get(name).ok_or(DatabaseUserError::NotFound);
        let database_id = || self.database_id.ok_or(DatabaseUserError::NotFound);
        match command {
            C::Create { database_id, database, name, max_users } => {
                if self.users.contains_key(name) {
                    return Err(DatabaseUserError::Exists);
                }
                // Decided on the database's users stream: racing creates cannot both pass.
                if self.users.len() >= *max_users {
                    return Err(DatabaseUserError::TooMany(*max_users));
                }
                let role_name = role_name(database, name).map_err(DatabaseUserError::Name)?;
                Ok(vec![E::DatabaseUserCreated { database_id: *database_id, name: name.clone(), role_name }])
            }
            C::MarkReady { name } => match existing(name)?.1 {
                UserState::Creating => {
                    Ok(vec![E::DatabaseUserReady { database_id: database_id()?, name: name.clone() }])
                }
                _ => Ok(vec![]),
            },
            C::Remove { name } => match existing(name)?.1 {
                UserState::Ready => {
                    Ok(vec![E::DatabaseUserRemovalRequested { database_id: database_id()?, name: name.clone() }])
                }
                UserState::Creating => Err(DatabaseUserError::Busy("created")),
                UserState::Removing => Err(DatabaseUserError::Busy("removed")),
            },
            C::MarkRemoved { name } => {
                let (role_name, state) = existing(name)?;
                if *state != UserState::Removing {
                    return Err(DatabaseUserError::Busy("used"));
                }
                Ok(vec![E::DatabaseUserRemoved {
                    database_id: database_id()?,
                    name: name.clone(),
                    role_name: role_name.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &DatabaseUserEvent) {
        use DatabaseUserEvent as E;
        self.database_id = Some(event.database_id());
        match event {
            E::DatabaseUserCreated { name, role_name, .. } => {
                self.users.insert(name.clone(), (role_name.clone(), UserState::Creating));
            }
            E::DatabaseUserReady { name, .. } => {
                if let Some(u) = self.users.get_mut(name) {
                    u.1 = UserState::Ready;
                }
            }
            E::DatabaseUserRemovalRequested { name, .. } => {
                if let Some(u) = self.users.get_mut(name) {
                    u.1 = UserState::Removing;
                }
            }
            E::DatabaseUserRemoved { name, .. } => {
                self.users.remove(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> DatabaseName {
        DatabaseName::parse(s).expect("valid")
    }

    #[test]
    fn user_states_round_trip_and_unknown_ones_are_refused() {
        assert_eq!(UserState::ALL.map(UserState::as_str), ["creating", "ready", "removing"]);
        for s in UserState::ALL {
            assert_eq!(UserState::parse(s.as_str()), Some(s));
        }
        for unknown in ["created", "Ready", ""] {
            assert_eq!(UserState::parse(unknown), None, "{unknown:?}");
        }
    }

    fn run(state: &mut DatabaseUsers, cmd: DatabaseUserCommand) -> Result<Vec<DatabaseUserEvent>, DatabaseUserError> {
        let events = state.decide(&cmd)?;
        events.iter().for_each(|e| state.apply(e));
        Ok(events)
    }

    fn create(db: DatabaseId, name: &str) -> DatabaseUserCommand {
        DatabaseUserCommand::Create { database_id: db, database: n("shop"), name: n(name), max_users: 5 }
    }

    #[test]
    fn a_user_is_created_made_ready_removed_and_its_name_freed() {
        let (db, mut s) = (DatabaseId::new(), DatabaseUsers::default());
        let e = run(&mut s, create(db, "app")).expect("creates");
        assert!(
            matches!(&e[..], [DatabaseUserEvent::DatabaseUserCreated { role_name, .. }] if role_name == "shop.app")
        );
        assert_eq!(run(&mut s, create(db, "app")), Err(DatabaseUserError::Exists));
        assert_eq!(
            run(&mut s, DatabaseUserCommand::Remove { name: n("app") }),
            Err(DatabaseUserError::Busy("created"))
        );
        run(&mut s, DatabaseUserCommand::MarkReady { name: n("app") }).expect("ready");
        assert_eq!(run(&mut s, DatabaseUserCommand::MarkReady { name: n("app") }), Ok(vec![]), "idempotent");
        run(&mut s, DatabaseUserCommand::Remove { name: n("app") }).expect("removal requested");
        assert_eq!(
            run(&mut s, DatabaseUserCommand::Remove { name: n("app") }),
            Err(DatabaseUserError::Busy("removed"))
        );
        run(&mut s, DatabaseUserCommand::MarkRemoved { name: n("app") }).expect("removed");
        assert_eq!(run(&mut s, DatabaseUserCommand::Remove { name: n("app") }), Err(DatabaseUserError::NotFound));
        run(&mut s, create(db, "app")).expect("the name is free again");
    }

    #[test]
    fn role_names_must_fit_postgres() {
        assert_eq!(role_name(&n("shop"), &n("reporting")).expect("fits"), "shop.reporting");
        assert_eq!(role_name(&n(&"a".repeat(40)), &n(&"b".repeat(30))), Err(NameError::Length));
        for reserved in DATA_API_ROLES {
            assert_eq!(role_name(&n("shop"), &n(reserved)), Err(NameError::Reserved(reserved.into())));
        }
    }

    #[test]
    fn users_are_bounded() {
        let (db, mut s) = (DatabaseId::new(), DatabaseUsers::default());
        for i in 0..5 {
            run(&mut s, create(db, &format!("user{i}"))).expect("creates");
        }
        assert_eq!(run(&mut s, create(db, "onemore")), Err(DatabaseUserError::TooMany(5)));
    }
}
