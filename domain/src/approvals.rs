//! SQL approvals: with approvals on for a database, a statement of a configured kind (or one
//! that cannot be classified with certainty) sent to `POST /databases/{id}/sql` is held
//! until an owner or admin other than the requester approves it — then it runs once — or
//! rejects it, or it expires. One stream per database (`approvals-<uuid>`) holds the
//! settings and every held statement; the stream's version makes "exactly once" hold: of two
//! approvals racing, one appends `StatementApproved` and the other finds it decided.
//!
//! The held statement's full text is sealed in the vault (it may carry literals that are
//! secrets); the event carries the text with constants as `$n`, for people to read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Activity, Aggregate};
use crate::{ApprovalId, DatabaseId, UserId};

/// What kinds of statement are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    Drop,
    Truncate,
    Alter,
    DeleteWithoutWhere,
    UpdateWithoutWhere,
    /// Cannot be classified with certainty (`DO`, `CALL`, a function that is not a known
    /// built-in, code being defined, text that does not parse): always held while approvals
    /// are on, whatever kinds are configured.
    Unclassified,
}

impl StatementKind {
    pub const ALL: [Self; 6] = [
        Self::Drop,
        Self::Truncate,
        Self::Alter,
        Self::DeleteWithoutWhere,
        Self::UpdateWithoutWhere,
        Self::Unclassified,
    ];
    /// The kinds a database may configure (the default set).
    pub const CONFIGURABLE: [Self; 5] =
        [Self::Drop, Self::Truncate, Self::Alter, Self::DeleteWithoutWhere, Self::UpdateWithoutWhere];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Truncate => "truncate",
            Self::Alter => "alter",
            Self::DeleteWithoutWhere => "delete_without_where",
            Self::UpdateWithoutWhere => "update_without_where",
            Self::Unclassified => "unclassified",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A database's SQL settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlSettings {
    /// Hold statements of `kinds` for approval.
    pub enabled: bool,
    pub kinds: Vec<StatementKind>,
    /// How long a held statement waits for a decision.
    pub ttl_seconds: u32,
    /// Record the statement's text (constants taken out) in the per-query audit; off keeps
    /// only its fingerprint.
    pub record_statements: bool,
}

impl Default for SqlSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            kinds: StatementKind::CONFIGURABLE.to_vec(),
            ttl_seconds: 86_400,
            record_statements: true,
        }
    }
}

impl SqlSettings {
    /// The longest a statement may be held.
    pub const MAX_TTL_SECONDS: u32 = 30 * 86_400;

    /// Whether a statement of these kinds is held.
    pub fn holds(&self, kinds: &[StatementKind]) -> bool {
        self.enabled && kinds.iter().any(|k| *k == StatementKind::Unclassified || self.kinds.contains(k))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
    Expired,
    Executed,
    Failed,
}

impl ApprovalState {
    pub const ALL: [Self; 6] =
        [Self::Pending, Self::Approved, Self::Rejected, Self::Expired, Self::Executed, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Executed => "executed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What running an approved statement came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub command: Option<String>,
    pub row_count: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ApprovalEvent {
    SqlSettingsChanged {
        database_id: DatabaseId,
        settings: SqlSettings,
    },
    StatementHeld {
        database_id: DatabaseId,
        approval_id: ApprovalId,
        /// Constants as `$n` (the full text is in the vault).
        statement: String,
        kinds: Vec<StatementKind>,
        requested_by: UserId,
        expires_at: DateTime<Utc>,
    },
    StatementApproved {
        database_id: DatabaseId,
        approval_id: ApprovalId,
        decided_by: UserId,
    },
    StatementRejected {
        database_id: DatabaseId,
        approval_id: ApprovalId,
        decided_by: UserId,
    },
    ApprovalExpired {
        database_id: DatabaseId,
        approval_id: ApprovalId,
    },
    ApprovedStatementRan {
        database_id: DatabaseId,
        approval_id: ApprovalId,
        outcome: RunOutcome,
    },
}

impl ApprovalEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::SqlSettingsChanged { .. } => "SqlSettingsChanged",
            Self::StatementHeld { .. } => "StatementHeld",
            Self::StatementApproved { .. } => "StatementApproved",
            Self::StatementRejected { .. } => "StatementRejected",
            Self::ApprovalExpired { .. } => "ApprovalExpired",
            Self::ApprovedStatementRan { .. } => "ApprovedStatementRan",
        }
    }

