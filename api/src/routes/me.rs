use actix_web::{get, patch, web, HttpRequest, HttpResponse};
use control::accounts;

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody};
use crate::views::Data;
use crate::{metadata, AppState};
pub use wire::{AccountPatch, AccountPlanView, MeView, UsageView};

#[utoipa::path(get, path = "/api/v1/me", operation_id = "getMe", tag = "account",
    responses((status = 200, description = "OK", body = Data<MeView>)))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let me = accounts::me(&state.control, &caller).await?;
    Ok(HttpResponse::Ok().json(Data {
        data: MeView {
            user_id: me.user.id.to_string(),
            email: me.user.email,
            platform_role: me.user.platform_role.as_str().into(),
            account_id: me.user.account_id.to_string(),
            plan: me.plan.as_str().into(),
            quotas: crate::views::quotas_view(me.quotas),
            usage: UsageView { databases: me.databases, storage_mb: me.storage_bytes as f64 / (1024.0 * 1024.0) },
        },
    }))
}

/// Platform admins set an account's plan.
#[utoipa::path(patch, path = "/api/v1/admin/accounts/{id}", operation_id = "setAccountPlan", request_body = AccountPatch, tag = "admin",
    responses((status = 200, description = "OK", body = Data<AccountPlanView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[patch("/admin/accounts/{id}")]
pub async fn set_plan(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<AccountPatch>,
) -> Result<HttpResponse, ApiError> {
    let (account, plan) =
        accounts::set_plan(&state.control, &caller, &id, &body.0.plan, metadata(&req, &caller)).await?;
    Ok(HttpResponse::Ok().json(Data { data: AccountPlanView { id: account.to_string(), plan: plan.as_str().into() } }))
}
