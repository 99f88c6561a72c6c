//! What is inside a tenant database and how it is doing (read-only, any role on it).

use actix_web::{get, web, HttpResponse};
use domain::{DatabaseName, HostId, TenantHost};
use hostctl::inspect;

use crate::auth::Caller;
use crate::authz::{Action, DbRole};
use crate::error::{ApiError, ErrorBody};
use crate::views::Data;
use crate::{service, AppState};
pub use wire::{ColumnView, DatabaseMetricsView, SchemaView, StatementView, TableView, ViewView};

/// Inspection failed: the host did not answer, or what reaching it takes (its address, a
/// password) could not be read. The cause is logged here; the caller is told the host did not
/// answer.
fn host_error(e: &dyn std::error::Error) -> ApiError {
    tracing::warn!(error = %e, "inspecting a tenant database failed");
    ApiError::Unavailable("the database's host did not answer".into())
}

/// A text secret from the vault (a host's or a database's password).
async fn secret_text(state: &AppState, id: &str) -> Result<String, ApiError> {
    let bytes = state.store.get_secret(id).await.map_err(|e| host_error(&e))?;
    String::from_utf8(bytes).map_err(|e| host_error(&e))
}

/// The host `id` and its superuser's password.
async fn host_as_superuser(state: &AppState, id: HostId) -> Result<(TenantHost, String), ApiError> {
    let secret = hostctl::host::superuser_secret_id(id);
    tokio::try_join!(async { state.store.host(id).await.map_err(|e| host_error(&e)) }, secret_text(state, &secret))
}

/// A database that is not running has nothing to inspect.
async fn running(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(domain::HostId, DatabaseName, DbRole, domain::DatabaseId), ApiError> {
    let (db, role) = service::load_authorized(state, caller, id, Action::View).await?;
    if !db.state.is_live() {
        return Err(ApiError::Conflict(format!("the database is {}; nothing to inspect yet", db.state)));
    }
    Ok((db.host_id, db.name, role, db.id))
}

/// Size, connections, transactions, cache hit ratio and (not for viewers) top statements.
#[utoipa::path(get, path = "/api/v1/databases/{id}/metrics", operation_id = "getDatabaseMetrics", tag = "databases",
    responses((status = 200, description = "OK", body = Data<DatabaseMetricsView>), (status = 409, body = ErrorBody)))]
#[get("/databases/{id}/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (host, name, role, _) = running(&state, &caller, &id).await?;
    let (host, password) = host_as_superuser(&state, host).await?;
    let m = inspect::database_metrics(&host, &password, &name).await.map_err(|e| host_error(&e))?;
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
    let (host, name, _, db) = running(&state, &caller, &id).await?;
    // The schema is read by logging in to the database, which a stopped one refuses.
    let current = state.store.database(db).await?;
    if current.state != domain::DatabaseState::Running || current.locked_reason.is_some() {
        return Err(ApiError::Conflict(format!(
            "the database is {}; its schema can be read while it runs",
            if current.locked_reason.is_some() { "locked" } else { current.state.as_str() }
        )));
    }
    let secret = service::password_secret_id(db);
    let (host, password) = tokio::try_join!(
        async { state.store.host(host).await.map_err(|e| host_error(&e)) },
        secret_text(&state, &secret),
    )?;
    let owner = hostctl::TenantLogin::owner(&name, password);
    let s = inspect::database_schema(&host, &owner, &name).await.map_err(|e| host_error(&e))?;
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
