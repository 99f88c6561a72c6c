use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use control::collaborators;

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody};
use crate::views::{Data, Page};
use crate::{metadata, AppState};
pub use wire::{AddCollaborator, ChangeRole, CollaboratorView};

fn view(c: eventstore::collaborators::CollaboratorRow) -> CollaboratorView {
    CollaboratorView { user_id: c.user_id.to_string(), email: c.email, role: c.role, added_at: c.added_at }
}

#[utoipa::path(get, path = "/api/v1/databases/{id}/collaborators", operation_id = "listCollaborators", tag = "collaborators",
    responses((status = 200, description = "OK", body = Page<CollaboratorView>), (status = 403, body = ErrorBody)))]
#[get("/databases/{id}/collaborators")]
pub async fn list(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let rows = collaborators::list(&state.control, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(Page { data: rows.into_iter().map(view).collect(), next_cursor: None }))
}

/// Share a database with an existing user, by email.
#[utoipa::path(post, path = "/api/v1/databases/{id}/collaborators", operation_id = "addCollaborator", request_body = AddCollaborator, tag = "collaborators",
    responses((status = 201, description = "Created", body = Data<CollaboratorView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/databases/{id}/collaborators")]
pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<AddCollaborator>,
) -> Result<HttpResponse, ApiError> {
    let meta = metadata(&req, &caller);
    let added = collaborators::add(&state.control, &caller, &id, &body.0.email, &body.0.role, meta).await?;
    Ok(HttpResponse::Created().json(Data { data: view(added) }))
}

#[utoipa::path(patch, path = "/api/v1/databases/{id}/collaborators/{user_id}", operation_id = "changeCollaboratorRole", request_body = ChangeRole, tag = "collaborators",
    responses((status = 200, description = "OK", body = Data<CollaboratorView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[patch("/databases/{id}/collaborators/{user_id}")]
pub async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Json<ChangeRole>,
) -> Result<HttpResponse, ApiError> {
    let (id, user) = path.into_inner();
    let meta = metadata(&req, &caller);
    let changed = collaborators::change(&state.control, &caller, &id, &user, &body.0.role, meta).await?;
    Ok(HttpResponse::Ok().json(Data { data: view(changed) }))
}

#[utoipa::path(delete, path = "/api/v1/databases/{id}/collaborators/{user_id}", operation_id = "removeCollaborator", tag = "collaborators",
    responses((status = 204, description = "No content"), (status = 403, body = ErrorBody)))]
#[delete("/databases/{id}/collaborators/{user_id}")]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, user) = path.into_inner();
    collaborators::remove(&state.control, &caller, &id, &user, metadata(&req, &caller)).await?;
    Ok(HttpResponse::NoContent().finish())
}
