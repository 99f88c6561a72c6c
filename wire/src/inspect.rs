//! What is inside a tenant database and how it is doing.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
