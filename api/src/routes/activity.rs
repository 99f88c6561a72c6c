use actix_web::{get, web, HttpResponse};
use control::reads;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::views::{ActivityView, Page};
use crate::AppState;
pub use wire::ActivityQuery;

async fn page(
    state: &AppState,
    caller: &Caller,
    q: ActivityQuery,
    database: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let query =
        reads::ActivityQuery { action: q.action, since: q.since, until: q.until, cursor: q.cursor, limit: q.limit };
    let page = reads::activity(&state.control, caller, database, query).await?;
    let data = page.rows.into_iter().map(crate::views::activity_view).collect();
    Ok(HttpResponse::Ok().json(Page { data, next_cursor: page.next_cursor }))
}

/// The caller's account activity, newest first. A selected-databases key sees only the
/// entries about its databases (not the account's other entries). A filter holding a control
/// character is 400 `INVALID_REQUEST`.
#[utoipa::path(get, path = "/api/v1/activity", operation_id = "listActivity", params(ActivityQuery), tag = "activity",
    responses((status = 200, description = "OK", body = Page<ActivityView>), (status = 404, body = ErrorBody)))]
#[get("/activity")]
pub async fn account(
    state: web::Data<AppState>,
    caller: Caller,
    q: crate::body::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut q = q.0;
    let database = q.database_id.take();
    page(&state, &caller, q, database.as_deref()).await
}

/// One database's activity, newest first.
#[utoipa::path(get, path = "/api/v1/databases/{id}/activity", operation_id = "listDatabaseActivity", params(ActivityQuery), tag = "activity",
    responses((status = 200, description = "OK", body = Page<ActivityView>)))]
#[get("/databases/{id}/activity")]
pub async fn for_database(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    q: crate::body::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    page(&state, &caller, q.0, Some(&id)).await
}
