//! The per-query audit: every statement that runs in a tenant database through the API (SQL,
//! the explorer, migrations, approved statements; later the data API) is one `QueryRan`
//! event, on a stream of its own (`query-<uuid>`) so that concurrent requests never contend
//! for a stream version. Being events, the records are in the hash chain (`berth audit
//! verify`) and in `berth audit export`.
//!
//! What a record holds: who (the event's metadata), when, where from, how long, how many
//! rows, the error if any, a fingerprint (the same for statements that differ only in their
//! constants) and — unless the database turned it off — the statement with its constants
//! replaced by `$n` placeholders (as `pg_stat_statements` shows it). Never bound parameter
//! values, and never the literals in the text: the log is immutable and kept for ever, and a
//! literal may be a password (`ALTER ROLE … PASSWORD '…'`) or personal data.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Activity, Aggregate};
use crate::{DatabaseId, QueryId};

/// Which surface ran the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuerySource {
    /// `POST /databases/{id}/sql` as the tenant's own role.
    Sql,
    /// Read-only SQL under the database's explorer role.
    Explorer,
    Migration,
    /// A held statement, run once approved.
    Approval,
    DataApi,
}

impl QuerySource {
    pub const ALL: [Self; 5] = [Self::Sql, Self::Explorer, Self::Migration, Self::Approval, Self::DataApi];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sql => "sql",
            Self::Explorer => "explorer",
            Self::Migration => "migration",
            Self::Approval => "approval",
            Self::DataApi => "data_api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One statement's record (the event's body; the actor and time are its metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRun {
    pub query_id: QueryId,
    pub database_id: DatabaseId,
    pub source: QuerySource,
    /// Hex; equal for statements that differ only in constants.
    pub fingerprint: String,
    /// The statement with constants as `$n`; `None` when the database does not record text,
    /// or the text could not be parsed (then its constants could not be taken out).
    pub statement: Option<String>,
    /// The command label (`SELECT`, `INSERT`, `CREATE TABLE`, …) when it ran.
    pub command: Option<String>,
    pub duration_ms: u64,
    pub row_count: Option<u64>,
    /// Why it failed (the tenant's SQL error, a timeout), if it did.
    pub error: Option<String>,
    /// A data-API request's key (`dkey_…`) and the subject of its verified JWT, if any: who
    /// ran it when no Berth user did. Absent from records made before the data API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl QueryRun {
    /// Whether the statement only read: such runs are in the per-query audit but not in the
    /// activity log, which would otherwise drown in `SELECT`s.
    pub fn is_read(&self) -> bool {
        matches!(self.source, QuerySource::Explorer)
            || matches!(self.command.as_deref(), Some("SELECT" | "SHOW" | "EXPLAIN" | "VALUES" | "TABLE" | "FETCH"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QueryEvent {
    QueryRan(QueryRun),
}

impl QueryEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::QueryRan(_) => "QueryRan",
        }
    }

    pub fn database_id(&self) -> DatabaseId {
        match self {
            Self::QueryRan(run) => run.database_id,
        }
    }

    /// Statements that changed something are activity (`database.sql`); reads are only in
    /// the per-query audit.
    pub fn activity(&self) -> Option<Activity> {
        let Self::QueryRan(run) = self;
        if run.is_read() {
            return None;
        }
        Some(Activity {
            action: "database.sql",
            details: serde_json::json!({
                "query_id": run.query_id.to_string(),
                "source": run.source,
                "command": run.command,
                "fingerprint": run.fingerprint,
                "row_count": run.row_count,
                "failed": run.error.is_some(),
            }),
        })
    }
}

/// One statement's record; recorded once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryRecord {
    pub recorded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {}

impl Aggregate for QueryRecord {
    type Command = QueryRun;
    type Event = QueryEvent;
    type Error = QueryError;

    /// Recording twice (a retried append) records nothing more.
    fn decide(&self, command: &QueryRun) -> Result<Vec<QueryEvent>, QueryError> {
        if self.recorded {
            return Ok(vec![]);
        }
        Ok(vec![QueryEvent::QueryRan(command.clone())])
    }

    fn apply(&mut self, _event: &QueryEvent) {
        self.recorded = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(command: &str, source: QuerySource) -> QueryRun {
        QueryRun {
            query_id: QueryId::new(),
            database_id: DatabaseId::new(),
            source,
            fingerprint: "abc".into(),
            statement: Some("select $1".into()),
            command: Some(command.into()),
            duration_ms: 3,
            row_count: Some(1),
            error: None,
            data_key_id: None,
            subject: None,
        }
    }

    #[test]
    fn a_record_from_before_the_data_api_reads_and_writes_back_the_same() {
        let old = serde_json::json!({"query_id": QueryId::new(), "database_id": DatabaseId::new(), "source": "sql",
            "fingerprint": "f", "statement": null, "command": "SELECT", "duration_ms": 1, "row_count": 1, "error": null});
        let run: QueryRun = serde_json::from_value(old.clone()).expect("an old record reads");
        assert_eq!((run.data_key_id.as_deref(), run.subject.as_deref()), (None, None));
        assert_eq!(serde_json::to_value(&run).expect("writes"), old);
    }

    #[test]
    fn a_statement_is_recorded_once() {
        let cmd = run("SELECT", QuerySource::Sql);
        let events = QueryRecord::default().decide(&cmd).expect("decides");
        assert_eq!(events, vec![QueryEvent::QueryRan(cmd.clone())]);
        assert_eq!(QueryRecord::replay(&events).decide(&cmd), Ok(vec![]));
    }

    #[test]
    fn writes_are_activity_and_reads_are_not() {
        assert!(QueryEvent::QueryRan(run("SELECT", QuerySource::Sql)).activity().is_none());
        assert!(QueryEvent::QueryRan(run("DELETE", QuerySource::Explorer)).activity().is_none());
        let write = QueryEvent::QueryRan(run("DROP TABLE", QuerySource::Approval)).activity().expect("an entry");
        assert_eq!(write.action, "database.sql");
        assert_eq!(write.details["source"], "approval");
        assert_eq!(write.details["command"], "DROP TABLE");
    }

    #[test]
    fn sources_parse_as_they_are_spelled() {
        for s in QuerySource::ALL {
            assert_eq!(QuerySource::parse(s.as_str()), Some(s));
        }
    }
}
