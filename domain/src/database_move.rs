//! Moving a database to another host: requested by an operator on a running database
//! (one operation at a time, as for lifecycle), switched once its copy on the new host is
//! complete and checked, completed once the old host's copy is gone. A move that fails for
//! good leaves the database where it was (the job removes the new host's copy); a failure
//! after the switch cannot happen to the operation's record — the switch is its point of no
//! return, and the job finishes what follows it on every retry.
//!
//! ```text
//! running ──RequestMove──▶ (moving) ──SwitchHost──▶ (served by the new host) ──CompleteMove──▶ running
//!                              └──failed──▶ running, where it was
//! ```

use super::{Database, DatabaseError, DatabaseEvent, DatabaseState, OperationKind};
use crate::{HostId, OperationId};

impl Database {
    pub(super) fn request_move(
        &self,
        operation_id: OperationId,
        to: HostId,
    ) -> Result<Vec<DatabaseEvent>, DatabaseError> {
        let database_id = self.id.ok_or(DatabaseError::NotFound)?;
        self.expect_state(&[DatabaseState::Running], "move")?;
        if let Some(reason) = self.locked {
            return Err(DatabaseError::Locked { reason, action: "move" });
        }
        if let Some((_, busy)) = self.operation {
            return Err(DatabaseError::Busy(busy));
        }
        let from = self.host.ok_or(DatabaseError::NotFound)?;
        if from == to {
            return Err(DatabaseError::AlreadyThere);
        }
        Ok(vec![DatabaseEvent::DatabaseMoveRequested { database_id, operation_id, from_host_id: from, to_host_id: to }])
    }

    /// The move under way as `operation_id`: the database, where it is served now, and the
    /// hosts it moves from and to.
    fn move_hosts(
        &self,
        operation_id: OperationId,
    ) -> Result<(crate::DatabaseId, HostId, (HostId, HostId)), DatabaseError> {
        let (id, kind) = self.current_op(operation_id)?;
        match (kind, self.moving, self.host) {
            (OperationKind::Move, Some(hosts), Some(host)) => Ok((id, host, hosts)),
            _ => Err(DatabaseError::StaleOperation),
        }
    }

    pub(super) fn switch_host(&self, operation_id: OperationId) -> Result<Vec<DatabaseEvent>, DatabaseError> {
        let (database_id, host, (from, to)) = self.move_hosts(operation_id)?;
        if host == to {
            // Switched already (a retry after the switch was recorded).
            return Ok(vec![]);
        }
        Ok(vec![DatabaseEvent::DatabaseHostSwitched { database_id, operation_id, from_host_id: from, to_host_id: to }])
    }

    pub(super) fn complete_move(&self, operation_id: OperationId) -> Result<Vec<DatabaseEvent>, DatabaseError> {
        let (database_id, host, (from, to)) = self.move_hosts(operation_id)?;
        if host != to {
            return Err(DatabaseError::StaleOperation);
        }
        Ok(vec![DatabaseEvent::DatabaseMoved { database_id, operation_id, from_host_id: from, to_host_id: to }])
    }
}
