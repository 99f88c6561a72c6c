//! The accounts of the platform, for platform admins: plan, owner and what each holds.

use actix_web::{get, web, HttpResponse};
use control::reads;
use eventstore::accounts::AccountRow;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
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
    let q = q.0;
    let query = reads::AccountQuery { plan: q.plan, email: q.email, cursor: q.cursor, limit: q.limit };
    let page = reads::accounts(&state.control, &caller, query).await?;
    let data = page.rows.into_iter().map(account_view).collect();
    Ok(HttpResponse::Ok().json(Page { data, next_cursor: page.next_cursor }))
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
