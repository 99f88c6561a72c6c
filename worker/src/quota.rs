//! Storage quotas on running databases. After each measurement, every running (or stopped)
//! database of an account over its plan's storage quota is locked (an event; the aggregate decides),
//! and every locked database of an account back under it is unlocked. The `ApplyLock` job
//! each event queues makes the host match: a locked database's pool is closed at PgBouncer,
//! the only way its tenant reaches PostgreSQL (`hostctl::database_lock`), which nothing the
//! tenant runs in SQL can undo; an unlocked one is open again.

use domain::{
    storage_over_quota, Database, DatabaseCommand, DatabaseError, DatabaseId, DatabaseState, LockReason, PlanQuotas,
    StreamId,
};
use eventstore::{Metadata, Store, StoreError};

use crate::jobs::Runner;
use crate::queue::JobError;

/// What the quota check wants for one database, given its account's usage and plan.
pub fn wanted(over: bool, locked: Option<LockReason>, state: DatabaseState) -> Option<DatabaseCommand> {
    match (over, locked) {
        (true, None) if state.is_live() => Some(DatabaseCommand::Lock { reason: LockReason::StorageQuota }),
        (false, Some(LockReason::StorageQuota)) => Some(DatabaseCommand::Unlock),
        _ => None,
    }
}

/// One pass over every database that is running or locked. Several replicas may run it at
/// once: the aggregate decides nothing for a database already as wanted, and the stream's
/// expected version settles a race.
pub async fn enforce(store: &Store, plans: &PlanQuotas) -> Result<(), StoreError> {
    for c in store.quota_candidates().await? {
        let quotas = plans.of(c.plan);
        let over = storage_over_quota(c.account_bytes, quotas);
        let Some(command) = wanted(over, c.locked_reason, c.state) else {
            continue;
        };
        let stream = StreamId::database(c.database_id);
        match store.execute::<Database>(stream.as_str(), &command, &Metadata::default(), &[]).await {
            Ok(Ok(events)) if !events.is_empty() => {
                tracing::info!(database = %c.database_id, account = %c.account_id, used_bytes = c.account_bytes,
                    quota_mb = quotas.storage_mb, locked = over, "storage quota lock changed");
            }
            Ok(Ok(_)) => {}
            // An operation in progress, or the database moved on: the next pass looks again.
            Ok(Err(e @ (DatabaseError::Busy(_) | DatabaseError::WrongState { .. }))) => {
                tracing::debug!(database = %c.database_id, error = %e, "storage quota lock deferred");
            }
            Ok(Err(e)) => tracing::warn!(database = %c.database_id, error = %e, "storage quota lock refused"),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn retry(e: StoreError) -> JobError {
    JobError::retry_from(format!("control plane: {e}"), e)
}

impl Runner {
    /// Makes the host match the database's lock as the read model has it now (so jobs of
    /// a lock and an unlock converge whatever order they run in; one at a time per
    /// database, under a mutex). Every step checks before it acts.
    pub(crate) async fn apply_lock(&self, id: DatabaseId) -> Result<(), JobError> {
        let _guard = self.store.mutex("database-lock", id.uuid()).await.map_err(retry)?;
        let db = match self.store.database(id).await {
            Ok(db) => db,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(retry(e)),
        };
        if !db.state.is_live() {
            tracing::info!(database = %id, state = %db.state, "nothing to lock or unlock");
            return Ok(());
        }
        let name = &db.name;
        let conn = crate::hosts::engine(&self.hosts, &self.store, db.host_id).await?;
        let host: &dyn hostctl::TenantEngine = &*conn;
        if db.locked_reason.is_some() {
            host.lock_database(name).await?;
            return Ok(());
        }
        // A database being stopped (or stopped) keeps its pool closed.
        let closed = self.store.host_closed_pools(db.host_id).await.map_err(retry)?;
        if !closed.contains(name) {
            host.lifecycle(name, hostctl::LifecycleStep::OpenFrontDoor).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_over_its_quota_locks_its_running_and_stopped_databases() {
        use DatabaseState::{Deleting, Running, Stopped};
        assert!(matches!(wanted(true, None, Running), Some(DatabaseCommand::Lock { .. })));
        assert!(matches!(wanted(true, None, Stopped), Some(DatabaseCommand::Lock { .. })));
        assert_eq!(wanted(true, None, Deleting), None);
        assert_eq!(wanted(true, Some(LockReason::StorageQuota), Running), None);
    }

    #[test]
    fn an_account_back_under_its_quota_unlocks() {
        let running = DatabaseState::Running;
        assert_eq!(wanted(false, Some(LockReason::StorageQuota), running), Some(DatabaseCommand::Unlock));
        assert_eq!(wanted(false, None, running), None);
    }
}
