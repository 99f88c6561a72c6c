use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use domain::{CollaboratorsCommand, CollaboratorsError, ShareRole, UserId};

use crate::auth::Caller;
use crate::authz::Action;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody, OrInternal};
use crate::views::{Data, Page};
use crate::{metadata, service, AppState};
pub use wire::{AddCollaborator, ChangeRole, CollaboratorView};

fn parse_role(role: &str) -> Result<ShareRole, ApiError> {
    ShareRole::parse(role)
        .ok_or_else(|| ApiError::InvalidRequest("invalid field `role`: `admin`, `developer` or `viewer`".into()))
}

fn collaborators_error(e: CollaboratorsError) -> ApiError {
    match e {
        CollaboratorsError::NotShared => ApiError::NotFound("collaborator"),
        CollaboratorsError::AlreadyShared => ApiError::Conflict(e.to_string()),
        CollaboratorsError::SharingWithOwner => ApiError::Unprocessable(e.to_string()),
    }
}

async fn listed(state: &AppState, db: domain::DatabaseId) -> Result<Vec<CollaboratorView>, ApiError> {
    Ok(state
        .store
        .collaborators(db)
        .await?
        .into_iter()
        .map(|c| CollaboratorView {
            user_id: c.user_id.to_string(),
            email: c.email,
            role: c.role,
            added_at: c.added_at,
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/databases/{id}/collaborators", operation_id = "listCollaborators", tag = "collaborators",
    responses((status = 200, description = "OK", body = Page<CollaboratorView>), (status = 403, body = ErrorBody)))]
#[get("/databases/{id}/collaborators")]
pub async fn list(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (db, _) = service::load_authorized(&state, &caller, &id, Action::Manage).await?;
    Ok(HttpResponse::Ok().json(Page { data: listed(&state, db.id).await?, next_cursor: None }))
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
    let (db, _) = service::load_authorized(&state, &caller, &id, Action::Manage).await?;
    let role = parse_role(&body.0.role)?;
    let email = body.0.email.trim().to_lowercase();
    let user = state.store.user_by_email_full(&email).await?.ok_or(ApiError::NotFound("user with that email"))?;
    let cmd = CollaboratorsCommand::Share {
        database_id: db.id,
        user_id: user.id,
        email: email.clone(),
        role,
        user_account: user.account_id,
        owner_account: db.account_id,
    };
    service::execute_access(&state, db.id, &cmd, metadata(&req, &caller)).await?.map_err(collaborators_error)?;
    let added = listed(&state, db.id).await?.into_iter().find(|c| c.user_id == user.id.to_string());
    Ok(HttpResponse::Created().json(Data { data: added.or_internal("the collaborator just added is not listed")? }))
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
    let (db, _) = service::load_authorized(&state, &caller, &id, Action::Manage).await?;
    let user_id = UserId::parse(&user).map_err(|_| ApiError::NotFound("collaborator"))?;
    let cmd = CollaboratorsCommand::ChangeRole { database_id: db.id, user_id, role: parse_role(&body.0.role)? };
    service::execute_access(&state, db.id, &cmd, metadata(&req, &caller)).await?.map_err(collaborators_error)?;
    let changed = listed(&state, db.id).await?.into_iter().find(|c| c.user_id == user);
    Ok(HttpResponse::Ok().json(Data { data: changed.ok_or(ApiError::NotFound("collaborator"))? }))
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
    let (db, _) = service::load_authorized(&state, &caller, &id, Action::Manage).await?;
    let user_id = UserId::parse(&user).map_err(|_| ApiError::NotFound("collaborator"))?;
    let cmd = CollaboratorsCommand::Unshare { database_id: db.id, user_id };
    service::execute_access(&state, db.id, &cmd, metadata(&req, &caller)).await?.map_err(collaborators_error)?;
    Ok(HttpResponse::NoContent().finish())
}
