//! `GET|POST /databases/{id}/allowlist`, `DELETE /databases/{id}/allowlist/{rule_id}`.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody};
use crate::views::Data;
use crate::{metadata, AppState};
pub use wire::{NewRule, RuleView};

/// The database's rules; an empty list means open to all sources.
#[utoipa::path(get, path = "/api/v1/databases/{id}/allowlist", operation_id = "listAllowlistRules", tag = "network",
    responses((status = 200, description = "OK", body = Data<Vec<RuleView>>), (status = 403, body = ErrorBody)))]
#[get("/databases/{id}/allowlist")]
pub async fn list(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let rules = control::allowlists::list(&state.control, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(Data { data: rules.into_iter().map(crate::views::rule_view).collect::<Vec<_>>() }))
}

/// Admit a network. 201 once PgBouncer enforces it (HBA file rendered, reloaded, checked);
/// 202 if that takes longer than the server's wait budget.
#[utoipa::path(post, path = "/api/v1/databases/{id}/allowlist", operation_id = "addAllowlistRule", request_body = NewRule, tag = "network",
    responses((status = 201, description = "Created", body = Data<RuleView>), (status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<RuleView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/databases/{id}/allowlist")]
pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<NewRule>,
) -> Result<HttpResponse, ApiError> {
    let NewRule { cidr, label, ttl_seconds } = body.0;
    let (rule, enforced) =
        control::allowlists::add(&state.control, &caller, &id, &cidr, label, ttl_seconds, metadata(&req, &caller))
            .await?;
    let mut resp = if enforced { HttpResponse::Created() } else { HttpResponse::Accepted() };
    Ok(resp.json(Data { data: crate::views::rule_view(rule) }))
}

#[utoipa::path(delete, path = "/api/v1/databases/{id}/allowlist/{rule_id}", operation_id = "removeAllowlistRule", tag = "network",
    responses((status = 204, description = "No content"), (status = 202, description = "Accepted: still under way (poll `operation_id`)"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/databases/{id}/allowlist/{rule_id}")]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, rule) = path.into_inner();
    let enforced = control::allowlists::remove(&state.control, &caller, &id, &rule, metadata(&req, &caller)).await?;
    Ok(if enforced { HttpResponse::NoContent().finish() } else { HttpResponse::Accepted().finish() })
}
