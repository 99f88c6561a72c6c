//! What is inside a tenant database and how it is doing (read-only, any role on it).

use actix_web::{get, web, HttpResponse};
use control::authz::DbRole;
use control::inspect;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::views::Data;
use crate::AppState;
pub use wire::{ColumnView, DatabaseMetricsView, SchemaView, StatementView, TableView, ViewView};

/// Size, connections, transactions, cache hit ratio and (not for viewers) top statements.
#[utoipa::path(get, path = "/api/v1/databases/{id}/metrics", operation_id = "getDatabaseMetrics", tag = "databases",
    responses((status = 200, description = "OK", body = Data<DatabaseMetricsView>), (status = 409, body = ErrorBody)))]
#[get("/databases/{id}/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (m, role) = inspect::metrics(&state.control, &caller, &id).await?;
    let available = m.top_statements.is_some();
    let statements = m.top_statements.unwrap_or_default();
    let view = DatabaseMetricsView {
        size_bytes: m.size_bytes,
        active_connections: m.active_connections,
        transactions_committed: m.transactions_committed,
        transactions_rolled_back: m.transactions_rolled_back,
        cache_hit_ratio: m.cache_hit_ratio,
        statements_available: available,
        // Statement text is the owner's queries (and the literals in them): the credentials row.
        top_statements: (role >= DbRole::Developer).then(|| {
            statements
                .into_iter()
                .map(|s| StatementView {
                    query: s.query,
                    calls: s.calls,
                    total_ms: s.total_ms,
                    mean_ms: s.mean_ms,
                    rows: s.rows,
                })
                .collect()
        }),
    };
    Ok(HttpResponse::Ok().json(Data { data: view }))
}

/// Tables with their columns and types, and views.
#[utoipa::path(get, path = "/api/v1/databases/{id}/schema", operation_id = "getDatabaseSchema", tag = "databases",
    responses((status = 200, description = "OK", body = Data<SchemaView>), (status = 409, body = ErrorBody)))]
#[get("/databases/{id}/schema")]
pub async fn schema(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = inspect::schema(&state.control, &caller, &id).await?;
    let view = SchemaView {
        tables: s
            .tables
            .into_iter()
            .map(|t| TableView {
                schema: t.schema,
                name: t.name,
                columns: t
                    .columns
                    .into_iter()
                    .map(|c| ColumnView { name: c.name, data_type: c.data_type, nullable: c.nullable })
                    .collect(),
            })
            .collect(),
        views: s.views.into_iter().map(|v| ViewView { schema: v.schema, name: v.name }).collect(),
    };
    Ok(HttpResponse::Ok().json(Data { data: view }))
}
