//! The data API's keys and auth config: publishable keys, service keys, and the auth config
//! that verifies users' JWTs (owners and admins). The data API itself is served elsewhere.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use control::data_auth::{self, ByoJwtInput};
use control::data_keys::{self, DataKeyKind, Issued, NewDataKey, RateLimit};
use eventstore::data_api::DataKeyRow;

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody};
use crate::views::{Data, Page};
use crate::{metadata, AppState};
pub use wire::{
    AuthConfigBody, AuthConfigView, ByoJwtBody, ByoJwtView, CreatePublishableKey, CreateServiceKey,
    PublishableKeyCreated, PublishableKeyView, RateLimitBody, ServiceKeyCreated, ServiceKeyView,
};

fn publishable_view(k: DataKeyRow) -> PublishableKeyView {
    PublishableKeyView {
        id: k.id.to_string(),
        name: k.name,
        prefix: k.prefix,
        allowed_origins: k.spec.allowed_origins,
        exposed_schemas: k.spec.exposed_schemas,
        exposed_tables: k.spec.exposed_tables,
        rate_limit: k.spec.rate_limit.map(|r| RateLimitBody { rps: r.rps, burst: r.burst }),
        created_at: k.created_at,
        expires_at: k.expires_at,
    }
}

fn service_view(k: DataKeyRow) -> ServiceKeyView {
    ServiceKeyView {
        id: k.id.to_string(),
        name: k.name,
        prefix: k.prefix,
        created_at: k.created_at,
        expires_at: k.expires_at,
    }
}

