//! The database aggregate: one tenant database's lifecycle as events.
//!
//! ```text
//! provisioning ──provisioned──▶ running ──delete──▶ deleting ──deleted──▶ deleted
//!      │                                              ▲  │
//!      └──failed──▶ failed ──────────delete───────────┘  └──failed──▶ failed
//! ```
//!
//! Lifecycle (stop, start, restart) and password resets are operations on a running or
//! stopped database: the state changes only when the job reports the host changed
//! (`DatabaseStopped` → `stopped`, `DatabaseStarted` → `running`), and while one is in
//! progress no other is accepted. A lifecycle operation that fails for good leaves the state
//! at its last confirmed value (the host may be half-changed; every step is idempotent, so
//! asking again converges) and does not fail the database.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Activity, Aggregate};
use crate::{AccountId, BackupId, DatabaseId, DatabaseName, HostId, OperationId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseState {
    Provisioning,
    Running,
    Stopped,
    Deleting,
    Deleted,
    Failed,
}

impl DatabaseState {
    pub const ALL: [Self; 6] =
        [Self::Provisioning, Self::Running, Self::Stopped, Self::Deleting, Self::Deleted, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Running or stopped: the database exists on its host, and no provisioning or deletion
    /// is under way.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Running | Self::Stopped)
    }
}

/// The engine a database runs on, as API.md names them. A deployment enables some of them
/// (PostgreSQL always; MariaDB when configured); MongoDB has no server to run here (README,
/// "Engines") and is never enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Postgres,
    MariaDb,
    MongoDb,
}

impl Engine {
    pub const ALL: [Self; 3] = [Self::Postgres, Self::MariaDb, Self::MongoDb];

