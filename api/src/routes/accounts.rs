//! The accounts of the platform, for platform admins: plan, owner and what each holds.

use actix_web::{get, web, HttpResponse};
use domain::{AccountId, Plan};
use eventstore::accounts::{AccountFilter, AccountRow};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::databases::page_limit;
use crate::views::Page;
use crate::AppState;
pub use wire::{AccountQuery, AccountView};

/// Every account, newest first; filtered by plan or by the owner's email.
#[utoipa::path(get, path = "/api/v1/admin/accounts", operation_id = "listAccounts", params(AccountQuery), tag = "admin",
    responses((status = 200, description = "OK", body = Page<AccountView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/admin/accounts")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: crate::body::Query<AccountQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_platform_admin()?;
    caller.require_full_account()?;
    let limit = page_limit(q.limit)?;
    let plan = match q.plan.as_deref() {
        Some(p) => Some(
            Plan::parse(p)
                .ok_or_else(|| ApiError::InvalidRequest("invalid field `plan`: `free`, `pro` or `business`".into()))?,
        ),
        None => None,
    };
    let before = match &q.cursor {
        Some(c) => Some(AccountId::parse(c).map_err(|_| ApiError::InvalidRequest("invalid field `cursor`".into()))?),
        None => None,
    };
    let filter =
        AccountFilter { plan, email: q.email.clone().filter(|e| !e.is_empty()), before: before.map(|b| b.uuid()) };
    let rows = state.store.accounts(&filter, limit).await?;
    let next_cursor = (rows.len() as i64 == limit).then(|| rows.last().map(|a| a.id.to_string())).flatten();
    Ok(HttpResponse::Ok().json(Page { data: rows.into_iter().map(account_view).collect(), next_cursor }))
}

fn account_view(a: AccountRow) -> AccountView {
    AccountView {
        id: a.id.to_string(),
        plan: a.plan.as_str().into(),
        created_at: a.created_at,
        owner_email: a.owner_email,
        anonymous: a.anonymous,
        databases: a.databases,
        storage_mb: a.storage_bytes as f64 / (1024.0 * 1024.0),
        api_keys: a.api_keys,
    }
}
