use actix_web::{get, web, HttpResponse};
use domain::DatabaseId;
use eventstore::queries::ActivityFilter;

use crate::auth::Caller;
use crate::authz::Action;
use crate::error::{ApiError, ErrorBody};
use crate::routes::databases::page_limit;
use crate::views::{ActivityView, Page};
use crate::{service, AppState};
pub use wire::ActivityQuery;

async fn page(
    state: &AppState,
    caller: &Caller,
    q: &ActivityQuery,
    scope: Option<DatabaseId>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(q.limit)?;
    let before_seq = match &q.cursor {
        Some(c) => Some(c.parse::<i64>().map_err(|_| ApiError::InvalidRequest("invalid field `cursor`".into()))?),
        None => None,
    };
    // A selected-databases key sees only its databases' entries, never the account's others.
    let filter = ActivityFilter {
        database_id: scope,
        action: q.action.clone(),
        since: q.since,
        until: q.until,
        before_seq,
        within: caller.selected.clone(),
    };
    let rows = state.store.activity(caller.account_id, &filter, limit).await?;
    let next_cursor = (rows.len() as i64 == limit).then(|| rows.last().map(|a| a.seq.to_string())).flatten();
    Ok(HttpResponse::Ok().json(Page { data: rows.into_iter().map(crate::views::activity_view).collect(), next_cursor }))
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
    let scope = match &q.database_id {
        Some(id) => Some(service::load_authorized(&state, &caller, id, Action::View).await?.0.id),
        None => None,
    };
    page(&state, &caller, &q, scope).await
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
    let (db, _) = service::load_authorized(&state, &caller, &id, Action::View).await?;
    page(&state, &caller, &q, Some(db.id)).await
}
