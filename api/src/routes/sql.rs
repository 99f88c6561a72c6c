//! SQL over HTTP: `POST /databases/{id}/sql`, the per-query audit, approvals and their
//! settings.

use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use control::sql::{self, approvals, audit};

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody};
use crate::views::{Data, Page};
use crate::{metadata, AppState};
pub use wire::{
    ApprovalDecisionBody, ApprovalResultView, ApprovalSettingsBody, ApprovalSettingsView, ApprovalView, QueriesQuery,
    QueryLogView, SqlBody, SqlColumnView, SqlHeldView, SqlResultView,
};

/// Runs SQL in the database: as its own role for owners and admins; read-only (in a
/// read-only transaction under the database's explorer role) when `read_only` is set and
/// always for developers; never for viewers. Bounded by a statement timeout and row and
/// byte caps (`truncated`); several statements run as psql runs a file and the last one's
/// result is returned. A statement the SQL fails on is 422 `UNPROCESSABLE` with
/// PostgreSQL's message and SQLSTATE. With approvals on, a statement of a held kind is 202
/// with its `approval_id` and runs only once approved. More requests at once than the
/// database's share are 429.
#[utoipa::path(post, path = "/api/v1/databases/{id}/sql", operation_id = "runSql", request_body = SqlBody, tag = "sql",
    responses((status = 200, description = "OK", body = Data<SqlResultView>), (status = 202, description = "Held for approval", body = Data<SqlHeldView>),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/databases/{id}/sql")]
pub async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: crate::body::MultilineJson<SqlBody>,
) -> Result<HttpResponse, ApiError> {
    let SqlBody { query, file_content, params, read_only } = body.0;
    let input = sql::SqlInput { query, file_content, params, read_only };
    match sql::run(&state.control, &caller, &id, input, metadata(&req, &caller)).await? {
        sql::SqlOutcome::Ran(r) => {
            let view = SqlResultOut {
                columns: r
                    .columns
                    .into_iter()
                    .map(|c| SqlColumnView { name: c.name, data_type: c.data_type })
                    .collect(),
                rows: r.rows.json(),
                row_count: r.row_count,
                command: r.command,
                truncated: r.truncated,
            };
            Ok(HttpResponse::Ok().json(Data { data: view }))
        }
        sql::SqlOutcome::Held { approval_id } => Ok(HttpResponse::Accepted()
            .json(Data { data: SqlHeldView { approval_id: approval_id.to_string(), state: "pending".into() } })),
    }
}

/// [`SqlResultView`] as the API writes it: the same fields, with the rows' JSON as the run
/// wrote it while reading them (not built again value by value).
#[derive(serde::Serialize)]
struct SqlResultOut<'a> {
    columns: Vec<SqlColumnView>,
    rows: &'a serde_json::value::RawValue,
    row_count: u64,
    command: String,
    truncated: bool,
}

