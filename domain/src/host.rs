//! Tenant hosts registered with the control plane.

use serde::{Deserialize, Serialize};

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
