//! Berth's HTTP API (actix-web): authentication, routing, JSON ⇄ domain, and one error type
//! mapped to API.md's codes. Handlers are thin; what they do lives in `service`.

pub mod auth;
pub mod authz;
pub mod backups;
pub mod body;
pub mod error;
pub mod keys;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod service;
pub mod views;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use eventstore::{Metadata, Store};

use crate::auth::Caller;
use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long `POST /databases` waits for provisioning before answering 202.
    pub create_wait: Duration,
    /// Request bodies over this many bytes are refused with 413.
    pub body_limit: usize,
    pub workers: usize,
    /// The object store backups are downloaded from (the workers' store).
    pub backups: Option<hostctl::objects::ObjectStoreConfig>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self { create_wait: Duration::from_secs(10), body_limit: 1 << 20, workers: 2, backups: None }
    }
}

pub struct AppState {
    pub store: Store,
    pub config: ApiConfig,
    pub objects: Option<opendal::Operator>,
}

/// Event metadata for a mutation made by `caller` in this request.
pub fn metadata(req: &HttpRequest, caller: &Caller) -> Metadata {
    let request_id = req.extensions().get::<request_id::RequestId>().map(|r| r.0.clone());
    Metadata { actor: caller.actor(), request_id, causation_id: None, correlation_id: Some(uuid::Uuid::now_v7()) }
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(openapi::document())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}

/// Routes and app data, shared by the server and in-process tests.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let limit = state.config.body_limit;
        cfg.app_data(state)
            .app_data(web::Data::new(body::BodyLimit(limit)))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::InvalidRequest(format!("invalid query string: {e}")).into()),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| ApiError::InvalidRequest(format!("invalid path: {e}")).into()),
            )
            .service(routes::health::healthz)
            .service(routes::health::readyz)
            .service(
                web::scope("/api/v1")
                    .route("/openapi.json", web::get().to(openapi_json))
                    .service(routes::databases::create)
                    .service(routes::databases::list)
                    .service(routes::databases::get)
                    .service(routes::databases::remove)
                    .service(routes::backups::create)
                    .service(routes::backups::list)
                    .service(routes::backups::get)
                    .service(routes::backups::download)
                    .service(routes::backups::remove)
                    .service(routes::backups::verify)
                    .service(routes::backups::restore)
                    .service(routes::backups::branch)
                    .service(routes::activity::for_database)
                    .service(routes::operations::get)
                    .service(routes::activity::account),
            )
            .default_service(web::to(not_found));
    }
}

/// Binds the API to `listener` and returns the running server (await it, or spawn it).
pub fn server(store: Store, config: ApiConfig, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let workers = config.workers;
    let objects = match &config.backups {
        Some(c) => Some(c.operator().map_err(std::io::Error::other)?),
        None => None,
    };
    let state = web::Data::new(AppState { store, config, objects });
    let server = HttpServer::new(move || {
        App::new().wrap(actix_web::middleware::from_fn(request_id::middleware)).configure(configure(state.clone()))
    })
    .workers(workers)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}
