//! Berth's HTTP API (actix-web): authentication, routing, JSON ⇄ domain, and one error type
//! mapped to API.md's codes. Handlers are thin; what they do lives in `service`.

pub mod access;
pub mod auth;
pub mod authz;
pub mod backups;
pub mod body;
pub mod cookie;
pub mod error;
pub mod error_burst;
pub mod keycache;
pub mod keys;
pub mod limits;
pub mod listcache;
pub mod maintenance;
pub mod oidc;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod routes;
pub mod service;
pub mod session;
pub mod usage;
pub mod users;
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
    pub session_ttl: Duration,
    pub oidc: Option<oidc::OidcConfig>,
    pub plans: domain::PlanQuotas,
    /// Per credential (user); `None` disables.
    pub credential_budget: Option<ratelimit::Budget>,
    /// Per client IP address; `None` disables.
    pub ip_budget: Option<ratelimit::Budget>,
    /// When set, `GET /metrics` on this listener serves it (else metrics live elsewhere).
    pub metrics: Option<MetricsRender>,
    /// What makes a burst of 5xx an `api_errors` incident.
    pub error_burst: error_burst::BurstConfig,
    /// The object store backups are downloaded from (the workers' store).
    pub backups: Option<hostctl::objects::ObjectStoreConfig>,
    /// Caps on keys, manual backups and anonymous sign-ups.
    pub limits: limits::Limits,
    /// The dashboard's cookies are `Secure` even when the request came over plain HTTP.
    pub cookie_secure: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            create_wait: Duration::from_secs(10),
            body_limit: 1 << 20,
            workers: 2,
            session_ttl: Duration::from_secs(3600),
            oidc: None,
            plans: domain::PlanQuotas::default(),
            credential_budget: Some(ratelimit::Budget { rate: 50.0, burst: 200.0 }),
            ip_budget: Some(ratelimit::Budget { rate: 100.0, burst: 400.0 }),
            metrics: None,
            error_burst: Default::default(),
            backups: None,
            limits: limits::Limits::default(),
            cookie_secure: false,
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
    pub sessions: session::Sessions,
    pub oidc: Option<oidc::Oidc>,
    pub key_usage: usage::KeyUsage,
    /// API-key rows by prefix, kept fresh by the append listener (see `keycache`).
    pub key_cache: std::sync::Arc<keycache::KeyCache>,
    /// Database listings, served while nothing committed since they were read.
    pub list_cache: listcache::ListCache,
    pub credential_limiter: Option<ratelimit::Limiter>,
    pub ip_limiter: Option<ratelimit::Limiter>,
    /// Changes after every append (see `Store::listen_appends`): waiters wake on it.
    pub appends: tokio::sync::watch::Receiver<u64>,
    pub errors: error_burst::ErrorBurst,
    /// Where backups are downloaded from (the workers' object store).
    pub objects: Option<opendal::Operator>,
}

impl AppState {
    /// Everything the API needs, loaded once (the OIDC key set included).
    pub async fn new(store: Store, config: ApiConfig) -> anyhow::Result<Self> {
        let sessions = session::Sessions::new(
            &store.keyring()?.hash_key,
            chrono::Duration::from_std(config.session_ttl).unwrap_or(chrono::Duration::hours(1)),
        );
        let oidc = match &config.oidc {
            Some(c) => Some(oidc::Oidc::load(c).await?),
            None => None,
        };
        let objects = match &config.backups {
            Some(c) => Some(c.operator()?),
            None => None,
        };
        let key_cache = std::sync::Arc::new(keycache::KeyCache::default());
        let observer = key_cache.clone();
        Ok(Self {
            objects,
            appends: store.listen_appends_with(std::sync::Arc::new(move |s| observer.observe(s))),
            key_cache,
            list_cache: listcache::ListCache::default(),
            errors: error_burst::ErrorBurst::new(config.error_burst.clone()),
            sessions,
            oidc,
            key_usage: usage::KeyUsage::default(),
            credential_limiter: config.credential_budget.map(ratelimit::Limiter::new),
            ip_limiter: config.ip_budget.map(ratelimit::Limiter::new),
            store,
            config,
        })
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
                    .service(routes::collaborators::list)
                    .service(routes::collaborators::add)
                    .service(routes::collaborators::change)
                    .service(routes::collaborators::remove)
                    .service(routes::api_keys::create)
                    .service(routes::api_keys::list)
                    .service(routes::api_keys::replace)
                    .service(routes::api_keys::revoke)
                    .service(routes::auth::session)
                    .service(routes::auth::anonymous)
                    .service(routes::auth::refresh)
                    .service(routes::auth::claim)
                    .service(routes::auth::logout)
                    .service(cookie::sign_in)
                    .service(cookie::methods)
                    .service(routes::me::me)
                    .service(routes::me::set_plan)
                    .service(routes::lifecycle::stop)
                    .service(routes::lifecycle::start)
                    .service(routes::lifecycle::restart)
                    .service(routes::lifecycle::reset_password)
                    .service(routes::lifecycle::credentials)
                    .service(routes::allowlist::list)
                    .service(routes::allowlist::add)
                    .service(routes::allowlist::remove)
                    .service(routes::users::list)
                    .service(routes::users::create)
                    .service(routes::users::remove)
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
                    .service(routes::activity::account)
                    .service(routes::incidents::list)
                    .service(routes::incidents::resolve)
                    .service(routes::inspect::metrics)
                    .service(routes::inspect::schema),
            )
            .default_service(web::to(not_found));
    }
}

/// Per-client-IP budget, before anything else is done for the request. Health probes are
/// exempt so an orchestrator never sees a busy API as dead.
async fn ip_budget(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let probe = matches!(req.path(), "/healthz" | "/readyz" | "/metrics");
    if let (false, Some(state), Some(ip)) = (probe, req.app_data::<web::Data<AppState>>(), req.peer_addr()) {
        if let Some(limiter) = &state.ip_limiter {
            if let Err(wait) = limiter.take(&ip.ip().to_string()) {
                let res = actix_web::ResponseError::error_response(&ApiError::RateLimited(wait));
                return Ok(req.into_response(res));
            }
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Binds the API to `listener` and returns the running server (await it, or spawn it).
/// Also starts the task that records API key use.
pub async fn server(store: Store, config: ApiConfig, listener: TcpListener) -> anyhow::Result<actix_web::dev::Server> {
    let workers = config.workers;
    let state = web::Data::new(AppState::new(store, config).await?);
    let flusher = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(usage::FLUSH_EVERY).await;
            flusher.key_usage.flush(&flusher.store).await;
        }
    });
    spawn_quiet_check(&state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(ip_budget))
            .wrap(actix_web::middleware::from_fn(request_id::middleware))
            .configure(configure(state.clone()))
            .configure(dashboard::configure)
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
