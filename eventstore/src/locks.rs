//! Cross-process mutual exclusion through session advisory locks in the control-plane
//! database (e.g. one PgBouncer render-and-reload at a time per host).

use std::time::Duration;

use uuid::Uuid;

use crate::{Store, StoreError};

/// Holds the lock while alive; unlocks on drop (or when its connection dies).
pub struct LockGuard {
    client: Option<deadpool_postgres::Object>,
    key: i64,
}

impl Drop for LockGuard {
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
    /// Waits (up to 30 s) for the lock on host `id`.
    pub async fn host_lock(&self, id: Uuid) -> Result<LockGuard, StoreError> {
        self.scoped_lock("host", id).await
    }

    /// Waits (up to 30 s) for the lock on `id` within `scope` (e.g. the jobs that apply a
    /// database's quota lock, one at a time per database).
    pub async fn scoped_lock(&self, scope: &str, id: Uuid) -> Result<LockGuard, StoreError> {
        let key = key_of(scope, id);
        let client = self.client().await?;
        client.execute("set lock_timeout = '30s'", &[]).await?;
        let locked =
            tokio::time::timeout(Duration::from_secs(31), client.execute("select pg_advisory_lock($1)", &[&key])).await;
        client.execute("reset lock_timeout", &[]).await?;
        match locked {
            Ok(Ok(_)) => Ok(LockGuard { client: Some(client), key }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::Unavailable(format!("timed out waiting for the {scope} lock"))),
        }
    }
}
