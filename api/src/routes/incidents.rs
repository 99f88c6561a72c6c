//! System incidents, for platform admins only. Separate from the activity log: incidents are
//! what the platform saw break, not what an actor did.

use actix_web::{get, post, web, HttpResponse};
use control::reads;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::views::{Data, Page};
use crate::AppState;
pub use wire::{IncidentQuery, IncidentResource, IncidentView};

/// System incidents, newest first.
#[utoipa::path(get, path = "/api/v1/admin/incidents", operation_id = "listIncidents", params(IncidentQuery), tag = "incidents",
    responses((status = 200, description = "OK", body = Page<IncidentView>), (status = 403, body = ErrorBody)))]
#[get("/admin/incidents")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: crate::body::Query<IncidentQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.0;
    let query =
        reads::IncidentQuery { state: q.state, kind: q.kind, resource: q.resource, cursor: q.cursor, limit: q.limit };
    let page = reads::incidents(&state.control, &caller, query).await?;
    let data = page.rows.into_iter().map(crate::views::incident_view).collect();
    Ok(HttpResponse::Ok().json(Page { data, next_cursor: page.next_cursor }))
}

/// Resolve an incident (resolving a resolved one is a no-op).
#[utoipa::path(post, path = "/api/v1/admin/incidents/{id}/resolve", operation_id = "resolveIncident", tag = "incidents",
    responses((status = 200, description = "OK", body = Data<IncidentView>), (status = 403, body = ErrorBody)))]
#[post("/admin/incidents/{id}/resolve")]
pub async fn resolve(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let row = reads::resolve_incident(&state.control, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(Data { data: crate::views::incident_view(row) }))
}