/// A new publishable key for browsers: `publishable_key` (`brth_pk_…`) is shown this once.
/// A publishable key alone makes a request the database's `anon` role; with a JWT its auth
/// config verifies, `authenticated`.
#[utoipa::path(post, path = "/api/v1/databases/{id}/publishable-keys", operation_id = "createPublishableKey", request_body = CreatePublishableKey, tag = "data-api",
    responses((status = 201, description = "Created", body = Data<PublishableKeyCreated>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/databases/{id}/publishable-keys")]
pub async fn create_publishable(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<CreatePublishableKey>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let new = NewDataKey {
        name: b.name,
        allowed_origins: b.allowed_origins,
        exposed_schemas: b.exposed_schemas,
        exposed_tables: b.exposed_tables,
        rate_limit: b.rate_limit.map(|r| RateLimit { rps: r.rps, burst: r.burst }),
        expires_in_days: b.expires_in_days,
    };
    let meta = metadata(&req, &caller);
    let Issued { key, secret } =
        data_keys::create(&state.control, &caller, &id, DataKeyKind::Publishable, new, meta).await?;
    let data = PublishableKeyCreated { meta: publishable_view(key), publishable_key: secret };
    Ok(HttpResponse::Created().json(Data { data }))
}

/// The database's publishable keys that are not revoked (expired ones show their
/// `expires_at`); never a secret.
#[utoipa::path(get, path = "/api/v1/databases/{id}/publishable-keys", operation_id = "listPublishableKeys", tag = "data-api",
    responses((status = 200, description = "OK", body = Page<PublishableKeyView>), (status = 403, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[get("/databases/{id}/publishable-keys")]
pub async fn list_publishable(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rows = data_keys::list(&state.control, &caller, &id, DataKeyKind::Publishable).await?;
    Ok(HttpResponse::Ok().json(Page { data: rows.into_iter().map(publishable_view).collect(), next_cursor: None }))
}

/// Revokes a publishable key: refused from the very next request.
#[utoipa::path(delete, path = "/api/v1/databases/{id}/publishable-keys/{key_id}", operation_id = "revokePublishableKey", tag = "data-api",
    responses((status = 204, description = "No content"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[delete("/databases/{id}/publishable-keys/{key_id}")]
pub async fn revoke_publishable(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    revoke(req, state, caller, path, DataKeyKind::Publishable).await
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    kind: DataKeyKind,
) -> Result<HttpResponse, ApiError> {
    let (id, key_id) = path.into_inner();
    data_keys::revoke(&state.control, &caller, &id, kind, &key_id, metadata(&req, &caller)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new service key for servers: `service_key` (`brth_sk_…`) is shown this once. It makes
/// a request the database's `service` role, which bypasses row-level security: never ship it
/// to a browser.
#[utoipa::path(post, path = "/api/v1/databases/{id}/service-keys", operation_id = "createServiceKey", request_body = CreateServiceKey, tag = "data-api",
    responses((status = 201, description = "Created", body = Data<ServiceKeyCreated>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[post("/databases/{id}/service-keys")]
pub async fn create_service(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<CreateServiceKey>,
) -> Result<HttpResponse, ApiError> {
    let new = NewDataKey { name: body.0.name, expires_in_days: body.0.expires_in_days, ..NewDataKey::default() };
    let meta = metadata(&req, &caller);
    let Issued { key, secret } =
        data_keys::create(&state.control, &caller, &id, DataKeyKind::Service, new, meta).await?;
    let data = ServiceKeyCreated { meta: service_view(key), service_key: secret };
    Ok(HttpResponse::Created().json(Data { data }))
}

/// The database's service keys that are not revoked; never a secret.
#[utoipa::path(get, path = "/api/v1/databases/{id}/service-keys", operation_id = "listServiceKeys", tag = "data-api",
    responses((status = 200, description = "OK", body = Page<ServiceKeyView>), (status = 403, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[get("/databases/{id}/service-keys")]
pub async fn list_service(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rows = data_keys::list(&state.control, &caller, &id, DataKeyKind::Service).await?;
    Ok(HttpResponse::Ok().json(Page { data: rows.into_iter().map(service_view).collect(), next_cursor: None }))
}

/// Revokes a service key: refused from the very next request.
#[utoipa::path(delete, path = "/api/v1/databases/{id}/service-keys/{key_id}", operation_id = "revokeServiceKey", tag = "data-api",
    responses((status = 204, description = "No content"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[delete("/databases/{id}/service-keys/{key_id}")]
pub async fn revoke_service(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    revoke(req, state, caller, path, DataKeyKind::Service).await
}

fn config_view(c: domain::AuthConfig) -> AuthConfigView {
    AuthConfigView {
        auth_mode: "byo_jwt".into(),
        byo_jwt: ByoJwtView {
            jwks_url: c.jwks_url,
            jwks: c.jwks,
            issuer: c.issuer,
            audience: c.audience,
            subject_claim: c.subject_claim,
            claims_allowlist: c.claims_allowlist,
            claims_max_bytes: c.claims_max_bytes,
        },
    }
}

/// The database's auth config; 404 `NOT_FOUND` until one is set.
#[utoipa::path(get, path = "/api/v1/databases/{id}/auth-config", operation_id = "getAuthConfig", tag = "data-api",
    responses((status = 200, description = "OK", body = Data<AuthConfigView>), (status = 403, body = ErrorBody), (status = 422, description = "The database's engine lacks this (PostgreSQL only)", body = ErrorBody)))]
#[get("/databases/{id}/auth-config")]
pub async fn get_auth_config(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = data_auth::get(&state.control, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(Data { data: config_view(c) }))
}

/// Sets the auth config (the whole of it; left-out fields take their defaults). Effective on
/// the next data-API request.
#[utoipa::path(put, path = "/api/v1/databases/{id}/auth-config", operation_id = "putAuthConfig", request_body = AuthConfigBody, tag = "data-api",
    responses((status = 200, description = "OK", body = Data<AuthConfigView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/databases/{id}/auth-config")]
pub async fn put_auth_config(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: Json<AuthConfigBody>,
) -> Result<HttpResponse, ApiError> {
    let AuthConfigBody { auth_mode, byo_jwt: b } = body.0;
    let input = ByoJwtInput {
        jwks_url: b.jwks_url,
        jwks: b.jwks,
        issuer: b.issuer,
        audience: b.audience,
        subject_claim: b.subject_claim,
        claims_allowlist: b.claims_allowlist,
        // Past u32 is past the 65,536 the rules allow: refused there.
        claims_max_bytes: b.claims_max_bytes.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
    };
    let c = data_auth::put(&state.control, &caller, &id, &auth_mode, input, metadata(&req, &caller)).await?;
    Ok(HttpResponse::Ok().json(Data { data: config_view(c) }))
}