    /// The scheme of its connection strings.
    pub fn url_scheme(self) -> &'static str {
        match self {
            Self::Postgres => "postgresql",
            Self::MariaDb => "mysql",
            Self::MongoDb => "mongodb",
        }
    }

    /// A connection string for `login` on database `name` at `host:port`. PostgreSQL's
    /// goes through the pooler, which speaks TLS with a certificate of the platform's CA and
    /// requires it beyond loopback: there the string asks libpq to verify it
    /// (`sslmode=verify-full`; the CA is at `GET /api/v1/ca.pem`, `berth ca --install` puts it
    /// where libpq looks). On loopback TLS is offered, not required, and the string is plain.
    pub fn connection_url(self, login: &str, password: &str, host: &str, port: u16, name: &str) -> String {
        let url = format!("{}://{login}:{password}@{host}:{port}/{name}", self.url_scheme());
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if self == Self::Postgres && !loopback {
            format!("{url}?sslmode=verify-full")
        } else {
            url
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::MariaDb => "mariadb",
            Self::MongoDb => "mongodb",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What an operation (an `operations` row, `GET /operations/{id}`) does. The database
/// aggregate's own are provision, delete and the maintenance kinds; a backup and its
/// verification are operations of the backup aggregate, on the same database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Provision,
    Delete,
    Stop,
    Start,
    Restart,
    ResetPassword,
    Backup,
    VerifyBackup,
    /// An operator moves the database to another host (`database_move`).
    Move,
}

impl OperationKind {
    pub const ALL: [Self; 9] = [
        Self::Provision,
        Self::Delete,
        Self::Stop,
        Self::Start,
        Self::Restart,
        Self::ResetPassword,
        Self::Backup,
        Self::VerifyBackup,
        Self::Move,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Delete => "delete",
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Restart => "restart",
            Self::ResetPassword => "reset_password",
            Self::Backup => "backup",
            Self::VerifyBackup => "verify_backup",
            Self::Move => "move",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Operations on a live database that do not decide whether it exists (a move's
    /// failure leaves the database where it was, as a failed restart leaves it running).
    pub fn is_maintenance(self) -> bool {
        matches!(self, Self::Stop | Self::Start | Self::Restart | Self::ResetPassword | Self::Move)
    }
}

/// Where an operation is: requested (`pending`), its job started (`running`), or finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationState {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl OperationState {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Running, Self::Succeeded, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// What a new database starts with, when not empty: a backup restored into it, or a copy of
/// another database's current state (a branch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DatabaseSource {
    Backup { backup_id: BackupId },
    Branch { database_id: DatabaseId },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseCommand {
    Create {
        id: DatabaseId,
        name: DatabaseName,
        account_id: AccountId,
        host_id: HostId,
        operation_id: OperationId,
        source: Option<DatabaseSource>,
        /// The engine of the host it is placed on.
        engine: Engine,
    },
    StartAttempt {
        operation_id: OperationId,
        attempt: u32,
    },
    MarkProvisioned {
        operation_id: OperationId,
    },
    RequestDeletion {
        operation_id: OperationId,
    },
    MarkDeleted {
        operation_id: OperationId,
    },
    MarkFailed {
        operation_id: OperationId,
        error: String,
    },
    /// Stop, start, restart or reset the password: `kind` must be a maintenance kind.
    RequestMaintenance {
        operation_id: OperationId,
        kind: OperationKind,
    },
    /// The job finished a maintenance operation on the host.
    CompleteMaintenance {
        operation_id: OperationId,
    },
    /// Settles an operation the database no longer has as its current one but that was never
    /// recorded as finished (its job can no longer act on it): the reconciler of stuck
    /// operations uses it. The current operation cannot be abandoned (fail it instead).
    AbandonOperation {
        operation_id: OperationId,
        reason: String,
    },
    /// The reconciler of stuck operations queues the database's current operation's job again
    /// (the `requeue`th time): its job was lost.
    RequeueOperation {
        operation_id: OperationId,
        requeue: u32,
    },
    /// The platform locks a running database (see `database_lock`): no client connects
    /// until it is unlocked.
    Lock {
        reason: LockReason,
    },
    /// The reason for the lock is gone.
    Unlock,
    /// An operator moves the database to host `to` (see `database_move`).
    RequestMove {
        operation_id: OperationId,
        to: HostId,
    },
    /// The copy on the new host is complete and checked: the database is served from there.
    SwitchHost {
        operation_id: OperationId,
    },
    /// The old host's copy is gone and clients reach the new one: the move is done.
    CompleteMove {
        operation_id: OperationId,
    },
}

/// Facts about a database, past tense. `schema_version` 1 for all of them so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DatabaseEvent {
    DatabaseCreationRequested {
        database_id: DatabaseId,
        name: DatabaseName,
        account_id: AccountId,
        host_id: HostId,
        operation_id: OperationId,
        engine: String,
        /// Absent in events written before restores and branches existed: an empty database.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<DatabaseSource>,
    },
    OperationAttemptStarted {
        database_id: DatabaseId,
        operation_id: OperationId,
        attempt: u32,
    },
    DatabaseProvisioned {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    DatabaseDeletionRequested {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    DatabaseDeleted {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    OperationFailed {
        database_id: DatabaseId,
        operation_id: OperationId,
        kind: OperationKind,
        error: String,
    },
    DatabaseStopRequested {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    DatabaseStopped {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    DatabaseStartRequested {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    DatabaseStarted {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    DatabaseRestartRequested {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    DatabaseRestarted {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    /// A new password was generated: sealed in the vault and its SCRAM verifier stored
    /// beside the event (never in it).
    PasswordResetRequested {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    /// PostgreSQL and PgBouncer accept the new password and no longer the old one.
    PasswordReset {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    /// The platform locked the database: PgBouncer and PostgreSQL refuse its clients.
    DatabaseLocked {
        database_id: DatabaseId,
        reason: LockReason,
    },
    /// The lock was lifted: clients may connect again.
    DatabaseUnlocked {
        database_id: DatabaseId,
    },
    /// An operation that is no longer the database's current one, and that nothing can
    /// finish any more, ends as failed with `reason`. The database itself does not change.
    OperationAbandoned {
        database_id: DatabaseId,
        operation_id: OperationId,
        reason: String,
    },
    /// The current operation's job was lost and is queued again (the `requeue`th time);
    /// nothing else changes.
    OperationRequeued {
        database_id: DatabaseId,
        operation_id: OperationId,
        requeue: u32,
    },
    /// An operator asked for the database to be moved from one host to another.
    DatabaseMoveRequested {
        database_id: DatabaseId,
        operation_id: OperationId,
        from_host_id: HostId,
        to_host_id: HostId,
    },
    /// The database is now served from `to_host_id` (its copy there complete and checked);
    /// the old host's pooler forwards the clients that still come to it.
    DatabaseHostSwitched {
        database_id: DatabaseId,
        operation_id: OperationId,
        from_host_id: HostId,
        to_host_id: HostId,
    },
    /// The move finished: the old host holds no copy any more.
    DatabaseMoved {
        database_id: DatabaseId,
        operation_id: OperationId,
        from_host_id: HostId,
        to_host_id: HostId,
    },
}

impl DatabaseEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::DatabaseCreationRequested { .. } => "DatabaseCreationRequested",
            Self::OperationAttemptStarted { .. } => "OperationAttemptStarted",
            Self::DatabaseProvisioned { .. } => "DatabaseProvisioned",
            Self::DatabaseDeletionRequested { .. } => "DatabaseDeletionRequested",
            Self::DatabaseDeleted { .. } => "DatabaseDeleted",
            Self::OperationFailed { .. } => "OperationFailed",
            Self::DatabaseStopRequested { .. } => "DatabaseStopRequested",
            Self::DatabaseStopped { .. } => "DatabaseStopped",
            Self::DatabaseStartRequested { .. } => "DatabaseStartRequested",
            Self::DatabaseStarted { .. } => "DatabaseStarted",
            Self::DatabaseRestartRequested { .. } => "DatabaseRestartRequested",
            Self::DatabaseRestarted { .. } => "DatabaseRestarted",
            Self::PasswordResetRequested { .. } => "PasswordResetRequested",
            Self::PasswordReset { .. } => "PasswordReset",
            Self::DatabaseLocked { .. } => "DatabaseLocked",
            Self::DatabaseUnlocked { .. } => "DatabaseUnlocked",
            Self::OperationAbandoned { .. } => "OperationAbandoned",
            Self::OperationRequeued { .. } => "OperationRequeued",
            Self::DatabaseMoveRequested { .. } => "DatabaseMoveRequested",
            Self::DatabaseHostSwitched { .. } => "DatabaseHostSwitched",
            Self::DatabaseMoved { .. } => "DatabaseMoved",
        }
    }

    pub fn database_id(&self) -> DatabaseId {
        match self {
            Self::DatabaseCreationRequested { database_id, .. }
            | Self::OperationAttemptStarted { database_id, .. }
            | Self::DatabaseProvisioned { database_id, .. }
            | Self::DatabaseDeletionRequested { database_id, .. }
            | Self::DatabaseDeleted { database_id, .. }
            | Self::OperationFailed { database_id, .. }
            | Self::DatabaseStopRequested { database_id, .. }
            | Self::DatabaseStopped { database_id, .. }
            | Self::DatabaseStartRequested { database_id, .. }
            | Self::DatabaseStarted { database_id, .. }
            | Self::DatabaseRestartRequested { database_id, .. }
            | Self::DatabaseRestarted { database_id, .. }
            | Self::PasswordResetRequested { database_id, .. }
            | Self::PasswordReset { database_id, .. }
            | Self::DatabaseLocked { database_id, .. }
            | Self::OperationAbandoned { database_id, .. }
            | Self::OperationRequeued { database_id, .. }
            | Self::DatabaseMoveRequested { database_id, .. }
            | Self::DatabaseHostSwitched { database_id, .. }
            | Self::DatabaseMoved { database_id, .. }
            | Self::DatabaseUnlocked { database_id } => *database_id,
        }
    }

    /// The activity-log entry this event is, if users should see it.
    pub fn activity(&self) -> Option<Activity> {
        match self {
            Self::DatabaseCreationRequested { engine, source: None, .. } => {
                Some(Activity { action: "database.create", details: serde_json::json!({ "engine": engine }) })
            }
            Self::DatabaseCreationRequested { engine, source: Some(DatabaseSource::Backup { backup_id }), .. } => {
                Some(Activity {
                    action: "database.restore",
                    details: serde_json::json!({ "engine": engine, "backup_id": backup_id.to_string() }),
                })
            }
            Self::DatabaseCreationRequested {
                engine, source: Some(DatabaseSource::Branch { database_id }), ..
            } => Some(Activity {
                action: "database.branch",
                details: serde_json::json!({ "engine": engine, "source_database_id": database_id.to_string() }),
            }),
            Self::DatabaseDeletionRequested { .. } => {
                Some(Activity { action: "database.delete", details: serde_json::json!({}) })
            }
            Self::DatabaseStopRequested { .. } => {
                Some(Activity { action: "database.stop", details: serde_json::json!({}) })
            }
            Self::DatabaseStartRequested { .. } => {
                Some(Activity { action: "database.start", details: serde_json::json!({}) })
            }
            Self::DatabaseRestartRequested { .. } => {
                Some(Activity { action: "database.restart", details: serde_json::json!({}) })
            }
            Self::PasswordResetRequested { .. } => {
                Some(Activity { action: "database.reset_password", details: serde_json::json!({}) })
            }
            Self::DatabaseLocked { reason, .. } => {
                Some(Activity { action: "database.lock", details: serde_json::json!({ "reason": reason.as_str() }) })
            }
            Self::DatabaseUnlocked { .. } => {
                Some(Activity { action: "database.unlock", details: serde_json::json!({}) })
            }
            Self::DatabaseMoveRequested { from_host_id, to_host_id, .. } => Some(Activity {
                action: "database.move",
                details: serde_json::json!({
                    "from_host_id": from_host_id.to_string(),
                    "to_host_id": to_host_id.to_string(),
                }),
            }),
            _ => None,
        }
    }
}

/// The error of a maintenance operation that a deletion overtook.
pub const SUPERSEDED_BY_DELETION: &str = "the database was deleted before this operation could run";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseError {
    #[error("the database already exists")]
    AlreadyExists,
    #[error("the database is on that host already")]
    AlreadyThere,
    #[error("no such database")]
    NotFound,
    #[error("the database is {state:?}; cannot {action}")]
    WrongState { state: DatabaseState, action: &'static str },
    #[error("operation is not the database's current operation")]
    StaleOperation,
    #[error("another operation ({0:?}) is in progress on the database")]
    Busy(OperationKind),
    #[error("the database is locked ({reason:?}); cannot {action} it")]
    Locked { reason: LockReason, action: &'static str },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Database {
    pub id: Option<DatabaseId>,
    pub name: Option<DatabaseName>,
    pub state: Option<DatabaseState>,
    pub operation: Option<(OperationId, OperationKind)>,
    /// Set while the platform holds the database locked.
    pub locked: Option<LockReason>,
    /// The host serving it (absent before creation).
    pub host: Option<HostId>,
    /// The hosts a move under way takes it from and to.
    pub moving: Option<(HostId, HostId)>,
}

impl Database {
    fn current_op(&self, op: OperationId) -> Result<(DatabaseId, OperationKind), DatabaseError> {
        let id = self.id.ok_or(DatabaseError::NotFound)?;
        match self.operation {
            Some((current, kind)) if current == op => Ok((id, kind)),
            _ => Err(DatabaseError::StaleOperation),
        }
    }

    fn expect_state(&self, want: &[DatabaseState], action: &'static str) -> Result<(), DatabaseError> {
        let state = self.state.ok_or(DatabaseError::NotFound)?;
        if want.contains(&state) {
            Ok(())
        } else {
            Err(DatabaseError::WrongState { state, action })
        }
    }
}

impl Aggregate for Database {
    type Command = DatabaseCommand;
    type Event = DatabaseEvent;
    type Error = DatabaseError;

    fn decide(&self, command: &DatabaseCommand) -> Result<Vec<DatabaseEvent>, DatabaseError> {
        use DatabaseCommand as C;
        use DatabaseEvent as E;
        use DatabaseState as S;
        match command {
            C::Create { id, name, account_id, host_id, operation_id, source, engine } => {
                if self.id.is_some() {
                    return Err(DatabaseError::AlreadyExists);
                }
                Ok(vec![E::DatabaseCreationRequested {
                    database_id: *id,
                    name: name.clone(),
                    account_id: *account_id,
                    host_id: *host_id,
                    operation_id: *operation_id,
                    engine: engine.as_str().into(),
                    source: *source,
                }])
            }
            C::StartAttempt { operation_id, attempt } => {
                let (database_id, kind) = self.current_op(*operation_id)?;
                if !kind.is_maintenance() {
                    self.expect_state(&[S::Provisioning, S::Deleting], "work on")?;
                }
                Ok(vec![E::OperationAttemptStarted { database_id, operation_id: *operation_id, attempt: *attempt }])
            }
            C::MarkProvisioned { operation_id } => {
                let (database_id, _) = self.current_op(*operation_id)?;
                self.expect_state(&[S::Provisioning], "mark provisioned")?;
                Ok(vec![E::DatabaseProvisioned { database_id, operation_id: *operation_id }])
            }
            C::RequestDeletion { operation_id } => {
                let database_id = self.id.ok_or(DatabaseError::NotFound)?;
                self.expect_state(&[S::Running, S::Stopped, S::Failed], "delete")?;
                // A move holds copies on two hosts until it ends: it finishes (or fails and
                // cleans up) first.
                if let Some((_, OperationKind::Move)) = self.operation {
                    return Err(DatabaseError::Busy(OperationKind::Move));
                }
                // A stop, start, restart or password reset still under way is settled first:
                // its job will find it is no longer the database's operation and do nothing,
                // so it would otherwise stay pending for ever.
                let mut events = Vec::with_capacity(2);
                if let Some((superseded, kind)) = self.operation.filter(|(_, k)| k.is_maintenance()) {
                    events.push(E::OperationFailed {
                        database_id,
                        operation_id: superseded,
                        kind,
                        error: SUPERSEDED_BY_DELETION.into(),
                    });
                }
                events.push(E::DatabaseDeletionRequested { database_id, operation_id: *operation_id });
                Ok(events)
            }
            C::MarkDeleted { operation_id } => {
                let (database_id, _) = self.current_op(*operation_id)?;
                self.expect_state(&[S::Deleting], "mark deleted")?;
                Ok(vec![E::DatabaseDeleted { database_id, operation_id: *operation_id }])
            }
            C::MarkFailed { operation_id, error } => {
                let (database_id, kind) = self.current_op(*operation_id)?;
                if !kind.is_maintenance() {
                    self.expect_state(&[S::Provisioning, S::Deleting], "fail")?;
                }
                Ok(vec![E::OperationFailed { database_id, operation_id: *operation_id, kind, error: error.clone() }])
            }
            C::RequestMaintenance { operation_id, kind } => self.request_maintenance(*operation_id, *kind),
            C::AbandonOperation { operation_id, reason } => {
                let database_id = self.id.ok_or(DatabaseError::NotFound)?;
                if let Some((current, kind)) = self.operation {
                    if current == *operation_id {
                        return Err(DatabaseError::Busy(kind));
                    }
                }
                Ok(vec![E::OperationAbandoned { database_id, operation_id: *operation_id, reason: reason.clone() }])
            }
            C::RequeueOperation { operation_id, requeue } => {
                let (database_id, _) = self.current_op(*operation_id)?;
                Ok(vec![E::OperationRequeued { database_id, operation_id: *operation_id, requeue: *requeue }])
            }
            C::RequestMove { operation_id, to } => self.request_move(*operation_id, *to),
            C::SwitchHost { operation_id } => self.switch_host(*operation_id),
            C::CompleteMove { operation_id } => self.complete_move(*operation_id),
            C::Lock { reason } => self.lock(*reason),
            C::Unlock => self.unlock(),
            C::CompleteMaintenance { operation_id } => {
                let (database_id, kind) = self.current_op(*operation_id)?;
                let operation_id = *operation_id;
                Ok(vec![match kind {
                    OperationKind::Stop => E::DatabaseStopped { database_id, operation_id },
                    OperationKind::Start => E::DatabaseStarted { database_id, operation_id },
                    OperationKind::Restart => E::DatabaseRestarted { database_id, operation_id },
                    OperationKind::ResetPassword => E::PasswordReset { database_id, operation_id },
                    OperationKind::Provision
                    | OperationKind::Delete
                    | OperationKind::Backup
                    | OperationKind::VerifyBackup
                    | OperationKind::Move => return Err(DatabaseError::StaleOperation),
                }])
            }
        }
    }

    fn apply(&mut self, event: &DatabaseEvent) {
        use DatabaseEvent as E;
        match event {
            E::DatabaseCreationRequested { database_id, name, operation_id, host_id, .. } => {
                self.id = Some(*database_id);
                self.host = Some(*host_id);
                self.name = Some(name.clone());
                self.state = Some(DatabaseState::Provisioning);
                self.operation = Some((*operation_id, OperationKind::Provision));
            }
            E::OperationAttemptStarted { .. } => {}
            E::DatabaseProvisioned { .. } => {
                self.state = Some(DatabaseState::Running);
                self.operation = None;
            }
            E::DatabaseDeletionRequested { operation_id, .. } => {
                self.state = Some(DatabaseState::Deleting);
                self.operation = Some((*operation_id, OperationKind::Delete));
            }
            E::DatabaseDeleted { .. } => {
                self.state = Some(DatabaseState::Deleted);
                self.operation = None;
            }
            E::OperationFailed { kind, .. } => {
                if !kind.is_maintenance() {
                    self.state = Some(DatabaseState::Failed);
                }
                self.operation = None;
                self.moving = None;
            }
            E::DatabaseMoveRequested { operation_id, from_host_id, to_host_id, .. } => {
                self.operation = Some((*operation_id, OperationKind::Move));
                self.moving = Some((*from_host_id, *to_host_id));
            }
            E::DatabaseHostSwitched { to_host_id, .. } => self.host = Some(*to_host_id),
            E::DatabaseMoved { .. } => {
                self.operation = None;
                self.moving = None;
            }
            E::DatabaseStopRequested { .. }
            | E::DatabaseStartRequested { .. }
            | E::DatabaseRestartRequested { .. }
            | E::PasswordResetRequested { .. } => self.operation = event.requested_maintenance(),
            E::DatabaseStopped { .. } => {
                self.state = Some(DatabaseState::Stopped);
                self.operation = None;
            }
            E::DatabaseStarted { .. } => {
                self.state = Some(DatabaseState::Running);
                self.operation = None;
            }
            E::DatabaseRestarted { .. } | E::PasswordReset { .. } => self.operation = None,
            E::DatabaseLocked { reason, .. } => self.locked = Some(*reason),
            E::DatabaseUnlocked { .. } => self.locked = None,
            E::OperationAbandoned { .. } | E::OperationRequeued { .. } => {}
        }
    }
}

#[path = "database_maintenance.rs"]
mod maintenance;

#[path = "database_lock.rs"]
mod lock;

#[path = "database_move.rs"]
mod moving;
pub use lock::{storage_over_quota, LockReason};

#[cfg(test)]
#[path = "database_tests.rs"]
mod tests;

#[cfg(test)]
mod connection_url_tests {
    use super::Engine;

    #[test]
    fn postgresql_beyond_loopback_asks_for_a_verified_tls_connection() {
        let url = |engine: Engine, host: &str| engine.connection_url("shop", "pw", host, 6432, "shop");
        assert_eq!(url(Engine::Postgres, "127.0.0.1"), "postgresql://shop:pw@127.0.0.1:6432/shop");
        assert_eq!(url(Engine::Postgres, "localhost"), "postgresql://shop:pw@localhost:6432/shop");
        assert_eq!(url(Engine::Postgres, "10.0.0.5"), "postgresql://shop:pw@10.0.0.5:6432/shop?sslmode=verify-full");
        assert_eq!(
            url(Engine::Postgres, "db.example.com"),
            "postgresql://shop:pw@db.example.com:6432/shop?sslmode=verify-full"
        );
        assert_eq!(url(Engine::MariaDb, "10.0.0.5"), "mysql://shop:pw@10.0.0.5:6432/shop");
    }
}
