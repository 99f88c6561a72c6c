//! What a user had run in their own database through the API — a migration applied, a dump
//! taken — recorded as facts for the activity log. Each record is a stream of its own
//! (`tenantsql-<uuid>`, [`crate::StreamId::tenant_sql`]), as a session's sign-in is, so that
//! these never lengthen the database's stream (which every lifecycle decision reads).
//!
//! The SQL itself never enters an event: a migration is its name and checksum, a dump whether
//! it was schema only.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Activity, Aggregate};
use crate::DatabaseId;

/// A migration's name: 1 to 200 characters, none of them a control character. It is the
/// migration's key in the tenant's `berth.schema_migrations` and shown in the activity log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MigrationName(String);

impl MigrationName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if n == 0 || n > Self::MAX_CHARS {
            return Err(format!("invalid field `name`: 1 to {} characters", Self::MAX_CHARS));
        }
        if s.chars().any(char::is_control) {
            return Err("invalid field `name`: no control characters".into());
        }
        if s.trim() != s {
            return Err("invalid field `name`: no leading or trailing whitespace".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MigrationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SHA-256 as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checksum(String);

impl Checksum {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err("invalid field `checksum`: the SHA-256 of `sql` as 64 lowercase hex digits".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSqlCommand {
    /// A migration committed in the tenant database.
    RecordMigration { database_id: DatabaseId, name: MigrationName, checksum: Checksum },
    /// A dump of the database started streaming to its requester.
    RecordDump { database_id: DatabaseId, ddl_only: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TenantSqlEvent {
    MigrationApplied { database_id: DatabaseId, name: MigrationName, checksum: Checksum },
    DatabaseDumped { database_id: DatabaseId, ddl_only: bool },
}

impl TenantSqlEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::MigrationApplied { .. } => "MigrationApplied",
            Self::DatabaseDumped { .. } => "DatabaseDumped",
        }
    }

    pub fn database_id(&self) -> DatabaseId {
        match self {
            Self::MigrationApplied { database_id, .. } | Self::DatabaseDumped { database_id, .. } => *database_id,
        }
    }

    pub fn activity(&self) -> Option<Activity> {
        Some(match self {
            Self::MigrationApplied { name, checksum, .. } => Activity {
                action: "migration.apply",
                details: serde_json::json!({ "name": name.as_str(), "checksum": checksum.as_str() }),
            },
            Self::DatabaseDumped { ddl_only, .. } => {
                Activity { action: "database.dump", details: serde_json::json!({ "ddl_only": ddl_only }) }
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantSqlError {
    #[error("this record was already written")]
    AlreadyRecorded,
}

/// One record: written once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSql {
    pub recorded: bool,
}

impl Aggregate for TenantSql {
    type Command = TenantSqlCommand;
    type Event = TenantSqlEvent;
    type Error = TenantSqlError;

    fn decide(&self, command: &TenantSqlCommand) -> Result<Vec<TenantSqlEvent>, TenantSqlError> {
        if self.recorded {
            return Err(TenantSqlError::AlreadyRecorded);
        }
        Ok(vec![match command {
            TenantSqlCommand::RecordMigration { database_id, name, checksum } => TenantSqlEvent::MigrationApplied {
                database_id: *database_id,
                name: name.clone(),
                checksum: checksum.clone(),
            },
            TenantSqlCommand::RecordDump { database_id, ddl_only } => {
                TenantSqlEvent::DatabaseDumped { database_id: *database_id, ddl_only: *ddl_only }
            }
        }])
    }

    fn apply(&mut self, _: &TenantSqlEvent) {
        self.recorded = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_printable_text() {
        assert!(MigrationName::parse("0001_create users (v2)").is_ok());
        assert!(MigrationName::parse("").is_err());
        assert!(MigrationName::parse(&"x".repeat(201)).is_err());
        assert!(MigrationName::parse(&"é".repeat(200)).is_ok());
        assert!(MigrationName::parse("a\nb").is_err());
        assert!(MigrationName::parse("a\u{0}").is_err());
        assert!(MigrationName::parse(" a").is_err());
    }

    #[test]
    fn checksums_are_lowercase_sha256_hex() {
        assert!(Checksum::parse(&"a".repeat(64)).is_ok());
        assert!(Checksum::parse(&"A".repeat(64)).is_err());
        assert!(Checksum::parse(&"a".repeat(63)).is_err());
        assert!(Checksum::parse(&"g".repeat(64)).is_err());
    }

    #[test]
    fn a_record_is_written_once_and_never_holds_sql() {
        let cmd = TenantSqlCommand::RecordMigration {
            database_id: DatabaseId::new(),
            name: MigrationName::parse("0001").expect("a name"),
            checksum: Checksum::parse(&"0".repeat(64)).expect("a checksum"),
        };
        let events = TenantSql::default().decide(&cmd).expect("records");
        let activity = events[0].activity().expect("in the activity log");
        assert_eq!(activity.action, "migration.apply");
        assert_eq!(activity.details["name"], "0001");
        let given = TenantSql::replay(&events);
        assert_eq!(given.decide(&cmd), Err(TenantSqlError::AlreadyRecorded));
        let dump = TenantSqlCommand::RecordDump { database_id: DatabaseId::new(), ddl_only: true };
        let events = TenantSql::default().decide(&dump).expect("records");
        assert_eq!(events[0].activity().expect("logged").details, serde_json::json!({"ddl_only": true}));
    }
}
