//! Tenant-host adapters: how the control plane acts on a host's PostgreSQL (as superuser)
//! and its PgBouncer (config files and admin console). Used by the workers for changes and
//! by the API for read-only inspection.

pub mod bins;
pub mod dump;
pub mod host;
pub mod inspect;
pub mod lifecycle;
pub mod objects;
pub mod pgbouncer;
pub mod quota_lock;
pub mod release;
pub mod reload;
pub mod snapshot;
pub mod sync;
pub mod tenant;
pub mod users;

pub use host::{HostConn, HostCredentials, HostError, Hosts, RoleLimits};
pub use tenant::{TenantConn, TenantLogin};