    pub fn database_id(&self) -> DatabaseId {
        match self {
            Self::SqlSettingsChanged { database_id, .. }
            | Self::StatementHeld { database_id, .. }
            | Self::StatementApproved { database_id, .. }
            | Self::StatementRejected { database_id, .. }
            | Self::ApprovalExpired { database_id, .. }
            | Self::ApprovedStatementRan { database_id, .. } => *database_id,
        }
    }

    pub fn activity(&self) -> Option<Activity> {
        use serde_json::json;
        let (action, details) = match self {
            Self::SqlSettingsChanged { settings, .. } => ("sql.settings", json!(settings)),
            Self::StatementHeld { approval_id, kinds, expires_at, .. } => (
                "sql.approval.request",
                json!({ "approval_id": approval_id.to_string(), "kinds": kinds, "expires_at": expires_at }),
            ),
            Self::StatementApproved { approval_id, .. } => {
                ("sql.approval.approve", json!({ "approval_id": approval_id.to_string() }))
            }
            Self::StatementRejected { approval_id, .. } => {
                ("sql.approval.reject", json!({ "approval_id": approval_id.to_string() }))
            }
            Self::ApprovalExpired { approval_id, .. } => {
                ("sql.approval.expire", json!({ "approval_id": approval_id.to_string() }))
            }
            Self::ApprovedStatementRan { approval_id, outcome, .. } => (
                "sql.approval.run",
                json!({ "approval_id": approval_id.to_string(), "command": outcome.command,
                        "row_count": outcome.row_count, "failed": outcome.error.is_some() }),
            ),
        };
        Some(Activity { action, details })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalCommand {
    Configure {
        database_id: DatabaseId,
        settings: SqlSettings,
    },
    Hold {
        database_id: DatabaseId,
        approval_id: ApprovalId,
        statement: String,
        kinds: Vec<StatementKind>,
        requested_by: UserId,
        now: DateTime<Utc>,
    },
    Decide {
        approval_id: ApprovalId,
        approve: bool,
        by: UserId,
        /// The decider may decide their own request: a database with a single owner and no
        /// admins, and the owner confirmed it (the use case checks both).
        self_decision_allowed: bool,
        now: DateTime<Utc>,
    },
    RecordRun {
        approval_id: ApprovalId,
        outcome: RunOutcome,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("no such approval")]
    NotFound,
    #[error("the approval is {0}; it can no longer be decided")]
    Decided(&'static str),
    #[error("the approval expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("a statement is approved by an owner or admin other than the one who asked for it")]
    OwnDecision,
    #[error("approvals are not enabled for this database")]
    NotEnabled,
    #[error("ttl_seconds must be between 60 and {}", SqlSettings::MAX_TTL_SECONDS)]
    BadTtl,
    #[error("the statement has already run")]
    AlreadyRan,
}

/// One held statement, as the aggregate keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub id: ApprovalId,
    pub requested_by: UserId,
    pub expires_at: DateTime<Utc>,
    pub state: ApprovalState,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvals {
    pub database_id: Option<DatabaseId>,
    pub settings: SqlSettings,
    pub held: Vec<Held>,
}

impl Approvals {
    fn held(&self, id: ApprovalId) -> Result<&Held, ApprovalError> {
        self.held.iter().find(|h| h.id == id).ok_or(ApprovalError::NotFound)
    }

    fn set(&mut self, id: ApprovalId, state: ApprovalState) {
        if let Some(h) = self.held.iter_mut().find(|h| h.id == id) {
            h.state = state;
        }
    }
}

impl Aggregate for Approvals {
    type Command = ApprovalCommand;
    type Event = ApprovalEvent;
    type Error = ApprovalError;

    fn decide(&self, command: &ApprovalCommand) -> Result<Vec<ApprovalEvent>, ApprovalError> {
        use ApprovalCommand as C;
        use ApprovalEvent as E;
        match command {
            C::Configure { database_id, settings } => {
                if !(60..=SqlSettings::MAX_TTL_SECONDS).contains(&settings.ttl_seconds) {
                    return Err(ApprovalError::BadTtl);
                }
                let mut settings = settings.clone();
                settings.kinds.retain(|k| *k != StatementKind::Unclassified);
                settings.kinds.sort();
                settings.kinds.dedup();
                if settings == self.settings && self.database_id.is_some() {
                    return Ok(vec![]);
                }
                Ok(vec![E::SqlSettingsChanged { database_id: *database_id, settings }])
            }
            C::Hold { database_id, approval_id, statement, kinds, requested_by, now } => {
                if !self.settings.enabled {
                    return Err(ApprovalError::NotEnabled);
                }
                Ok(vec![E::StatementHeld {
                    database_id: *database_id,
                    approval_id: *approval_id,
                    statement: statement.clone(),
                    kinds: kinds.clone(),
                    requested_by: *requested_by,
                    expires_at: *now + chrono::Duration::seconds(i64::from(self.settings.ttl_seconds)),
                }])
            }
            C::Decide { approval_id, approve, by, self_decision_allowed, now } => {
                let held = self.held(*approval_id)?;
                let database_id = self.database_id.ok_or(ApprovalError::NotFound)?;
                if held.state != ApprovalState::Pending {
                    return Err(ApprovalError::Decided(held.state.as_str()));
                }
                if *now >= held.expires_at {
                    // Recorded (the use case appends it and then answers `Expired`).
                    return Ok(vec![E::ApprovalExpired { database_id, approval_id: *approval_id }]);
                }
                if held.requested_by == *by && !self_decision_allowed {
                    return Err(ApprovalError::OwnDecision);
                }
                let (approval_id, decided_by) = (*approval_id, *by);
                Ok(vec![if *approve {
                    E::StatementApproved { database_id, approval_id, decided_by }
                } else {
                    E::StatementRejected { database_id, approval_id, decided_by }
                }])
            }
            C::RecordRun { approval_id, outcome } => {
                let held = self.held(*approval_id)?;
                let database_id = self.database_id.ok_or(ApprovalError::NotFound)?;
                if held.state != ApprovalState::Approved {
                    return Err(ApprovalError::AlreadyRan);
                }
                Ok(vec![E::ApprovedStatementRan { database_id, approval_id: *approval_id, outcome: outcome.clone() }])
            }
        }
    }

    fn apply(&mut self, event: &ApprovalEvent) {
        use ApprovalEvent as E;
        self.database_id = Some(event.database_id());
        match event {
            E::SqlSettingsChanged { settings, .. } => self.settings = settings.clone(),
            E::StatementHeld { approval_id, requested_by, expires_at, .. } => self.held.push(Held {
                id: *approval_id,
                requested_by: *requested_by,
                expires_at: *expires_at,
                state: ApprovalState::Pending,
            }),
            E::StatementApproved { approval_id, .. } => self.set(*approval_id, ApprovalState::Approved),
            E::StatementRejected { approval_id, .. } => self.set(*approval_id, ApprovalState::Rejected),
            E::ApprovalExpired { approval_id, .. } => self.set(*approval_id, ApprovalState::Expired),
            E::ApprovedStatementRan { approval_id, outcome, .. } => {
                let state = if outcome.error.is_some() { ApprovalState::Failed } else { ApprovalState::Executed };
                self.set(*approval_id, state)
            }
        }
    }
}

#[cfg(test)]
#[path = "approvals_tests.rs"]
mod tests;
