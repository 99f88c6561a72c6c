//! Tenant hosts as an operator sees them: each with its load and what the watchdog last saw
//! of it (`host_status`: an observation, written by the watchdog, not a read model).

use chrono::{DateTime, Utc};
use domain::{HostId, TenantHost};

use crate::{Store, StoreError};

/// What the watchdog last saw of a host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStatus {
    pub reachable: bool,
    /// The server's version (`server_version`, `@@version`).
    pub version: Option<String>,
    /// Free bytes on the file system of the host's data directory.
    pub free_bytes: Option<i64>,
    pub checked_at: DateTime<Utc>,
    /// The last time it answered.
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// A host with its capacity, the databases it holds (not deleted) and its last status.
#[derive(Debug, Clone)]
pub struct HostListing {
    pub host: TenantHost,
    pub capacity: i32,
    pub databases: i64,
    pub status: Option<HostStatus>,
}

/// A status older than this is written again even when nothing changed (so `last_seen_at`
/// and `free_bytes` stay this fresh); otherwise only a change of reachability writes. Every
/// commit invalidates the API's listing caches, so the watchdog does not write each round.
pub const REFRESH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

impl Store {
    /// Every host not removed, oldest first, with its load and status.
    pub async fn host_listing(&self) -> Result<Vec<HostListing>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select h.*,
                        (select count(*) from databases d where d.host_id = h.id and d.state <> 'deleted') as held,
                        s.reachable, s.version, s.free_bytes, s.checked_at, s.last_seen_at
                 from hosts h left join host_status s on s.host_id = h.id
                 where h.state <> 'removed' order by h.created_at",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| HostListing {
                host: crate::queries::host_row(r),
                capacity: r.get("capacity"),
                databases: r.get("held"),
                status: r.get::<_, Option<bool>>("reachable").map(|reachable| HostStatus {
                    reachable,
                    version: r.get("version"),
                    free_bytes: r.get("free_bytes"),
                    checked_at: r.get("checked_at"),
                    last_seen_at: r.get("last_seen_at"),
                }),
            })
            .collect())
    }

    /// Databases not deleted on `host`.
    pub async fn host_database_count(&self, host: HostId) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let sql = "select count(*) from databases where host_id = $1 and state <> 'deleted'";
        Ok(client.query_one(sql, &[&host.uuid()]).await?.get(0))
    }

    /// Records what the watchdog saw of `host` at `now`: written when reachability changed
    /// or the last record is older than [`REFRESH_EVERY`]. Whether it wrote.
    pub async fn record_host_status(
        &self,
        host: HostId,
        reachable: bool,
        version: Option<&str>,
        free_bytes: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let last = client
            .query_opt("select reachable, checked_at from host_status where host_id = $1", &[&host.uuid()])
            .await?
            .map(|r| (r.get::<_, bool>(0), r.get::<_, DateTime<Utc>>(1)));
        if last.is_some_and(|(was, at)| was == reachable && now - at < REFRESH_EVERY) {
            return Ok(false);
        }
        client
            .execute(
                "insert into host_status (host_id, reachable, version, free_bytes, checked_at, last_seen_at)
                 values ($1::uuid, $2::boolean, $3::text, $4::bigint, $5::timestamptz,
                         case when $2::boolean then $5::timestamptz end)
                 on conflict (host_id) do update set
                     reachable = excluded.reachable,
                     version = coalesce(excluded.version, host_status.version),
                     free_bytes = coalesce(excluded.free_bytes, host_status.free_bytes),
                     checked_at = excluded.checked_at,
                     last_seen_at = coalesce(excluded.last_seen_at, host_status.last_seen_at)",
                &[&host.uuid(), &reachable, &version, &free_bytes, &now],
            )
            .await?;
        Ok(true)
    }
}
