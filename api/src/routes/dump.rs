//! A database's plain-SQL dump, streamed (API.md, "SQL over HTTP").

use actix_web::{post, web, HttpRequest, HttpResponse};
use futures::StreamExt;

use crate::auth::Caller;
use crate::body::JsonOrEmpty;
use crate::error::{ApiError, ErrorBody};
use crate::{metadata, AppState};
pub use wire::DumpRequest;

/// Stream a plain `pg_dump` of the database (as its own role; `--schema-only` with
/// `ddl_only`). Nothing is buffered whole: the body is chunked as pg_dump writes it. A
/// failure before the first byte is an error answer; after it the connection is closed
/// without the final chunk (a complete dump has the line `-- PostgreSQL database dump
/// complete` near its end). pg_dump is stopped when the client goes away or past the configured deadline
/// (default 30 minutes). 429 when the server already streams its maximum of dumps (default
/// 4); 409 when the database is not running or is locked.
#[utoipa::path(post, path = "/api/v1/databases/{id}/dump", operation_id = "dumpDatabase", request_body(content = Option<DumpRequest>, description = "Optional: an empty body is `{}`"), tag = "sql",
    responses((status = 200, description = "The plain-SQL dump", content_type = "application/sql", body = Vec<u8>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[post("/databases/{id}/dump")]
pub async fn dump(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonOrEmpty<DumpRequest>,
) -> Result<HttpResponse, ApiError> {
    let ddl_only = body.0.ddl_only.unwrap_or(false);
    let meta = metadata(&req, &caller);
    let d = control::dumps::dump(&state.control, &caller, &id, ddl_only, meta).await?;
    let first = futures::stream::once(std::future::ready(Ok::<_, std::io::Error>(d.first)));
    let body = first.chain(d.rest).map(|block| block.map_err(actix_web::error::ErrorServiceUnavailable));
    let suffix = if ddl_only { "-schema" } else { "" };
    Ok(HttpResponse::Ok()
        .content_type("application/sql")
        .insert_header(("content-disposition", format!("attachment; filename=\"{}{suffix}.sql\"", d.database)))
        .streaming(body))
}
