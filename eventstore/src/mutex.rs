//! Mutexes: cross-process mutual exclusion (e.g. one PgBouncer render-and-reload at a time
//! per host), held as PostgreSQL session advisory locks in the control-plane database.
//! ("Lock" alone, in Berth, is the platform shutting a database:
//! `domain/src/database_lock.rs`.)

use std::time::Duration;

use uuid::Uuid;

use crate::{Store, StoreError};

/// Holds the mutex while alive; releases it on drop (or when its connection dies).
pub struct MutexGuard {
    client: Option<deadpool_postgres::Object>,
    key: i64,
}

impl Drop for MutexGuard {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let key = self.key;
            tokio::spawn(async move {
                if let Err(e) = client.execute("select pg_advisory_unlock($1)", &[&key]).await {
                    tracing::warn!(error = %e, "advisory unlock failed; dropping the connection");
                    let _ = deadpool_postgres::Object::take(client);
                }
            });
        }
    }
}

fn key_of(scope: &str, id: Uuid) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("{scope}:{id}").as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

impl Store {
    /// Waits (up to 30 s) for the mutex of host `id`.
    pub async fn host_mutex(&self, id: Uuid) -> Result<MutexGuard, StoreError> {
        self.mutex("host", id).await
    }

    /// Waits (up to 30 s) for the mutex of `id` in `scope` (a name for what it serialises;
    /// with `id` it makes the advisory lock's key, so a scope's spelling must not change
    /// while processes of two versions may run side by side).
    pub async fn mutex(&self, scope: &str, id: Uuid) -> Result<MutexGuard, StoreError> {
        let key = key_of(scope, id);
        let client = self.client().await?;
        client.execute("set lock_timeout = '30s'", &[]).await?;
        let locked =
            tokio::time::timeout(Duration::from_secs(31), client.execute("select pg_advisory_lock($1)", &[&key])).await;
        client.execute("reset lock_timeout", &[]).await?;
        match locked {
            Ok(Ok(_)) => Ok(MutexGuard { client: Some(client), key }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::Unavailable(format!("timed out waiting for the {scope} mutex"))),
        }
    }
}
