//! What is inside a tenant database and how it is doing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementView {
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DatabaseMetricsView {
    pub size_bytes: i64,
    pub active_connections: i64,
    pub transactions_committed: i64,
    pub transactions_rolled_back: i64,
    pub cache_hit_ratio: Option<f64>,
    /// Whether the host records statement statistics (pg_stat_statements).
    pub statements_available: bool,
    /// The busiest statements, with their text: for owners, admins and developers (the roles
    /// that may see credentials); `null` for viewers, who get the numbers above only.
    pub top_statements: Option<Vec<StatementView>>,
    /// One point per sample since `since` (the worker samples every database once a
    /// minute and keeps a day), oldest first; rates are since the point before.
    pub history: Vec<MetricsPointView>,
}

/// `GET /databases/{id}/metrics?since=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MetricsQuery {
    /// The history starts here (default: an hour ago; at most 24 hours back).
    pub since: Option<DateTime<Utc>>,
}

/// A database at one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricsPointView {
    pub at: DateTime<Utc>,
    /// Transactions per second since the point before (`null` for the first point and after
    /// a statistics reset).
    pub tps: Option<f64>,
    /// Mean execution time of the tenant's statements since the point before (`null` when
    /// none ran).
    pub latency_avg_ms: Option<f64>,
    pub active_connections: i64,
    pub size_bytes: i64,
}

/// `GET /databases/{id}/observability`: DB9's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ObservabilityView {
    pub summary: ObservabilitySummaryView,
    /// The tenant's statements by total time (normalised text, constants as `$n`): for
    /// owners, admins and developers; `null` for viewers and when the host does not record
    /// statements.
    pub samples: Option<Vec<StatementSampleView>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ObservabilitySummaryView {
    /// Transactions per second over the last minute (`null` until the database has been
    /// sampled once).
    pub tps: Option<f64>,
    /// Mean execution time of the tenant's statements over the last minute.
    pub latency_avg_ms: Option<f64>,
    /// An estimate (PostgreSQL keeps no histogram): the 99th percentile over all calls of
    /// per-statement estimates (mean + 2.326 σ, never above the maximum).
    pub latency_p99_ms: Option<f64>,
    pub active_connections: i64,
    pub database_storage_bytes: i64,
}

/// One normalised statement of the tenant's roles (the platform's own are never counted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatementSampleView {
    pub query: String,
    /// Calls since the host's statistics were reset.
    pub sample_count: i64,
    /// Failures seen through Berth's own routes (SQL over HTTP, the data API): PostgreSQL
    /// does not count a statement that failed.
    pub error_count: i64,
    pub latency_avg_ms: f64,
    /// Estimated as mean + 2.326 σ, never above the maximum.
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ColumnView {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TableView {
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ViewView {
    pub schema: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SchemaView {
    pub tables: Vec<TableView>,
    pub views: Vec<ViewView>,
}
