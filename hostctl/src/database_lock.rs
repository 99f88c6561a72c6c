//! The database lock on its host (`domain/src/database_lock.rs`; so far for storage
//! quotas): PgBouncer refuses new clients of its pool and ends the ones it has (DISABLE and
//! KILL, as a stop does); KILL also closes the pool's server connections, so the tenant's
//! sessions on PostgreSQL end with them. PgBouncer is the only way a tenant role reaches
//! PostgreSQL (the cluster's `pg_hba.conf` refuses them anywhere but the Unix socket, which
//! only the service account reaches), so the tenant cannot lift the lock from SQL: it has no
//! session left and no way to open one. PostgreSQL itself is left open — unlike a stop's
//! `ALLOW_CONNECTIONS false` — because the platform still backs a locked database up, as the
//! tenant's own role.

use domain::DatabaseName;

use crate::host::{HostConn, HostError};

impl HostConn {
    /// Closes the database's pool at PgBouncer (idempotent).
    pub async fn lock_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.close_pool(name).await
    }
}
