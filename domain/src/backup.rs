//! The backup aggregate: one backup of one database, from request to a verified object in
//! the object store (or a failure), and its deletion.
//!
//! ```text
//! pending ──started──▶ running ──succeeded──▶ succeeded ──verified──▶ succeeded (verified)
//!    │                   │ ▲ (a retry starts again)      │
//!    └──failed──▶ failed ◀┘ └─────────────────────────────┴──deleted──▶ deleted
//! ```

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Activity, Aggregate};
use crate::{BackupId, DatabaseId, OperationId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupTrigger {
    Manual,
    Scheduled,
}

impl BackupTrigger {
    pub const ALL: [Self; 2] = [Self::Manual, Self::Scheduled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Deleted,
}

impl BackupState {
    pub const ALL: [Self; 5] = [Self::Pending, Self::Running, Self::Succeeded, Self::Failed, Self::Deleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Why a backup was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionReason {
    User,
    Retention,
}

/// What a backup recorded about one table, inside the dump's snapshot, so that a restore can
/// be checked against it: its row count and an order-independent checksum of its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// `schema.table`, quoted as PostgreSQL quotes identifiers.
    pub table: String,
    pub rows: i64,
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupCommand {
    Request {
        backup_id: BackupId,
        database_id: DatabaseId,
        operation_id: OperationId,
        trigger: BackupTrigger,
        label: Option<String>,
        scheduled_for: Option<NaiveDate>,
    },
    Start {
        attempt: u32,
        object_key: String,
    },
    Succeed {
        object_key: String,
        size_bytes: i64,
        sha256: String,
        tables: Vec<TableStats>,
    },
    Fail {
        error: String,
    },
    Delete {
        reason: DeletionReason,
    },
    RequestVerification {
        operation_id: OperationId,
    },
    RecordVerification {
        operation_id: Option<OperationId>,
        ok: bool,
        details: serde_json::Value,
    },
}

/// Facts about a backup, past tense; `schema_version` 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum BackupEvent {
    BackupRequested {
        backup_id: BackupId,
        database_id: DatabaseId,
        operation_id: OperationId,
        trigger: BackupTrigger,
        label: Option<String>,
        scheduled_for: Option<NaiveDate>,
    },
    BackupStarted {
        backup_id: BackupId,
        database_id: DatabaseId,
        attempt: u32,
        object_key: String,
    },
    BackupSucceeded {
        backup_id: BackupId,
        database_id: DatabaseId,
        object_key: String,
        size_bytes: i64,
        sha256: String,
        tables: Vec<TableStats>,
    },
    BackupFailed {
        backup_id: BackupId,
        database_id: DatabaseId,
        error: String,
    },
    BackupDeleted {
        backup_id: BackupId,
        database_id: DatabaseId,
        reason: DeletionReason,
        /// The object to remove from the store, if one was written.
        object_key: Option<String>,
    },
    BackupVerificationRequested {
        backup_id: BackupId,
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    BackupVerified {
        backup_id: BackupId,
        database_id: DatabaseId,
        /// The verification request this answers (none for scheduled verifications).
        #[serde(default)]
        operation_id: Option<OperationId>,
        ok: bool,
        details: serde_json::Value,
    },
}

impl BackupEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::BackupRequested { .. } => "BackupRequested",
            Self::BackupStarted { .. } => "BackupStarted",
            Self::BackupSucceeded { .. } => "BackupSucceeded",
            Self::BackupFailed { .. } => "BackupFailed",
            Self::BackupDeleted { .. } => "BackupDeleted",
            Self::BackupVerificationRequested { .. } => "BackupVerificationRequested",
            Self::BackupVerified { .. } => "BackupVerified",
        }
    }

    pub fn ids(&self) -> (BackupId, DatabaseId) {
        match self {
            Self::BackupRequested { backup_id, database_id, .. }
            | Self::BackupStarted { backup_id, database_id, .. }
            | Self::BackupSucceeded { backup_id, database_id, .. }
            | Self::BackupFailed { backup_id, database_id, .. }
            | Self::BackupDeleted { backup_id, database_id, .. }
            | Self::BackupVerificationRequested { backup_id, database_id, .. }
            | Self::BackupVerified { backup_id, database_id, .. } => (*backup_id, *database_id),
        }
    }

    /// The activity-log entry this event is, if users should see it.
    pub fn activity(&self) -> Option<Activity> {
        match self {
            Self::BackupRequested { backup_id, trigger, .. } => Some(Activity {
                action: "backup.create",
                details: serde_json::json!({ "backup_id": backup_id.to_string(), "trigger": trigger.as_str() }),
            }),
            Self::BackupDeleted { backup_id, reason, .. } => Some(Activity {
                action: "backup.delete",
                details: serde_json::json!({ "backup_id": backup_id.to_string(), "reason": reason }),
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    #[error("the backup already exists")]
    AlreadyExists,
    #[error("no such backup")]
    NotFound,
    #[error("the backup is {state:?}; cannot {action}")]
    WrongState { state: BackupState, action: &'static str },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backup {
    pub id: Option<BackupId>,
    pub database_id: Option<DatabaseId>,
    pub state: Option<BackupState>,
    /// The object the latest attempt writes (or wrote) to.
    pub object_key: Option<String>,
}

impl Backup {
    fn expect_state(&self, want: &[BackupState], action: &'static str) -> Result<(BackupId, DatabaseId), BackupError> {
        let (Some(id), Some(db), Some(state)) = (self.id, self.database_id, self.state) else {
            return Err(BackupError::NotFound);
        };
        if want.contains(&state) {
            Ok((id, db))
        } else {
            Err(BackupError::WrongState { state, action })
        }
    }
}

impl Aggregate for Backup {
    type Command = BackupCommand;
    type Event = BackupEvent;
    type Error = BackupError;

    fn decide(&self, command: &BackupCommand) -> Result<Vec<BackupEvent>, BackupError> {
        use BackupCommand as C;
        use BackupEvent as E;
        use BackupState as S;
        match command {
            C::Request { backup_id, database_id, operation_id, trigger, label, scheduled_for } => {
                if self.id.is_some() {
                    return Err(BackupError::AlreadyExists);
                }
                Ok(vec![E::BackupRequested {
                    backup_id: *backup_id,
                    database_id: *database_id,
                    operation_id: *operation_id,
                    trigger: *trigger,
                    label: label.clone(),
                    scheduled_for: *scheduled_for,
                }])
            }
            C::Start { attempt, object_key } => {
                let (backup_id, database_id) = self.expect_state(&[S::Pending, S::Running], "start")?;
                Ok(vec![E::BackupStarted { backup_id, database_id, attempt: *attempt, object_key: object_key.clone() }])
            }
            C::Succeed { object_key, size_bytes, sha256, tables } => {
                let (backup_id, database_id) = self.expect_state(&[S::Running], "mark succeeded")?;
                Ok(vec![E::BackupSucceeded {
                    backup_id,
                    database_id,
                    object_key: object_key.clone(),
                    size_bytes: *size_bytes,
                    sha256: sha256.clone(),
                    tables: tables.clone(),
                }])
            }
            C::Fail { error } => {
                let (backup_id, database_id) = self.expect_state(&[S::Pending, S::Running], "fail")?;
                Ok(vec![E::BackupFailed { backup_id, database_id, error: error.clone() }])
            }
            C::Delete { reason } => {
                let (backup_id, database_id) = self.expect_state(&[S::Succeeded, S::Failed], "delete")?;
                Ok(vec![E::BackupDeleted {
                    backup_id,
                    database_id,
                    reason: *reason,
                    object_key: self.object_key.clone(),
                }])
            }
            C::RequestVerification { operation_id } => {
                let (backup_id, database_id) = self.expect_state(&[S::Succeeded], "verify")?;
                Ok(vec![E::BackupVerificationRequested { backup_id, database_id, operation_id: *operation_id }])
            }
            C::RecordVerification { operation_id, ok, details } => {
                let (backup_id, database_id) = self.expect_state(&[S::Succeeded], "verify")?;
                Ok(vec![E::BackupVerified {
                    backup_id,
                    database_id,
                    operation_id: *operation_id,
                    ok: *ok,
                    details: details.clone(),
                }])
            }
        }
    }

    fn apply(&mut self, event: &BackupEvent) {
        use BackupEvent as E;
        match event {
            E::BackupRequested { backup_id, database_id, .. } => {
                self.id = Some(*backup_id);
                self.database_id = Some(*database_id);
                self.state = Some(BackupState::Pending);
            }
            E::BackupStarted { object_key, .. } => {
                self.state = Some(BackupState::Running);
                self.object_key = Some(object_key.clone());
            }
            E::BackupSucceeded { object_key, .. } => {
                self.state = Some(BackupState::Succeeded);
                self.object_key = Some(object_key.clone());
            }
            E::BackupFailed { .. } => self.state = Some(BackupState::Failed),
            E::BackupDeleted { .. } => self.state = Some(BackupState::Deleted),
            E::BackupVerificationRequested { .. } | E::BackupVerified { .. } => {}
        }
    }
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
