//! `GET|POST /databases/{id}/users`, `DELETE /databases/{id}/users/{username}`.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody};
use crate::views::Data;
use crate::{metadata, AppState};
pub use wire::{CreatedUserView, NewUser, UserView};

#[utoipa::path(get, path = "/api/v1/databases/{id}/users", operation_id = "listDatabaseUsers", tag = "users",
    responses((status = 200, description = "OK", body = Data<Vec<UserView>>), (status = 403, body = ErrorBody)))]
#[get("/databases/{id}/users")]
pub async fn list(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let rows = control::database_users::list(&state.control, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(Data { data: rows.into_iter().map(crate::views::user_view).collect::<Vec<_>>() }))
}

/// A new login role confined to this database, reachable through PgBouncer. 201 once it
/// logs in, 202 if still being created. 403 `QUOTA_EXCEEDED` past the plan's users per
/// database (`database_users` in `/me`'s quotas).
#[utoipa::path(post, path = "/api/v1/databases/{id}/users", operation_id = "createDatabaseUser", request_body = NewUser, tag = "users",
    responses((status = 201, description = "Created", body = Data<CreatedUserView>), (status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<CreatedUserView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases/{id}/users")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let c = control::database_users::create(&state.control, &caller, &id, &body.0.username, metadata(&req, &caller))
        .await?;
    let view = CreatedUserView {
        user: crate::views::user_view(c.user),
        password: c.password,
        connection_string: c.connection_string,
    };
    let mut resp = if c.ready { HttpResponse::Created() } else { HttpResponse::Accepted() };
    Ok(resp.json(Data { data: view }))
}

/// Drop the user's role (its objects pass to the database's owner). 204 once gone, else 202.
#[utoipa::path(delete, path = "/api/v1/databases/{id}/users/{username}", operation_id = "deleteDatabaseUser", tag = "users",
    responses((status = 204, description = "No content"), (status = 202, description = "Accepted: still under way (poll `operation_id`)"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/databases/{id}/users/{username}")]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, username) = path.into_inner();
    let gone =
        control::database_users::remove(&state.control, &caller, &id, &username, metadata(&req, &caller)).await?;
    Ok(if gone { HttpResponse::NoContent().finish() } else { HttpResponse::Accepted().finish() })
}
