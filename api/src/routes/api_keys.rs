use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use control::api_keys;

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody};
use crate::views::Data;
use crate::{metadata, AppState};
pub use wire::{CreateKey, KeyDatabase, KeyView, KeyWithSecret};

fn view(k: eventstore::api_keys::KeyRow) -> KeyView {
    KeyView {
        id: k.id.to_string(),
        prefix: k.prefix,
        label: k.label,
        scope: k.scope,
        database_ids: k.database_ids.iter().map(|d| d.to_string()).collect(),
        databases: k
            .database_ids
            .iter()
            .map(|d| KeyDatabase {
                id: d.to_string(),
                access: if k.read_only.contains(d) { "ro" } else { "rw" }.into(),
            })
            .collect(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
    }
}

fn with_secret(issued: api_keys::Issued) -> KeyWithSecret {
    KeyWithSecret { meta: view(issued.key), key: issued.secret }
}

/// A new key. `PLAN_REQUIRED` on the free plan, `QUOTA_EXCEEDED` past the account's cap
/// on live keys (default 50; revoked keys do not count). A selected key names its databases
/// with `database_ids` (each `rw`) or `databases` (each `ro` or `rw`), not both.
#[utoipa::path(post, path = "/api/v1/api-keys", operation_id = "createApiKey", request_body = CreateKey, tag = "api-keys",
    responses((status = 201, description = "Created", body = Data<KeyWithSecret>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/api-keys")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let CreateKey { label, scope, database_ids, databases } = body.0;
    let grants = api_keys::grants(database_ids, databases)?;
    let meta = metadata(&req, &caller);
    let issued = api_keys::create(&state.control, &caller, label, scope.as_deref(), grants, meta).await?;
    Ok(HttpResponse::Created().json(Data { data: with_secret(issued) }))
}

#[utoipa::path(get, path = "/api/v1/api-keys", operation_id = "listApiKeys", tag = "api-keys",
    responses((status = 200, description = "OK", body = crate::views::Page<KeyView>), (status = 403, body = ErrorBody)))]
#[get("/api-keys")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let keys: Vec<KeyView> = api_keys::list(&state.control, &caller).await?.into_iter().map(view).collect();
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
    let issued = api_keys::replace(&state.control, &caller, &id, metadata(&req, &caller)).await?;
    Ok(HttpResponse::Ok().json(Data { data: with_secret(issued) }))
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
    api_keys::revoke(&state.control, &caller, &id, metadata(&req, &caller)).await?;
    Ok(HttpResponse::NoContent().finish())
}
