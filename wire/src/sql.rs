//! SQL over HTTP: running SQL, the per-query audit, approvals and their settings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /databases/{id}/sql`: exactly one of `query` and `file_content`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlBody {
    /// One statement, or several separated by `;` (then the last one's result is returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// A file's content, run as psql runs a file (many statements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_content: Option<String>,
    /// Values for `$1`, `$2`, … (one statement only); never part of the text or the audit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<serde_json::Value>,
    /// Run in a read-only transaction under the database's explorer role (always so for
    /// developers).
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SqlColumnView {
    pub name: String,
    /// PostgreSQL's type name (`int4`, `numeric`, `timestamptz`, …; `unknown` for the
    /// columns of a multi-statement text's result).
    pub data_type: String,
}

/// What a statement returned. Values keep their meaning in JSON: `numeric` and `int8` as
/// strings, `bytea` as `\x…` hex, timestamps RFC 3339, `json`/`jsonb` as JSON, arrays as arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SqlResultView {
    pub columns: Vec<SqlColumnView>,
    /// Each cell any JSON value.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Rows returned or affected (rows returned when `truncated`).
    pub row_count: u64,
    /// The command label: `SELECT`, `INSERT`, `CREATE TABLE`, …
    pub command: String,
    /// Rows past the row or byte cap were left out.
    pub truncated: bool,
}

/// 202 from `POST /databases/{id}/sql`: the statement is held for approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SqlHeldView {
    pub approval_id: String,
    /// `pending`.
    pub state: String,
}

/// One statement of the per-query audit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueryLogView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: crate::ActorView,
    /// `sql`, `explorer`, `migration`, `approval` or `data_api`.
    pub source: String,
    /// Equal for statements that differ only in their constants.
    pub fingerprint: String,
    /// The statement with its constants as `$n` (never the values); absent when the database
    /// does not record statements.
    pub statement: Option<String>,
    pub command: Option<String>,
    pub duration_ms: i64,
    pub row_count: Option<i64>,
    /// SQLSTATE or why it did not run to its end.
    pub error: Option<String>,
    /// A data-API request's key id (`dkey_…`) and its JWT's subject: who ran it when no Berth
    /// user did (`actor` is then empty).
    pub data_key_id: Option<String>,
    pub subject: Option<String>,
}

/// Filters and paging of `GET /databases/{id}/queries`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueriesQuery {
    /// `sql`, `explorer`, `migration`, `approval` or `data_api`.
    #[param(pattern = "^[a-z_]*$")]
    pub source: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    #[serde(default, deserialize_with = "crate::numbers::opt_i64")]
    pub limit: Option<i64>,
}

/// A database's SQL settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalSettingsView {
    /// Hold statements of `kinds` (and any that cannot be classified) for approval.
    pub enabled: bool,
    /// Of `drop`, `truncate`, `alter`, `delete_without_where`, `update_without_where`.
    pub kinds: Vec<String>,
    /// How long a held statement waits for a decision (60 s to 30 days).
    pub ttl_seconds: u32,
    /// Record statements' text (constants taken out) in the per-query audit.
    pub record_statements: bool,
}

/// `PUT /databases/{id}/approval-settings`: what is left out keeps its value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSettingsBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<String>>,
    /// A whole number of seconds (`60.0` is taken as 60).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::numbers::opt_u64")]
    #[schema(minimum = 60, maximum = 2592000)]
    pub ttl_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_statements: Option<bool>,
}

/// What running an approved statement came to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalResultView {
    pub command: Option<String>,
    pub row_count: Option<u64>,
    pub error: Option<String>,
}

/// A held statement.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub id: String,
    /// The statement with its constants as `$n`.
    pub statement: String,
    pub kinds: Vec<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `approved`, `rejected`, `expired`, `executed` or `failed`.
    pub state: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub result: Option<ApprovalResultView>,
}

/// `POST …/approvals/{approval_id}/approve` and `/reject`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecisionBody {
    /// The owner of a database with no admins decides their own request with `true`.
    #[serde(default)]
    pub confirm: bool,
}
