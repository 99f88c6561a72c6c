//! `POST /databases/{id}/stop|start|restart|reset-password`, `GET /databases/{id}/credentials`.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use domain::OperationKind;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::views::{credentials_view, Credentials, Data, DatabaseView};
use crate::{metadata, AppState};
use actix_web::http::StatusCode;
use control::lifecycle as maintenance;

/// 200 when the job finished within the wait, else 202 (with the operation to follow).
fn status(done: bool) -> StatusCode {
    if done {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

async fn lifecycle(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    kind: OperationKind,
) -> Result<HttpResponse, ApiError> {
    let r = maintenance::lifecycle(&state.control, &caller, &id, kind, metadata(&req, &caller)).await?;
    let mut view = crate::views::database_view(&r.database, r.role);
    view.operation_id = Some(r.operation_id.to_string());
    Ok(HttpResponse::build(status(r.done)).json(Data { data: view }))
}

/// Stop: PgBouncer refuses new clients and ends current ones; PostgreSQL refuses direct
/// connections. 200 once stopped, 202 (with `operation_id`) if still under way.
#[utoipa::path(post, path = "/api/v1/databases/{id}/stop", operation_id = "stopDatabase", tag = "lifecycle",
    responses((status = 200, description = "OK", body = Data<DatabaseView>), (status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<DatabaseView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases/{id}/stop")]
pub async fn stop(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    lifecycle(req, state, caller, id, OperationKind::Stop).await
}

/// Start a stopped database.
#[utoipa::path(post, path = "/api/v1/databases/{id}/start", operation_id = "startDatabase", tag = "lifecycle",
    responses((status = 200, description = "OK", body = Data<DatabaseView>), (status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<DatabaseView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases/{id}/start")]
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    lifecycle(req, state, caller, id, OperationKind::Start).await
}

/// Restart: every client and server connection is dropped; clients may reconnect at once.
#[utoipa::path(post, path = "/api/v1/databases/{id}/restart", operation_id = "restartDatabase", tag = "lifecycle",
    responses((status = 200, description = "OK", body = Data<DatabaseView>), (status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<DatabaseView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases/{id}/restart")]
pub async fn restart(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    lifecycle(req, state, caller, id, OperationKind::Restart).await
}

/// A new password on PostgreSQL and PgBouncer; the old one stops working. Returned once.
#[utoipa::path(post, path = "/api/v1/databases/{id}/reset-password", operation_id = "resetDatabasePassword", tag = "credentials",
    responses((status = 200, description = "OK", body = Data<Credentials>), (status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<Credentials>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases/{id}/reset-password")]
pub async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (creds, operation, done) =
        maintenance::reset_password(&state.control, &caller, &id, metadata(&req, &caller)).await?;
    Ok(HttpResponse::build(status(done)).json(Data { data: credentials_view(creds, Some(operation)) }))
}

/// The database's login (owner, admin, developer).
#[utoipa::path(get, path = "/api/v1/databases/{id}/credentials", operation_id = "getDatabaseCredentials", tag = "credentials",
    responses((status = 200, description = "OK", body = Data<Credentials>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[get("/databases/{id}/credentials")]
pub async fn credentials(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let creds = maintenance::credentials(&state.control, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(Data { data: credentials_view(creds, None) }))
}
