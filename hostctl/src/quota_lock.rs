//! Locking a running database on its host (the platform's storage-quota lock): PgBouncer
//! closes its pool (as a stop does) and PostgreSQL refuses its tenant's sessions with a
//! database connection limit of 0, ending the ones it has. A stop's `ALLOW_CONNECTIONS
//! false` would refuse the platform's own superuser too, and a locked database must still
//! be backed up; superusers are not subject to the limit. The tenant cannot lift either
//! from SQL: it has no session left, and PgBouncer will not give it one. Both steps read
//! the current state first, so a re-run converges.

use domain::DatabaseName;

use crate::host::{HostConn, HostError};

/// `datconnlimit` of an open tenant database: no limit (roles carry the plan's limit).
const OPEN: i32 = -1;

impl HostConn {
    /// Sets the database's connection limit to 0, closes its pool (which ends the clients
    /// PgBouncer has), then ends the sessions left on PostgreSQL. The limit comes first, so
    /// by the time a client sees its session end, no path leads back in.
    pub async fn lock_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.set_connection_limit(name, 0).await?;
        self.close_pool(name).await?;
        self.terminate_backends(name).await
    }

    /// Lifts the PostgreSQL side of the lock; the pool is opened by [`Self::open_pool`]
    /// (not here: a stopped database keeps its pool closed).
    pub async fn unlock_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.set_connection_limit(name, OPEN).await
    }

    async fn set_connection_limit(&self, name: &DatabaseName, limit: i32) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        let current: Option<i32> = client
            .query_opt("select datconnlimit from pg_database where datname = $1", &[&name.as_str()])
            .await?
            .map(|r| r.get(0));
        match current {
            None => Err(HostError::Permanent(format!("database {name} does not exist on the host"))),
            Some(c) if c == limit => Ok(()),
            Some(_) => {
                client.batch_execute(&format!("ALTER DATABASE {} CONNECTION LIMIT {limit}", name.quoted())).await?;
                Ok(())
            }
        }
    }
}
