use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use domain::{AccountCommand, AccountError, ApiKeyId, KeyScope};

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody, OrInternal};
use crate::limits::MAX_SELECTED_DATABASES;
use crate::views::Data;
use crate::{keys, metadata, service, AppState};
pub use wire::{CreateKey, KeyView, KeyWithSecret};

fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::PlanRequired(plan) => {
            ApiError::PlanRequired(format!("the {plan} plan does not include API keys"))
        }
        AccountError::KeyNotFound => ApiError::NotFound("API key"),
        e @ AccountError::TooManyKeys(_) => ApiError::QuotaExceeded(e.to_string()),
        AccountError::BadLabel | AccountError::EmptySelection => ApiError::InvalidRequest(e.to_string()),
        other => ApiError::Conflict(other.to_string()),
    }
}

async fn find_key(state: &AppState, caller: &Caller, id: &str) -> Result<KeyView, ApiError> {
    let id = ApiKeyId::parse(id).map_err(|_| ApiError::NotFound("API key"))?;
    let keys = state.store.api_keys(caller.account_id).await?;
    keys.into_iter().find(|k| k.id == id).map(view).ok_or(ApiError::NotFound("API key"))
}

fn view(k: eventstore::api_keys::KeyRow) -> KeyView {
    KeyView {
        id: k.id.to_string(),
        prefix: k.prefix,
        label: k.label,
        scope: k.scope,
        database_ids: k.database_ids.iter().map(|d| d.to_string()).collect(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
    }
}

/// A new key. `PLAN_REQUIRED` on the free plan, `QUOTA_EXCEEDED` past the account's cap
/// on live keys (default 50; revoked keys do not count).
#[utoipa::path(post, path = "/api/v1/api-keys", operation_id = "createApiKey", request_body = CreateKey, tag = "api-keys",
    responses((status = 201, description = "Created", body = Data<KeyWithSecret>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/api-keys")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    caller.require_full_account()?;
    let body = body.0;
    // The plan first: a refused caller costs one read, whatever the body holds.
    let plan = state.store.account_plan(caller.account_id).await?;
    if !plan.allows_api_keys() {
        return Err(account_error(AccountError::PlanRequired(plan.as_str())));
    }
    let scope = match (body.scope.as_deref().unwrap_or("all"), body.database_ids) {
        ("all", None) => KeyScope::All,
        ("all", Some(_)) => {
            return Err(ApiError::InvalidRequest("invalid field `database_ids`: only with scope `selected`".into()))
        }
        ("selected", Some(ids)) => {
            if ids.len() > MAX_SELECTED_DATABASES {
                return Err(ApiError::InvalidRequest(format!(
                    "invalid field `database_ids`: at most {MAX_SELECTED_DATABASES} databases"
                )));
            }
            let mut unique: Vec<&String> = Vec::new();
            for id in &ids {
                if !unique.contains(&id) {
                    unique.push(id);
                }
            }
            let mut parsed = Vec::new();
            for id in unique {
                // Only databases the caller owns or may see can be selected.
                let (db, _) = service::load_authorized(&state, &caller, id, crate::authz::Action::View).await?;
                if !parsed.contains(&db.id) {
                    parsed.push(db.id);
                }
            }
            KeyScope::Selected(parsed)
        }
        ("selected", None) => {
            return Err(ApiError::InvalidRequest("invalid field `database_ids`: required with scope `selected`".into()))
        }
        _ => return Err(ApiError::InvalidRequest("invalid field `scope`: `all` or `selected`".into())),
    };
    let new = keys::generate(&state.store.keyring()?.hash_key);
    let id = ApiKeyId::new();
    let cmd = AccountCommand::CreateKey {
        user_id: caller.user_id,
        api_key_id: id,
        prefix: new.prefix.clone(),
        hash: new.hash.clone(),
        label: body.label,
        scope,
        max_keys: state.config.limits.api_keys_per_account,
    };
    service::execute_account(&state, caller.account_id, &cmd, metadata(&req, &caller)).await?.map_err(account_error)?;
    let meta = find_key(&state, &caller, &id.to_string()).await?;
    Ok(HttpResponse::Created().json(Data { data: KeyWithSecret { meta, key: new.key } }))
}

#[utoipa::path(get, path = "/api/v1/api-keys", operation_id = "listApiKeys", tag = "api-keys",
    responses((status = 200, description = "OK", body = crate::views::Page<KeyView>), (status = 403, body = ErrorBody)))]
#[get("/api-keys")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_full_account()?;
    let keys: Vec<KeyView> = state.store.api_keys(caller.account_id).await?.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(crate::views::Page { data: keys, next_cursor: None }))
}

/// A new secret for the same key: the old secret stops working at once.
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/replace", operation_id = "replaceApiKey", tag = "api-keys",
    responses((status = 200, description = "OK", body = Data<KeyWithSecret>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/api-keys/{id}/replace")]
pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_full_account()?;
    let current = find_key(&state, &caller, &id).await?;
    let new = keys::generate(&state.store.keyring()?.hash_key);
    let api_key_id = ApiKeyId::parse(&current.id).or_internal("parsing a listed key's id")?;
    let cmd = AccountCommand::ReplaceKey { api_key_id, prefix: new.prefix.clone(), hash: new.hash.clone() };
    service::execute_account(&state, caller.account_id, &cmd, metadata(&req, &caller)).await?.map_err(account_error)?;
    let meta = find_key(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(Data { data: KeyWithSecret { meta, key: new.key } }))
}

/// Revoke a key, effective on the very next request.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", operation_id = "revokeApiKey", tag = "api-keys",
    responses((status = 204, description = "No content"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/api-keys/{id}")]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_full_account()?;
    let current = find_key(&state, &caller, &id).await?;
    let api_key_id = ApiKeyId::parse(&current.id).or_internal("parsing a listed key's id")?;
    service::execute_account(
        &state,
        caller.account_id,
        &AccountCommand::RevokeKey { api_key_id },
        metadata(&req, &caller),
    )
    .await?
    .map_err(account_error)?;
    Ok(HttpResponse::NoContent().finish())
}
