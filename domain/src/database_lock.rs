//! Locks: the platform shuts a running database to its clients while a rule of the platform
//! is broken (so far one: the account is over its storage quota), and opens it again, by
//! itself, once the rule holds.
//!
//! A locked database keeps its state in the aggregate (its data and role are intact; the
//! API shows a running one as `locked`). A stopped database is locked too, so that it
//! cannot be started while the account is over. While locked a database cannot be stopped,
//! started or restarted (that would reopen it, or fight the lock); it can be deleted, backed
//! up, and its password reset, which is how an account gets back under its quota. A lock
//! is only taken on a running or stopped database with no operation in progress (the next
//! measurement tries again);
//! locking a locked database, or unlocking an unlocked one, decides nothing, so every worker
//! replica may measure and decide.

use serde::{Deserialize, Serialize};

use super::{Database, DatabaseError, DatabaseEvent, DatabaseState};
use crate::Quotas;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockReason {
    /// The account's databases together use more than its plan's storage quota.
    StorageQuota,
}

impl LockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StorageQuota => "storage_quota",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "storage_quota" => Some(Self::StorageQuota),
            _ => None,
        }
    }

    /// What users are told when a lifecycle action is refused, or a login fails.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::StorageQuota => {
                "the account is over its storage quota, so its databases refuse connections; \
                 delete a database (back it up first if needed) or move to a larger plan, and \
                 the lock lifts by itself at the next measurement"
            }
        }
    }
}

/// Whether an account using `used_bytes` is over its storage quota. At the quota is not
/// over (creating a database is refused from there on, but nothing is locked).
pub fn storage_over_quota(used_bytes: i64, quotas: Quotas) -> bool {
    used_bytes > quotas.storage_mb.saturating_mul(1024 * 1024)
}

impl Database {
    pub(super) fn lock(&self, reason: LockReason) -> Result<Vec<DatabaseEvent>, DatabaseError> {
        let database_id = self.id.ok_or(DatabaseError::NotFound)?;
        if self.locked == Some(reason) {
            return Ok(vec![]);
        }
        self.expect_state(&[DatabaseState::Running, DatabaseState::Stopped], "lock")?;
        if let Some((_, busy)) = self.operation {
            return Err(DatabaseError::Busy(busy));
        }
        Ok(vec![DatabaseEvent::DatabaseLocked { database_id, reason }])
    }

