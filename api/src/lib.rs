//! Berth's HTTP API (actix-web): authentication, routing, JSON ⇄ domain, and one error type
//! mapped to API.md's codes. Handlers are thin; what they do lives in `service`.

pub mod auth;
pub mod authz;
pub mod body;
pub mod error;
pub mod error_burst;
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
    /// When set, `GET /metrics` on this listener serves it (else metrics live elsewhere).
    pub metrics: Option<MetricsRender>,
    /// What makes a burst of 5xx an `api_errors` incident.
    pub error_burst: error_burst::BurstConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            create_wait: Duration::from_secs(10),
            body_limit: 1 << 20,
            workers: 2,
            metrics: None,
            error_burst: Default::default(),
        }
    }
}

/// Renders the process's metrics in the Prometheus text format (the recorder is installed
/// by the binary, once per process).
#[derive(Clone)]
pub struct MetricsRender(pub std::sync::Arc<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for MetricsRender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsRender")
    }
}

pub struct AppState {
    pub store: Store,
    pub config: ApiConfig,
    pub errors: error_burst::ErrorBurst,
}

impl AppState {
    pub fn new(store: Store, config: ApiConfig) -> Self {
        let errors = error_burst::ErrorBurst::new(config.error_burst.clone());
        Self { store, config, errors }
    }
}

/// Event metadata for a mutation made by `caller` in this request.
pub fn metadata(req: &HttpRequest, caller: &Caller) -> Metadata {
    let request_id = req.extensions().get::<request_id::RequestId>().map(|r| r.0.clone());
    Metadata { actor: caller.actor(), request_id, causation_id: None, correlation_id: Some(uuid::Uuid::now_v7()) }
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(openapi::document())
}

/// Prometheus text format; unauthenticated (bind `metrics_listen` to keep it private).
pub async fn metrics_text(render: web::Data<MetricsRender>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body((render.0)())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}

/// Routes and app data, shared by the server and in-process tests.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let limit = state.config.body_limit;
        if let Some(render) = state.config.metrics.clone() {
            cfg.app_data(web::Data::new(render)).route("/metrics", web::get().to(metrics_text));
        }
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
                    .service(routes::activity::for_database)
                    .service(routes::operations::get)
                    .service(routes::activity::account)
                    .service(routes::incidents::list)
                    .service(routes::incidents::resolve)
                    .service(routes::inspect::metrics)
                    .service(routes::inspect::schema),
            )
            .default_service(web::to(not_found));
    }
}

/// Binds the API to `listener` and returns the running server (await it, or spawn it).
pub fn server(store: Store, config: ApiConfig, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let workers = config.workers;
    let state = web::Data::new(AppState::new(store, config));
    spawn_quiet_check(&state);
    let server = HttpServer::new(move || {
        App::new().wrap(actix_web::middleware::from_fn(request_id::middleware)).configure(configure(state.clone()))
    })
    .workers(workers)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Resolves a quiet `api_errors` incident even when no request comes to do it. Ends with
/// the server (it holds the state weakly).
fn spawn_quiet_check(state: &web::Data<AppState>) {
    let weak = std::sync::Arc::downgrade(&state.clone().into_inner());
    let every = (state.config.error_burst.quiet / 4).max(Duration::from_millis(50));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(state) = weak.upgrade() else { return };
            state.errors.resolve_if_quiet(&state.store);
        }
    });
}

/// Serves only `GET /metrics` on its own listener (`metrics_listen`), apart from the API.
pub fn metrics_server(render: MetricsRender, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let render = web::Data::new(render);
    Ok(HttpServer::new(move || App::new().app_data(render.clone()).route("/metrics", web::get().to(metrics_text)))
        .workers(1)
        .shutdown_timeout(1)
        .listen(listener)?
        .run())
}
