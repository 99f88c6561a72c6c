use actix_web::{get, patch, web, HttpRequest, HttpResponse};
use domain::{AccountCommand, AccountId, Plan};

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody};
use crate::views::Data;
use crate::{metadata, service, AppState};
pub use wire::{AccountPatch, AccountPlanView, MeView, UsageView};

#[utoipa::path(get, path = "/api/v1/me", operation_id = "getMe", tag = "account",
    responses((status = 200, description = "OK", body = Data<MeView>)))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let user = state.store.user(caller.user_id).await?.ok_or(ApiError::Unauthenticated("the user no longer exists"))?;
    let plan = user.plan;
    let (databases, bytes) = state.store.account_usage(caller.account_id).await?;
    Ok(HttpResponse::Ok().json(Data {
        data: MeView {
            user_id: user.id.to_string(),
            email: user.email,
            platform_role: user.platform_role.as_str().into(),
            account_id: user.account_id.to_string(),
            plan: plan.as_str().into(),
            quotas: crate::views::quotas_view(state.config.plans.of(plan)),
            usage: UsageView { databases, storage_mb: bytes as f64 / (1024.0 * 1024.0) },
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
    caller.require_platform_admin()?;
    caller.require_full_account()?;
    let plan = Plan::parse(&body.0.plan)
        .ok_or_else(|| ApiError::InvalidRequest("invalid field `plan`: `free`, `pro` or `business`".into()))?;
    let account = AccountId::parse(&id).map_err(|_| ApiError::NotFound("account"))?;
    state.store.account_plan(account).await.map_err(|e| match e {
        eventstore::StoreError::NotFound => ApiError::NotFound("account"),
        e => e.into(),
    })?;
    service::execute_account(&state, account, &AccountCommand::ChangePlan { plan }, metadata(&req, &caller))
        .await?
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    Ok(HttpResponse::Ok().json(Data { data: AccountPlanView { id: account.to_string(), plan: plan.as_str().into() } }))
}
