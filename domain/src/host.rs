//! Tenant hosts registered with the control plane.

use serde::{Deserialize, Serialize};

/// A registered tenant host as the control plane knows it (the state `HostRegistered` and
/// `HostAddressChanged` establish): where its PostgreSQL and PgBouncer listen, and as whom the
/// platform logs in. The passwords are not here: they are in the vault, and whoever reads
/// them hands them to the host adapters (`hostctl`) beside this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantHost {
    pub id: crate::HostId,
    pub name: String,
    /// The cluster's address: for a local host the directory of its Unix socket.
    pub pg_host: String,
    pub pg_port: u16,
    pub superuser: String,
    pub bouncer_host: String,
    pub bouncer_port: u16,
    /// PgBouncer's admin-console user.
    pub admin_user: String,
    /// PgBouncer's config directory (where its rendered files go), on the worker's machine.
    pub config_dir: String,
    /// The engine the host serves. For a MariaDB host `pg_host`/`pg_port` are the server's
    /// Unix socket (the platform's way in), `bouncer_host`/`bouncer_port` its TCP address
    /// (the clients'), and there is no pooler (`admin_user` is empty).
    pub engine: crate::Engine,
    /// The placement label `POST /databases {region}` chooses among.
    pub region: String,
    pub state: HostState,
}

/// Whether new databases may be placed on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostState {
    /// Takes new databases.
    #[default]
    Ready,
    /// Takes none; what it holds stays and works.
    Cordoned,
    /// Takes none, and its running PostgreSQL databases are moved off (the drain asks for a
    /// move of each; what cannot move yet stays and works).
    Draining,
    /// Gone from the platform (it held no database when removed).
    Removed,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Cordoned => "cordoned",
            Self::Draining => "draining",
            Self::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Ready, Self::Cordoned, Self::Draining, Self::Removed].into_iter().find(|h| h.as_str() == s)
    }
}

/// The region of hosts registered before regions, and of `berth up`'s own.
pub const DEFAULT_REGION: &str = "default";

fn default_region() -> String {
    DEFAULT_REGION.into()
}

/// A tenant host joins the platform. Its credentials are not in the event: they are sealed
/// in the vault under `host:<id>:superuser` and `host:<id>:admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum HostEvent {
    HostRegistered {
        host_id: crate::HostId,
        name: String,
        pg_host: String,
        pg_port: u16,
        superuser: String,
        bouncer_host: String,
        bouncer_port: u16,
        admin_user: String,
        config_dir: String,
        capacity: u32,
        /// Absent in events written before engines: those hosts are PostgreSQL.
        #[serde(default = "postgres")]
        engine: String,
        /// Absent in events written before regions: [`DEFAULT_REGION`].
        #[serde(default = "default_region")]
        region: String,
    },
    /// The control plane now reaches the host's PostgreSQL at another address: for a local
    /// host, the directory of its Unix socket, the only way tenant roles may log in.
    HostAddressChanged { host_id: crate::HostId, pg_host: String },
    /// No new database is placed on the host from now on.
    HostCordoned { host_id: crate::HostId },
    /// New databases may be placed on the host again.
    HostUncordoned { host_id: crate::HostId },
    /// No new placements, and the host is to be emptied.
    HostDraining { host_id: crate::HostId },
    /// The host left the platform (holding no database).
    HostRemoved { host_id: crate::HostId },
}

fn postgres() -> String {
    crate::Engine::Postgres.as_str().into()
}

impl HostEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::HostRegistered { .. } => "HostRegistered",
            Self::HostAddressChanged { .. } => "HostAddressChanged",
            Self::HostCordoned { .. } => "HostCordoned",
            Self::HostUncordoned { .. } => "HostUncordoned",
            Self::HostDraining { .. } => "HostDraining",
            Self::HostRemoved { .. } => "HostRemoved",
        }
    }

    /// The activity-log entry an operator's change of the host is.
    pub fn activity(&self) -> Option<crate::Activity> {
        let action = match self {
            Self::HostCordoned { .. } => "host.cordon",
            Self::HostUncordoned { .. } => "host.uncordon",
            Self::HostDraining { .. } => "host.drain",
            Self::HostRemoved { .. } => "host.remove",
            Self::HostRegistered { .. } | Self::HostAddressChanged { .. } => return None,
        };
        Some(crate::Activity { action, details: serde_json::json!({}) })
    }

    pub fn host_id(&self) -> crate::HostId {
        match self {
            Self::HostRegistered { host_id, .. }
            | Self::HostAddressChanged { host_id, .. }
            | Self::HostCordoned { host_id }
            | Self::HostUncordoned { host_id }
            | Self::HostDraining { host_id }
            | Self::HostRemoved { host_id } => *host_id,
        }
    }
}

