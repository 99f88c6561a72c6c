//! Backups, restores and branches (API.md "Backups and restores").

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use futures::StreamExt;

use crate::auth::Caller;
use crate::body::{Json, JsonOrEmpty};
use crate::error::{ApiError, Error, ErrorBody};
use crate::views::{BackupView, CreatedDatabase, Data, Page};
use crate::{metadata, AppState};
use control::authz::Action;
use control::backups as service;
pub use wire::{BranchDatabase, CreateBackup, RestoreBackup};

/// Back the database up now; the backup runs as a job (poll the backup or its operation).
/// 403 `QUOTA_EXCEEDED` past `manual_backups_per_day` (default 20) manual backups of the
/// database in the current UTC day; scheduled backups are not counted.
#[utoipa::path(post, path = "/api/v1/databases/{id}/backups", operation_id = "createBackup", request_body(content = Option<CreateBackup>, description = "Optional: an empty body is `{}`"), tag = "backups",
    responses((status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<BackupView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases/{id}/backups")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonOrEmpty<CreateBackup>,
) -> Result<HttpResponse, ApiError> {
    let backup = service::request(&state.control, &caller, &id, body.0.label, metadata(&req, &caller)).await?;
    Ok(HttpResponse::Accepted().json(Data { data: crate::views::backup_view(backup) }))
}

#[utoipa::path(get, path = "/api/v1/databases/{id}/backups", operation_id = "listBackups", tag = "backups",
    responses((status = 200, description = "OK", body = Page<BackupView>), (status = 403, body = ErrorBody)))]
#[get("/databases/{id}/backups")]
pub async fn list(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let rows = service::list(&state.control, &caller, &id).await?;
    Ok(HttpResponse::Ok()
        .json(Page { data: rows.into_iter().map(crate::views::backup_view).collect(), next_cursor: None }))
}

#[utoipa::path(get, path = "/api/v1/databases/{id}/backups/{backup_id}", operation_id = "getBackup", tag = "backups",
    responses((status = 200, description = "OK", body = Data<BackupView>), (status = 403, body = ErrorBody)))]
#[get("/databases/{id}/backups/{backup_id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, backup) = service::load_backup(&state.control, &caller, &path.0, &path.1, Action::Credentials).await?;
    Ok(HttpResponse::Ok().json(Data { data: crate::views::backup_view(backup) }))
}

/// Streams the backup's `.sql.gz` object; `x-backup-sha256` carries its recorded checksum.
#[utoipa::path(get, path = "/api/v1/databases/{id}/backups/{backup_id}/download", operation_id = "downloadBackup", tag = "backups",
    responses((status = 200, description = "The gzip-compressed plain-SQL dump", content_type = "application/gzip", body = Vec<u8>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[get("/databases/{id}/backups/{backup_id}/download")]
pub async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let found = service::downloadable(&state.control, &caller, &path.0, &path.1).await?;
    let (key, sha, size) = (&found.object_key, &found.sha256, found.size_bytes);
    let objects = state.objects.as_ref().ok_or_else(|| Error::Unavailable("no object store is configured".into()))?;
    let unavailable = |e: opendal::Error| {
        tracing::warn!(error = %e, "object store");
        Error::Unavailable("the object store is unavailable".into())
    };
    let reader = objects.reader_with(key).chunk(1 << 20).await.map_err(unavailable)?;
    let stream = reader.into_bytes_stream(..).await.map_err(unavailable)?;
    let file = key.rsplit('/').next().unwrap_or("backup.sql.gz").to_owned();
    Ok(HttpResponse::Ok()
        .content_type("application/gzip")
        .insert_header(("content-disposition", format!("attachment; filename=\"{file}\"")))
        .insert_header(("x-backup-sha256", sha.clone()))
        .no_chunking(size as u64)
        .streaming(stream.map(|chunk| chunk.map_err(actix_web::error::ErrorServiceUnavailable))))
}

#[utoipa::path(delete, path = "/api/v1/databases/{id}/backups/{backup_id}", operation_id = "deleteBackup", tag = "backups",
    responses((status = 200, description = "OK", body = Data<BackupView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/databases/{id}/backups/{backup_id}")]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let backup = service::delete(&state.control, &caller, &path.0, &path.1, metadata(&req, &caller)).await?;
    Ok(HttpResponse::Ok().json(Data { data: crate::views::backup_view(backup) }))
}

/// Restore the backup into a scratch database and compare every table with what the backup
/// recorded; the verdict lands on the backup (`verified_at`, `verified_ok`).
#[utoipa::path(post, path = "/api/v1/databases/{id}/backups/{backup_id}/verify", operation_id = "verifyBackup", tag = "backups",
    responses((status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<BackupView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases/{id}/backups/{backup_id}/verify")]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (backup, operation_id) =
        service::verify(&state.control, &caller, &path.0, &path.1, metadata(&req, &caller)).await?;
    let mut view = crate::views::backup_view(backup);
    view.operation_id = operation_id.to_string();
    Ok(HttpResponse::Accepted().json(Data { data: view }))
}

/// Restore a backup into a new database (with its own role and password, shown once).
#[utoipa::path(post, path = "/api/v1/databases/{id}/restore", operation_id = "restoreBackup", request_body = RestoreBackup, tag = "backups",
    responses((status = 201, description = "Created", body = Data<CreatedDatabase>), (status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<CreatedDatabase>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases/{id}/restore")]
pub async fn restore(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<RestoreBackup>,
) -> Result<HttpResponse, ApiError> {
    let meta = metadata(&req, &caller);
    let created = service::restore(&state.control, &caller, &id, &body.0.backup_id, &body.0.target_name, meta).await?;
    let (status, created) = crate::views::created_view(created);
    Ok(HttpResponse::build(status).json(Data { data: created }))
}

/// A new database holding this one's current schema and data; the source stays writable.
#[utoipa::path(post, path = "/api/v1/databases/{id}/branch", operation_id = "branchDatabase", request_body = BranchDatabase, tag = "backups",
    responses((status = 201, description = "Created", body = Data<CreatedDatabase>), (status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<CreatedDatabase>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases/{id}/branch")]
pub async fn branch(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<BranchDatabase>,
) -> Result<HttpResponse, ApiError> {
    let meta = metadata(&req, &caller);
    let created = service::branch(&state.control, &caller, &id, &body.0.name, meta).await?;
    let (status, created) = crate::views::created_view(created);
    Ok(HttpResponse::build(status).json(Data { data: created }))
}
