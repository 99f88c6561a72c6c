//! Probes and the platform's self-description: `/healthz`, `/readyz`, `/metrics`,
//! `/api/v1/openapi.json`, `/api/v1/ca.pem`. None needs a credential.

use actix_web::{get, web, HttpResponse};
use wire::{Data, HealthView};

use crate::error::{ApiError, Error};
use crate::{AppState, MetricsRender};

/// The process is alive.
#[utoipa::path(get, path = "/healthz", operation_id = "getHealth", tag = "health", security(),
    responses((status = 200, description = "Alive: `status` is `ok`", body = Data<HealthView>)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Data { data: HealthView { status: "ok".into(), reason: None } })
}

/// The store answers and its migrations are applied.
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", tag = "health", security(),
    responses((status = 200, description = "Ready: `status` is `ready`", body = Data<HealthView>)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.store().ready().await {
        Ok(true) => Ok(HttpResponse::Ok().json(Data { data: HealthView { status: "ready".into(), reason: None } })),
        Ok(false) => Err(ApiError(Error::Unavailable("not ready: migrations pending".into()))),
        Err(_) => Err(ApiError(Error::Unavailable("not ready: the control-plane database is unreachable".into()))),
    }
}

/// This document: the API's contract (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "getOpenApiDocument", tag = "health", security(),
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
#[get("/openapi.json")]
pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    match state.store().host_regions().await {
        Ok(regions) if !regions.is_empty() => HttpResponse::Ok().json(crate::openapi::with_regions(&regions)),
        _ => HttpResponse::Ok().json(crate::openapi::document()),
    }
}

/// The platform CA's certificate: what the connection pooler's (and, later, hosts')
/// certificates chain to. Clients verify the pooler with it: save it where libpq looks
/// (`~/.postgresql/root.crt`, or `sslrootcert=`) and connect with `sslmode=verify-full`.
#[utoipa::path(get, path = "/api/v1/ca.pem", operation_id = "getCaCertificate", tag = "health", security(),
    responses(
        (status = 200, description = "The CA certificate (PEM)", content_type = "application/x-pem-file", body = String),
        (status = 404, description = "`NOT_FOUND`: this deployment runs no CA (its pooler offers no TLS)",
         body = wire::ErrorBody),
    ))]
#[get("/ca.pem")]
pub async fn ca_pem(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match &state.config.ca_pem {
        Some(pem) => Ok(HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .insert_header(("cache-control", "public, max-age=3600"))
            .body(pem.clone())),
        None => Err(ApiError(Error::NotFound("CA certificate"))),
    }
}

/// Prometheus metrics in the text exposition format. Served here only when the deployment
/// does not bind them to a separate listener (`metrics_listen`); then this path is 404.
#[utoipa::path(get, path = "/metrics", operation_id = "getMetrics", tag = "health", security(),
    responses((status = 200, description = "Metrics", content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(render: web::Data<MetricsRender>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body((render.0)())
}
