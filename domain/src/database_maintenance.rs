//! Stop, start, restart and password reset: the maintenance operations of a live database.

use super::{Database, DatabaseError, DatabaseEvent, DatabaseState, OperationKind};
use crate::OperationId;

impl Database {
    pub(super) fn request_maintenance(
        &self,
        operation_id: OperationId,
        kind: OperationKind,
    ) -> Result<Vec<DatabaseEvent>, DatabaseError> {
        use DatabaseEvent as E;
        use DatabaseState as S;
        let database_id = self.id.ok_or(DatabaseError::NotFound)?;
        let (want, action): (&[S], _) = match kind {
            OperationKind::Stop => (&[S::Running], "stop"),
            OperationKind::Start => (&[S::Stopped], "start"),
            OperationKind::Restart => (&[S::Running], "restart"),
            OperationKind::ResetPassword => (&[S::Running, S::Stopped], "reset the password of"),
            OperationKind::Provision
            | OperationKind::Delete
            | OperationKind::Backup
            | OperationKind::VerifyBackup
            | OperationKind::Move => return Err(DatabaseError::StaleOperation),
        };
        self.expect_state(want, action)?;
        // A locked database keeps its credentials working (a password reset) but cannot be
        // stopped, started or restarted: any of them would reopen or fight the lock.
        if let (Some(reason), false) = (self.locked, kind == OperationKind::ResetPassword) {
            return Err(DatabaseError::Locked { reason, action });
        }
        if let Some((_, busy)) = self.operation {
            return Err(DatabaseError::Busy(busy));
        }
        Ok(vec![match kind {
            OperationKind::Stop => E::DatabaseStopRequested { database_id, operation_id },
            OperationKind::Start => E::DatabaseStartRequested { database_id, operation_id },
            OperationKind::Restart => E::DatabaseRestartRequested { database_id, operation_id },
            _ => E::PasswordResetRequested { database_id, operation_id },
        }])
    }
}

impl DatabaseEvent {
    /// The maintenance operation this event opens, if it opens one.
    pub fn requested_maintenance(&self) -> Option<(OperationId, OperationKind)> {
        match self {
            Self::DatabaseStopRequested { operation_id, .. } => Some((*operation_id, OperationKind::Stop)),
            Self::DatabaseStartRequested { operation_id, .. } => Some((*operation_id, OperationKind::Start)),
            Self::DatabaseRestartRequested { operation_id, .. } => Some((*operation_id, OperationKind::Restart)),
            Self::PasswordResetRequested { operation_id, .. } => Some((*operation_id, OperationKind::ResetPassword)),
            _ => None,
        }
    }
}