/// The per-query audit: every statement run through the API, newest first, with who ran it,
/// when, how long it took, its row count, a fingerprint and (unless turned off in the
/// settings) its text with constants as `$n` — never bound values.
#[utoipa::path(get, path = "/api/v1/databases/{id}/queries", operation_id = "listQueries", params(QueriesQuery), tag = "sql",
    responses((status = 200, description = "OK", body = Page<QueryLogView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/databases/{id}/queries")]
pub async fn queries(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: crate::body::Query<QueriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.0;
    let query =
        audit::QueriesQuery { source: q.source, since: q.since, until: q.until, cursor: q.cursor, limit: q.limit };
    let page = audit::list(&state.control, &caller, &id, query).await?;
    let data = page.rows.into_iter().map(crate::views::query_log_view).collect();
    Ok(HttpResponse::Ok().json(Page { data, next_cursor: page.next_cursor }))
}

fn settings_view(s: domain::SqlSettings) -> ApprovalSettingsView {
    ApprovalSettingsView {
        enabled: s.enabled,
        kinds: s.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        ttl_seconds: s.ttl_seconds,
        record_statements: s.record_statements,
    }
}

/// The database's approval settings (owners and admins read them).
#[utoipa::path(get, path = "/api/v1/databases/{id}/approval-settings", operation_id = "getApprovalSettings", tag = "sql",
    responses((status = 200, description = "OK", body = Data<ApprovalSettingsView>), (status = 403, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[get("/databases/{id}/approval-settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = approvals::settings(&state.control, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(Data { data: settings_view(s) }))
}

/// Changes the approval settings (the owner); fields left out keep their value.
#[utoipa::path(put, path = "/api/v1/databases/{id}/approval-settings", operation_id = "putApprovalSettings", request_body = ApprovalSettingsBody, tag = "sql",
    responses((status = 200, description = "OK", body = Data<ApprovalSettingsView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[put("/databases/{id}/approval-settings")]
pub async fn put_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<ApprovalSettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let change = approvals::SettingsChange {
        enabled: b.enabled,
        kinds: b.kinds,
        ttl_seconds: b.ttl_seconds,
        record_statements: b.record_statements,
    };
    let s = approvals::configure(&state.control, &caller, &id, change, metadata(&req, &caller)).await?;
    Ok(HttpResponse::Ok().json(Data { data: settings_view(s) }))
}

/// Held statements, newest first; a pending one past its expiry shows as `expired`.
#[utoipa::path(get, path = "/api/v1/databases/{id}/approvals", operation_id = "listApprovals", params(wire::PageQuery), tag = "sql",
    responses((status = 200, description = "OK", body = Page<ApprovalView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[get("/databases/{id}/approvals")]
pub async fn list_approvals(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: crate::body::Query<wire::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = approvals::list(&state.control, &caller, &id, q.0.cursor.as_deref(), q.0.limit).await?;
    let data = page.rows.into_iter().map(crate::views::approval_view).collect();
    Ok(HttpResponse::Ok().json(Page { data, next_cursor: page.next_cursor }))
}

async fn decide(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Option<Json<ApprovalDecisionBody>>,
    approving: bool,
) -> Result<HttpResponse, ApiError> {
    let (id, approval) = path.into_inner();
    let confirm = body.is_some_and(|b| b.0.confirm);
    let meta = metadata(&req, &caller);
    let row = approvals::decide(&state.control, &caller, &id, &approval, approving, confirm, meta).await?;
    Ok(HttpResponse::Ok().json(Data { data: crate::views::approval_view(row) }))
}

/// Approves a held statement, which then runs once, as the database's own role; the answer
/// says what came of it (`executed` or `failed`). By an owner or admin other than the
/// requester (the owner of a database with no admins: with `confirm: true`). A decided or
/// expired approval is 409.
#[utoipa::path(post, path = "/api/v1/databases/{id}/approvals/{approval_id}/approve", operation_id = "approveStatement", request_body(content = ApprovalDecisionBody, description = "optional"), tag = "sql",
    responses((status = 200, description = "OK", body = Data<ApprovalView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[post("/databases/{id}/approvals/{approval_id}/approve")]
pub async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Option<Json<ApprovalDecisionBody>>,
) -> Result<HttpResponse, ApiError> {
    decide(req, state, caller, path, body, true).await
}

/// Rejects a held statement: it never runs.
#[utoipa::path(post, path = "/api/v1/databases/{id}/approvals/{approval_id}/reject", operation_id = "rejectStatement", request_body(content = ApprovalDecisionBody, description = "optional"), tag = "sql",
    responses((status = 200, description = "OK", body = Data<ApprovalView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[post("/databases/{id}/approvals/{approval_id}/reject")]
pub async fn reject(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Option<Json<ApprovalDecisionBody>>,
) -> Result<HttpResponse, ApiError> {
    decide(req, state, caller, path, body, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_result_reads_back_as_the_documented_view() {
        let rows = serde_json::value::RawValue::from_string(r#"[[1,"a"],[null,{"k":[true]}]]"#.into()).expect("json");
        let out = SqlResultOut {
            columns: vec![SqlColumnView { name: "a".into(), data_type: "int4".into() }],
            rows: &rows,
            row_count: 2,
            command: "SELECT".into(),
            truncated: false,
        };
        let text = serde_json::to_string(&out).expect("serialises");
        let view: SqlResultView = serde_json::from_str(&text).expect("a SqlResultView");
        assert_eq!(
            view.rows,
            vec![
                vec![serde_json::json!(1), serde_json::json!("a")],
                vec![serde_json::Value::Null, serde_json::json!({"k": [true]})]
            ]
        );
        assert_eq!(
            (view.row_count, view.command.as_str(), view.truncated, view.columns.len()),
            (2, "SELECT", false, 1)
        );
    }
}
