//! System incidents, for platform admins only. Separate from the activity log: incidents are
//! what the platform saw break, not what an actor did.

use actix_web::{get, post, web, HttpResponse};
use domain::{IncidentId, PlatformRole};
use eventstore::incidents::IncidentFilter;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::databases::page_limit;
use crate::views::{Data, Page};
use crate::AppState;
pub use wire::{IncidentQuery, IncidentResource, IncidentView};

/// A platform admin acting for the whole platform: an admin's key limited to selected
/// databases is refused (`KEY_SCOPE_DENIED`), as on the accounts routes.
fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    match caller.platform_role {
        PlatformRole::Admin => caller.require_full_account(),
        _ => Err(ApiError::Forbidden("only platform admins may read or resolve incidents")),
    }
}

/// System incidents, newest first.
#[utoipa::path(get, path = "/api/v1/admin/incidents", operation_id = "listIncidents", params(IncidentQuery), tag = "incidents",
    responses((status = 200, description = "OK", body = Page<IncidentView>), (status = 403, body = ErrorBody)))]
#[get("/admin/incidents")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: crate::body::Query<IncidentQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let limit = page_limit(q.limit)?;
    if q.state.as_deref().is_some_and(|s| s != "open" && s != "resolved") {
        return Err(ApiError::InvalidRequest("invalid field `state`: must be open or resolved".into()));
    }
    let before = match &q.cursor {
        Some(c) => Some(IncidentId::parse(c).map_err(|_| ApiError::InvalidRequest("invalid field `cursor`".into()))?.0),
        None => None,
    };
    let filter =
        IncidentFilter { state: q.state.clone(), kind: q.kind.clone(), resource_id: q.resource.clone(), before };
    let rows = state.store.incidents(&filter, limit).await?;
    let next_cursor = (rows.len() as i64 == limit).then(|| rows.last().map(|i| IncidentId(i.id).to_string())).flatten();
    Ok(HttpResponse::Ok().json(Page { data: rows.into_iter().map(crate::views::incident_view).collect(), next_cursor }))
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
    require_admin(&caller)?;
    let id = IncidentId::parse(&id).map_err(|_| ApiError::NotFound("incident"))?;
    let row = match state.store.resolve_incident_by_id(id.0).await {
        Err(eventstore::StoreError::NotFound) => return Err(ApiError::NotFound("incident")),
        other => other?,
    };
    tracing::info!(incident = %id, kind = %row.kind, "incident resolved by an operator");
    Ok(HttpResponse::Ok().json(Data { data: crate::views::incident_view(row) }))
}
