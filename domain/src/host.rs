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
    },
    /// The control plane now reaches the host's PostgreSQL at another address: for a local
    /// host, the directory of its Unix socket, the only way tenant roles may log in.
    HostAddressChanged { host_id: crate::HostId, pg_host: String },
}

impl HostEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::HostRegistered { .. } => "HostRegistered",
            Self::HostAddressChanged { .. } => "HostAddressChanged",
        }
    }
}
