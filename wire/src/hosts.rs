//! Tenant hosts, for platform admins (`/admin/hosts`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tenant host: where it places databases and what the watchdog last saw of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HostView {
    pub id: String,
    pub name: String,
    /// `postgres` or `mariadb`.
    pub engine: String,
    /// The placement label `POST /databases {region}` chooses among.
    pub region: String,
    /// `ready` (takes new databases), `cordoned` or `draining` (takes none), or
    /// `unreachable` (the watchdog's last probe got no answer; its databases show
    /// `available: false`).
    pub state: String,
    /// Databases it may hold.
    pub capacity: i32,
    /// Databases it holds (not deleted).
    pub databases: i64,
    /// Free bytes on the file system of its data directory, when known.
    pub free_bytes: Option<i64>,
    /// The server's version, when known.
    pub version: Option<String>,
    /// The last time it answered the watchdog.
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// `POST /admin/databases/{id}/move`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveDatabase {
    /// The host to move it to (`GET /admin/hosts`): ready, of the database's engine.
    pub host_id: String,
}