/// What a host is registered with (its credentials go to the vault, not here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRegistration {
    pub name: String,
    pub pg_host: String,
    pub pg_port: u16,
    pub superuser: String,
    pub bouncer_host: String,
    pub bouncer_port: u16,
    pub admin_user: String,
    pub config_dir: String,
    pub capacity: u32,
    pub engine: crate::Engine,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCommand {
    /// A new host joins the platform (on a stream that does not exist yet).
    Register {
        host_id: crate::HostId,
        registration: HostRegistration,
    },
    /// The control plane reaches the host's PostgreSQL at `pg_host` from now on. The same
    /// address again changes nothing.
    ChangeAddress {
        pg_host: String,
    },
    Cordon,
    Uncordon,
    Drain,
    /// Removes the host, which holds `databases` databases not deleted (it must hold none).
    Remove {
        databases: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("no such host")]
    NotFound,
    #[error("the host is already registered")]
    AlreadyRegistered,
    #[error("a host needs a name and an address")]
    Incomplete,
    #[error("the host holds {0} database(s); move or delete them first")]
    NotEmpty(u32),
    #[error("the host is draining; uncordon it first")]
    Draining,
}

/// A registered tenant host, as far as deciding needs it. One stream per host (`host-<uuid>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    pub id: Option<crate::HostId>,
    pub pg_host: String,
    pub state: HostState,
}

impl crate::Aggregate for Host {
    type Command = HostCommand;
    type Event = HostEvent;
    type Error = HostError;

    fn decide(&self, command: &HostCommand) -> Result<Vec<HostEvent>, HostError> {
        match (command, self.id) {
            (HostCommand::Register { .. }, Some(_)) => Err(HostError::AlreadyRegistered),
            (HostCommand::Register { host_id, registration: r }, None) => {
                if r.name.trim().is_empty() || r.pg_host.is_empty() || r.bouncer_host.is_empty() {
                    return Err(HostError::Incomplete);
                }
                Ok(vec![HostEvent::HostRegistered {
                    host_id: *host_id,
                    name: r.name.clone(),
                    pg_host: r.pg_host.clone(),
                    pg_port: r.pg_port,
                    superuser: r.superuser.clone(),
                    bouncer_host: r.bouncer_host.clone(),
                    bouncer_port: r.bouncer_port,
                    admin_user: r.admin_user.clone(),
                    config_dir: r.config_dir.clone(),
                    capacity: r.capacity,
                    engine: r.engine.as_str().into(),
                    region: r.region.clone(),
                }])
            }
            (_, None) => Err(HostError::NotFound),
            (_, Some(_)) if self.state == HostState::Removed => Err(HostError::NotFound),
            (
                HostCommand::Cordon | HostCommand::Uncordon | HostCommand::Drain | HostCommand::Remove { .. },
                Some(id),
            ) => Ok(self.decide_state(command, id)?.into_iter().collect()),
            (HostCommand::ChangeAddress { pg_host }, Some(host_id)) => {
                if pg_host.is_empty() {
                    return Err(HostError::Incomplete);
                }
                if *pg_host == self.pg_host {
                    return Ok(vec![]);
                }
                Ok(vec![HostEvent::HostAddressChanged { host_id, pg_host: pg_host.clone() }])
            }
        }
    }

    fn apply(&mut self, event: &HostEvent) {
        match event {
            HostEvent::HostRegistered { host_id, pg_host, .. } => {
                self.id = Some(*host_id);
                self.pg_host = pg_host.clone();
            }
            HostEvent::HostAddressChanged { pg_host, .. } => self.pg_host = pg_host.clone(),
            HostEvent::HostCordoned { .. } => self.state = HostState::Cordoned,
            HostEvent::HostUncordoned { .. } => self.state = HostState::Ready,
            HostEvent::HostDraining { .. } => self.state = HostState::Draining,
            HostEvent::HostRemoved { .. } => self.state = HostState::Removed,
        }
    }
}

