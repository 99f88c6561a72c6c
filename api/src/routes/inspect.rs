//! What is inside a tenant database and how it is doing (read-only, any role on it).

use actix_web::{get, web, HttpResponse};
use control::authz::DbRole;
use control::inspect;
use control::observability as observe;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::views::Data;
use crate::AppState;
pub use wire::{
    ColumnView, DatabaseMetricsView, MetricsPointView, MetricsQuery, ObservabilitySummaryView, ObservabilityView,
    SchemaView, StatementSampleView, StatementView, TableView, ViewView,
};

/// Size, connections, transactions, cache hit ratio, (not for viewers) top statements, and
/// the history since `since` (one point per minute, a day at most).
#[utoipa::path(get, path = "/api/v1/databases/{id}/metrics", operation_id = "getDatabaseMetrics", tag = "databases",
    params(MetricsQuery),
    responses((status = 200, description = "OK", body = Data<DatabaseMetricsView>), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[get("/databases/{id}/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: crate::body::Query<MetricsQuery>,
) -> Result<HttpResponse, ApiError> {
    let since = q.0.since.unwrap_or_else(|| chrono::Utc::now() - chrono::Duration::hours(1));
    let ((m, role), history) = tokio::try_join!(
        inspect::metrics(&state.control, &caller, &id),
        observe::history(&state.control, &caller, &id, since),
    )?;
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
        history: history
            .into_iter()
            .map(|p| MetricsPointView {
                at: p.at,
                tps: p.tps,
                latency_avg_ms: p.latency_avg_ms,
                active_connections: p.active_connections,
                size_bytes: p.size_bytes,
            })
            .collect(),
    };
    Ok(HttpResponse::Ok().json(Data { data: view }))
}

/// How the database is doing (DB9's shape): transactions per second and mean latency over
/// the last minute, an estimated p99, sessions running a statement, storage; and (not for
/// viewers) the tenant's statements by total time. The platform's own statements (backups,
/// checksums, inspection) are never among them.
#[utoipa::path(get, path = "/api/v1/databases/{id}/observability", operation_id = "getDatabaseObservability", tag = "databases",
    responses((status = 200, description = "OK", body = Data<ObservabilityView>), (status = 409, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody), (status = 503, body = ErrorBody)))]
#[get("/databases/{id}/observability")]
pub async fn observability(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let o = observe::observe(&state.control, &caller, &id).await?;
    let s = o.summary;
    let view = ObservabilityView {
        summary: ObservabilitySummaryView {
            tps: s.tps,
            latency_avg_ms: s.latency_avg_ms,
            latency_p99_ms: s.latency_p99_ms,
            active_connections: s.active_connections,
            database_storage_bytes: s.database_storage_bytes,
        },
        samples: o.samples.map(|samples| {
            samples
                .into_iter()
                .map(|x| StatementSampleView {
                    query: x.query,
                    sample_count: x.sample_count,
                    error_count: x.error_count,
                    latency_avg_ms: x.latency_avg_ms,
                    latency_p99_ms: x.latency_p99_ms,
                    latency_max_ms: x.latency_max_ms,
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
