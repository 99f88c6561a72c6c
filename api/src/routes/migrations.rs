//! A database's schema migrations (API.md, "SQL over HTTP").

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use control::migrations as service;

use crate::auth::Caller;
use crate::body::MultilineJson;
use crate::error::{ApiError, ErrorBody};
use crate::views::{Data, Page};
use crate::{metadata, AppState};
pub use wire::{ApplyMigration, MigrationResult, MigrationView};

/// Apply a migration: its SQL runs in one transaction, as the database's own role, under a
/// per-database lock, and is recorded in `berth.schema_migrations` inside the database. The
/// same name and checksum again: 200 `already_applied` (nothing runs); the same name with
/// another checksum: 409. A failing migration (or one past the configured timeout, default
/// 5 minutes) applies nothing: 422 with PostgreSQL's message and SQLSTATE. 409 also when the
/// database is not running or is locked.
#[utoipa::path(post, path = "/api/v1/databases/{id}/migrations", operation_id = "applyMigration", request_body = ApplyMigration, tag = "sql",
    responses((status = 201, description = "Applied", body = Data<MigrationResult>), (status = 200, description = "Already applied: nothing ran", body = Data<MigrationResult>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/databases/{id}/migrations")]
pub async fn apply(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: MultilineJson<ApplyMigration>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let meta = metadata(&req, &caller);
    let done = service::apply(&state.control, &caller, &id, &b.name, &b.sql, b.checksum.as_deref(), meta).await?;
    let status = if done.applied { "applied" } else { "already_applied" };
    let view = MigrationResult { status: status.into(), name: done.name, checksum: done.checksum };
    let mut res = if done.applied { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(res.json(Data { data: view }))
}

/// The migrations recorded in the database, oldest first (none before the first).
#[utoipa::path(get, path = "/api/v1/databases/{id}/migrations", operation_id = "listMigrations", tag = "sql",
    responses((status = 200, description = "OK", body = Page<MigrationView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[get("/databases/{id}/migrations")]
pub async fn list(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let rows = service::list(&state.control, &caller, &id).await?;
    let data = rows
        .into_iter()
        .map(|m| MigrationView {
            name: m.name,
            checksum: m.checksum,
            applied_at: m.applied_at,
            applied_by: m.applied_by,
            sql_preview: m.sql_preview,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page { data, next_cursor: None }))
}