    pub(super) fn unlock(&self) -> Result<Vec<DatabaseEvent>, DatabaseError> {
        let database_id = self.id.ok_or(DatabaseError::NotFound)?;
        Ok(match self.locked {
            Some(_) => vec![DatabaseEvent::DatabaseUnlocked { database_id }],
            None => vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Aggregate;
    use crate::database::{DatabaseCommand, OperationKind};
    use crate::{AccountId, DatabaseId, DatabaseName, HostId, OperationId};

    const REASON: LockReason = LockReason::StorageQuota;

    fn running(id: DatabaseId) -> Vec<DatabaseEvent> {
        let op = OperationId::new();
        vec![
            DatabaseEvent::DatabaseCreationRequested {
                database_id: id,
                name: DatabaseName::parse("shop").expect("valid"),
                account_id: AccountId::new(),
                host_id: HostId::new(),
                operation_id: op,
                engine: "postgres".into(),
                source: None,
            },
            DatabaseEvent::DatabaseProvisioned { database_id: id, operation_id: op },
        ]
    }

    fn locked(id: DatabaseId) -> Vec<DatabaseEvent> {
        let mut events = running(id);
        events.push(DatabaseEvent::DatabaseLocked { database_id: id, reason: REASON });
        events
    }

    fn given(events: &[DatabaseEvent]) -> Database {
        Database::replay(events)
    }

    fn maintenance(kind: OperationKind) -> DatabaseCommand {
        DatabaseCommand::RequestMaintenance { operation_id: OperationId::new(), kind }
    }

    #[test]
    fn a_running_database_is_locked_with_its_reason() {
        let id = DatabaseId::new();
        let events = given(&running(id)).decide(&DatabaseCommand::Lock { reason: REASON }).expect("decides");
        assert_eq!(events, vec![DatabaseEvent::DatabaseLocked { database_id: id, reason: REASON }]);
        let after = given(&[running(id), events].concat());
        assert_eq!(after.locked, Some(REASON));
        assert_eq!(after.state, Some(DatabaseState::Running));
    }

    #[test]
    fn locking_twice_or_unlocking_an_open_database_decides_nothing() {
        let id = DatabaseId::new();
        assert_eq!(given(&locked(id)).decide(&DatabaseCommand::Lock { reason: REASON }), Ok(vec![]));
        assert_eq!(given(&running(id)).decide(&DatabaseCommand::Unlock), Ok(vec![]));
    }

    #[test]
    fn unlock_lifts_the_lock() {
        let id = DatabaseId::new();
        let events = given(&locked(id)).decide(&DatabaseCommand::Unlock).expect("decides");
        assert_eq!(events, vec![DatabaseEvent::DatabaseUnlocked { database_id: id }]);
        assert_eq!(given(&[locked(id), events].concat()).locked, None);
    }

    #[test]
    fn only_a_running_or_stopped_database_without_an_operation_is_locked() {
        let id = DatabaseId::new();
        let lock = DatabaseCommand::Lock { reason: REASON };
        let mut stopping = running(id);
        stopping.extend(given(&stopping).decide(&maintenance(OperationKind::Stop)).expect("stop"));
        assert_eq!(given(&stopping).decide(&lock), Err(DatabaseError::Busy(OperationKind::Stop)));
        let op = OperationId::new();
        let mut stopped = running(id);
        stopped.push(DatabaseEvent::DatabaseStopRequested { database_id: id, operation_id: op });
        stopped.push(DatabaseEvent::DatabaseStopped { database_id: id, operation_id: op });
        let events = given(&stopped).decide(&lock).expect("a stopped database is locked");
        let state = given(&[stopped, events].concat());
        assert_eq!((state.state, state.locked), (Some(DatabaseState::Stopped), Some(REASON)));
        assert!(
            matches!(state.decide(&maintenance(OperationKind::Start)), Err(DatabaseError::Locked { .. })),
            "a locked stopped database cannot be started"
        );
        let mut deleting = running(id);
        deleting.push(DatabaseEvent::DatabaseDeletionRequested { database_id: id, operation_id: OperationId::new() });
        assert!(matches!(given(&deleting).decide(&lock), Err(DatabaseError::WrongState { .. })));
        assert_eq!(given(&[]).decide(&lock), Err(DatabaseError::NotFound));
    }

    #[test]
    fn a_locked_database_refuses_stop_start_and_restart() {
        let state = given(&locked(DatabaseId::new()));
        for kind in [OperationKind::Stop, OperationKind::Restart] {
            assert!(
                matches!(state.decide(&maintenance(kind)), Err(DatabaseError::Locked { reason: REASON, .. })),
                "{kind:?}"
            );
        }
        // Start is refused as for any running database.
        assert!(state.decide(&maintenance(OperationKind::Start)).is_err());
    }

    #[test]
    fn a_locked_database_can_still_be_deleted_and_its_password_reset() {
        let state = given(&locked(DatabaseId::new()));
        let reset = state.decide(&maintenance(OperationKind::ResetPassword)).expect("reset");
        assert!(matches!(&reset[..], [DatabaseEvent::PasswordResetRequested { .. }]));
        let delete = state.decide(&DatabaseCommand::RequestDeletion { operation_id: OperationId::new() });
        assert!(matches!(&delete.expect("delete")[..], [DatabaseEvent::DatabaseDeletionRequested { .. }]));
    }

    #[test]
    fn lock_events_are_activity_entries_for_users() {
        let id = DatabaseId::new();
        let lock = DatabaseEvent::DatabaseLocked { database_id: id, reason: REASON }.activity().expect("an entry");
        assert_eq!(lock.action, "database.lock");
        assert_eq!(lock.details["reason"], "storage_quota");
        let unlock = DatabaseEvent::DatabaseUnlocked { database_id: id }.activity().expect("an entry");
        assert_eq!(unlock.action, "database.unlock");
    }

    #[test]
    fn over_the_quota_means_strictly_more_bytes_than_it_allows() {
        let q = Quotas { storage_mb: 24, ..crate::PlanQuotas::default().free };
        assert!(!storage_over_quota(24 * 1024 * 1024, q));
        assert!(storage_over_quota(24 * 1024 * 1024 + 1, q));
        assert!(!storage_over_quota(0, q));
    }

    #[test]
    fn lock_reasons_round_trip_through_their_names() {
        assert_eq!(LockReason::parse(REASON.as_str()), Some(REASON));
        assert_eq!(serde_json::to_value(REASON).expect("json"), serde_json::json!("storage_quota"));
    }
}