impl Host {
    /// An operator's change of placement: what was asked for already is no change.
    fn decide_state(&self, command: &HostCommand, host_id: crate::HostId) -> Result<Option<HostEvent>, HostError> {
        use HostState::*;
        Ok(match (command, self.state) {
            (HostCommand::Cordon, Draining) => return Err(HostError::Draining),
            (HostCommand::Cordon, Cordoned) | (HostCommand::Uncordon, Ready) | (HostCommand::Drain, Draining) => None,
            (HostCommand::Cordon, _) => Some(HostEvent::HostCordoned { host_id }),
            (HostCommand::Uncordon, _) => Some(HostEvent::HostUncordoned { host_id }),
            (HostCommand::Drain, _) => Some(HostEvent::HostDraining { host_id }),
            (HostCommand::Remove { databases }, _) if *databases > 0 => return Err(HostError::NotEmpty(*databases)),
            (HostCommand::Remove { .. }, _) => Some(HostEvent::HostRemoved { host_id }),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Aggregate, HostId};

    fn registration() -> HostRegistration {
        HostRegistration {
            name: "local".into(),
            pg_host: "127.0.0.1".into(),
            pg_port: 5432,
            superuser: "postgres".into(),
            bouncer_host: "127.0.0.1".into(),
            bouncer_port: 6432,
            admin_user: "pgbouncer".into(),
            config_dir: "/var/lib/berth/bouncer".into(),
            capacity: 10_000,
            engine: crate::Engine::Postgres,
            region: "eu".into(),
        }
    }

    fn registered() -> (Host, HostId) {
        let host_id = HostId::new();
        let events = Host::default()
            .decide(&HostCommand::Register { host_id, registration: registration() })
            .expect("registers");
        (Host::replay(&events), host_id)
    }

    #[test]
    fn a_new_host_is_registered_with_what_it_was_given() {
        let host_id = HostId::new();
        let events = Host::default()
            .decide(&HostCommand::Register { host_id, registration: registration() })
            .expect("registers");
        let [HostEvent::HostRegistered { host_id: id, name, pg_port, bouncer_port, capacity, .. }] = &events[..] else {
            panic!("one HostRegistered: {events:?}")
        };
        assert_eq!((*id, name.as_str(), *pg_port, *bouncer_port, *capacity), (host_id, "local", 5432, 6432, 10_000));
    }

    #[test]
    fn a_host_registered_before_engines_is_postgres() {
        let old = r#"{"type":"HostRegistered","host_id":"6f1c1f52-58f5-4d6b-9d0e-2c9b8c1f2a11","name":"local",
            "pg_host":"/x","pg_port":1,"superuser":"berth","bouncer_host":"127.0.0.1","bouncer_port":2,
            "admin_user":"pgbouncer","config_dir":"/y","capacity":3}"#;
        let HostEvent::HostRegistered { engine, .. } = serde_json::from_str(old).expect("an old event reads") else {
            panic!("not a registration")
        };
        assert_eq!(engine, "postgres");
    }

    #[test]
    fn a_host_is_registered_once_and_needs_a_name() {
        let (host, _) = registered();
        let again = HostCommand::Register { host_id: HostId::new(), registration: registration() };
        assert_eq!(host.decide(&again), Err(HostError::AlreadyRegistered));
        let unnamed = HostRegistration { name: " ".into(), ..registration() };
        let cmd = HostCommand::Register { host_id: HostId::new(), registration: unnamed };
        assert_eq!(Host::default().decide(&cmd), Err(HostError::Incomplete));
    }

    #[test]
    fn a_registered_host_moves_and_the_same_address_changes_nothing() {
        let (mut host, host_id) = registered();
        let moved = HostCommand::ChangeAddress { pg_host: "/run/berth/host-1".into() };
        let events = host.decide(&moved).expect("moves");
        assert_eq!(events, vec![HostEvent::HostAddressChanged { host_id, pg_host: "/run/berth/host-1".into() }]);
        for e in &events {
            host.apply(e);
        }
        assert_eq!(host.decide(&moved), Ok(vec![]));
    }

    #[test]
    fn an_unknown_host_cannot_move() {
        let moved = HostCommand::ChangeAddress { pg_host: "/tmp".into() };
        assert_eq!(Host::default().decide(&moved), Err(HostError::NotFound));
    }

    fn after(mut host: Host, command: HostCommand) -> (Host, Result<Vec<HostEvent>, HostError>) {
        let got = host.decide(&command);
        for e in got.as_ref().map(Vec::as_slice).unwrap_or_default() {
            host.apply(e);
        }
        (host, got)
    }

    #[test]
    fn cordon_drain_uncordon_and_remove_change_placement_once_each() {
        let (host, id) = registered();
        let (host, got) = after(host, HostCommand::Cordon);
        assert_eq!(got, Ok(vec![HostEvent::HostCordoned { host_id: id }]));
        let (host, again) = after(host, HostCommand::Cordon);
        assert_eq!(again, Ok(vec![]), "cordoning a cordoned host changes nothing");
        let (host, got) = after(host, HostCommand::Drain);
        assert_eq!(got, Ok(vec![HostEvent::HostDraining { host_id: id }]));
        assert_eq!(host.decide(&HostCommand::Cordon), Err(HostError::Draining));
        let (host, got) = after(host, HostCommand::Uncordon);
        assert_eq!(got, Ok(vec![HostEvent::HostUncordoned { host_id: id }]));
        assert_eq!(host.state, HostState::Ready);
        assert_eq!(host.decide(&HostCommand::Remove { databases: 2 }), Err(HostError::NotEmpty(2)));
        let (host, got) = after(host, HostCommand::Remove { databases: 0 });
        assert_eq!(got, Ok(vec![HostEvent::HostRemoved { host_id: id }]));
        assert_eq!(host.decide(&HostCommand::Uncordon), Err(HostError::NotFound), "a removed host is gone");
        let activity = HostEvent::HostDraining { host_id: id }.activity().expect("an operator's action");
        assert_eq!(activity.action, "host.drain");
    }

    #[test]
    fn a_host_registered_before_regions_is_in_the_default_region() {
        let old = r#"{"type":"HostRegistered","host_id":"6f1c1f52-58f5-4d6b-9d0e-2c9b8c1f2a11","name":"local",
            "pg_host":"/x","pg_port":1,"superuser":"berth","bouncer_host":"127.0.0.1","bouncer_port":2,
            "admin_user":"pgbouncer","config_dir":"/y","capacity":3,"engine":"postgres"}"#;
        let HostEvent::HostRegistered { region, .. } = serde_json::from_str(old).expect("an old event reads") else {
            panic!("not a registration")
        };
        assert_eq!(region, DEFAULT_REGION);
    }
}
