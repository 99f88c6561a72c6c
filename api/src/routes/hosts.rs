//! Tenant hosts, for platform admins: list them, cordon, uncordon, drain, remove.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use control::hosts::{self, HostAction};

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, Error, ErrorBody};
use crate::views::{host_view, Data, Page};
use crate::{metadata, AppState};
pub use wire::{HostView, MoveDatabase};

/// Every tenant host with its region, state, capacity, databases, free disk, version and
/// when it last answered, oldest first, in one page (`next_cursor` is always null).
#[utoipa::path(get, path = "/api/v1/admin/hosts", operation_id = "listHosts", tag = "hosts",
    responses((status = 200, description = "OK", body = Page<HostView>), (status = 403, body = ErrorBody)))]
#[get("/admin/hosts")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let rows = hosts::list(&state.control, &caller).await?;
    Ok(HttpResponse::Ok().json(Page { data: rows.into_iter().map(host_view).collect(), next_cursor: None }))
}

async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: &str,
    action: HostAction,
) -> Result<HttpResponse, ApiError> {
    let meta = metadata(&req, &caller);
    match hosts::act(&state.control, &caller, id, action, meta).await? {
        Some(h) => Ok(HttpResponse::Ok().json(Data { data: host_view(h) })),
        None if action == HostAction::Remove => Ok(HttpResponse::NoContent().finish()),
        None => Err(Error::NotFound("host").into()),
    }
}

/// Places no new database on the host; what it holds stays and works. Cordoning a
/// cordoned host changes nothing; a draining host is `409`.
#[utoipa::path(post, path = "/api/v1/admin/hosts/{id}/cordon", operation_id = "cordonHost", tag = "hosts",
    responses((status = 200, description = "The host, cordoned", body = Data<HostView>), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/admin/hosts/{id}/cordon")]
pub async fn cordon(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(req, state, caller, &id, HostAction::Cordon).await
}

/// Lets the host take new databases again (from cordoned or draining).
#[utoipa::path(post, path = "/api/v1/admin/hosts/{id}/uncordon", operation_id = "uncordonHost", tag = "hosts",
    responses((status = 200, description = "The host, ready", body = Data<HostView>), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[post("/admin/hosts/{id}/uncordon")]
pub async fn uncordon(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(req, state, caller, &id, HostAction::Uncordon).await
}

/// Marks the host draining: no new placements, and every running PostgreSQL database on it
/// is moved to the least-loaded ready host of its region (each a `move` operation in its
/// activity). What cannot move (no room in the region, stopped, MariaDB, busy) stays and
/// keeps working; draining again asks again.
#[utoipa::path(post, path = "/api/v1/admin/hosts/{id}/drain", operation_id = "drainHost", tag = "hosts",
    responses((status = 200, description = "The host, draining", body = Data<HostView>), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[post("/admin/hosts/{id}/drain")]
pub async fn drain(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(req, state, caller, &id, HostAction::Drain).await
}

/// Removes a host that holds no database (`409` while it holds any).
#[utoipa::path(delete, path = "/api/v1/admin/hosts/{id}", operation_id = "removeHost", tag = "hosts",
    responses((status = 204, description = "Removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
#[delete("/admin/hosts/{id}")]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    act(req, state, caller, &id, HostAction::Remove).await
}

/// Moves a running PostgreSQL database to another host (`{host_id}`: ready, same engine,
/// with room). The connection strings users hold keep working: the old host's pooler
/// forwards them. Writes pause while the copy is made and checked; the answer is `202` with
/// the `move` operation to follow (`GET /operations/{id}`). An unknown database or host is
/// `404`; a host of another engine, or a MariaDB database, `422`.
#[utoipa::path(post, path = "/api/v1/admin/databases/{id}/move", operation_id = "moveDatabase", tag = "hosts",
    request_body = MoveDatabase,
    responses((status = 202, description = "Accepted: the move is under way (poll `operation_id`)", body = Data<crate::views::DatabaseView>),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/admin/databases/{id}/move")]
pub async fn move_database(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<MoveDatabase>,
) -> Result<HttpResponse, ApiError> {
    let meta = metadata(&req, &caller);
    let (db, operation) = control::moves::move_database(&state.control, &caller, &id, &body.0.host_id, meta).await?;
    let mut view = crate::views::database_view(&db, control::authz::DbRole::Admin);
    view.operation_id = Some(operation.to_string());
    Ok(HttpResponse::Accepted().json(Data { data: view }))
}
