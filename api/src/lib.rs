//! Berth's HTTP API (actix-web): HTTP only. A handler extracts (the caller, the path, the
//! body), calls one function of the application layer (`control`), and serialises the
//! answer as API.md says; `control::Error` becomes a status and the error envelope here
//! (`error`). Also here: what is about HTTP itself — request ids, body limits, per-IP and
//! per-credential budgets, malformed-request guards, the dashboard's cookies, the OpenAPI
//! document and the route table it is checked against.

pub mod auth;
pub mod body;
mod catch_panic;
pub mod cookie;
pub mod error;
pub mod error_burst;
pub mod headguard;
pub mod listcache;
pub mod oidc;
pub mod openapi;
pub mod openapi_rules;
pub mod ratelimit;
pub mod request_id;
pub mod routes;
mod tls_io;
pub mod views;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use eventstore::{Metadata, Store};

use crate::error::{ApiError, Error};

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
    pub limits: control::limits::Limits,
    /// The dashboard's cookies are `Secure` even when the request came over plain HTTP.
    pub cookie_secure: bool,
    /// The platform CA's certificate, served at `GET /api/v1/ca.pem`.
    pub ca_pem: Option<String>,
    /// Serve HTTPS with this configuration (`--tls-cert/--tls-key`); cookies are then Secure.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
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
            limits: control::limits::Limits::default(),
            cookie_secure: false,
            ca_pem: None,
            tls: None,
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
    /// The application layer: the store and every use case's context.
    pub control: control::Control,
    pub config: ApiConfig,
    pub oidc: Option<oidc::Oidc>,
    /// Database listings, served while nothing committed since they were read.
    pub list_cache: listcache::ListCache,
    pub credential_limiter: Option<ratelimit::Limiter>,
    pub ip_limiter: Option<ratelimit::Limiter>,
    /// Data-API keys' own `rate_limit`s (each key its budget: `Limiter::take_with`).
    pub data_limiter: ratelimit::Limiter,
    pub errors: error_burst::ErrorBurst,
    /// Where backups are downloaded from (the workers' object store).
    pub objects: Option<opendal::Operator>,
}

impl AppState {
    /// Everything the API needs, loaded once (the OIDC key set included).
    pub async fn new(store: Store, config: ApiConfig) -> anyhow::Result<Self> {
        let settings = control::Settings {
            wait: config.create_wait,
            plans: config.plans.clone(),
            limits: config.limits,
            session_ttl: config.session_ttl,
        };
        let oidc = match &config.oidc {
            Some(c) => Some(oidc::Oidc::load(c).await?),
            None => None,
        };
        let objects = match &config.backups {
            Some(c) => Some(c.operator()?),
            None => None,
        };
        Ok(Self {
            control: control::Control::new(store, settings)?,
            objects,
            list_cache: listcache::ListCache::default(),
            errors: error_burst::ErrorBurst::new(config.error_burst.clone()),
            oidc,
            credential_limiter: config.credential_budget.map(ratelimit::Limiter::new),
            ip_limiter: config.ip_budget.map(ratelimit::Limiter::new),
            data_limiter: ratelimit::Limiter::new(ratelimit::Budget { rate: 1.0, burst: 1.0 }),
            config,
        })
    }

    /// The control-plane store.
    pub fn store(&self) -> &Store {
        &self.control.store
    }
}

/// Event metadata for a mutation made by `caller` in this request.
pub fn metadata(req: &HttpRequest, caller: &control::Caller) -> Metadata {
    Metadata {
        actor: caller.actor(),
        request_id: request_id_of(req),
        causation_id: None,
        correlation_id: Some(uuid::Uuid::now_v7()),
    }
}

pub fn request_id_of(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<request_id::RequestId>().map(|r| r.0.clone())
}

/// Every route, once. `configure` serves exactly these and `openapi::ApiDoc` documents exactly
/// these (plus `/metrics`, served where the deployment binds it), so no route can be served
/// without its entry in the document; the document's tests check each entry is complete.
macro_rules! with_routes {
    ($then:ident) => {
        $then! {
            root: [health::healthz, health::readyz],
            api: [
                health::openapi, health::ca_pem,
                databases::create, databases::list, databases::get, databases::remove,
                collaborators::list, collaborators::add, collaborators::change, collaborators::remove,
                api_keys::create, api_keys::list, api_keys::replace, api_keys::revoke,
                auth::session, auth::anonymous, auth::refresh, auth::claim, auth::logout,
                cookie::sign_in, cookie::methods,
                me::me, me::set_plan, accounts::list,
                lifecycle::stop, lifecycle::start, lifecycle::restart, lifecycle::reset_password,
                lifecycle::credentials,
                allowlist::list, allowlist::add, allowlist::remove,
                users::list, users::create, users::remove,
                backups::create, backups::list, backups::get, backups::download, backups::remove,
                backups::verify, backups::restore, backups::branch,
                activity::for_database, operations::get, activity::account,
                incidents::list, incidents::resolve,
                hosts::list, hosts::cordon, hosts::uncordon, hosts::drain, hosts::remove, hosts::move_database,
                inspect::metrics, inspect::schema, inspect::observability,
                sql::run, sql::queries, sql::get_settings, sql::put_settings, sql::list_approvals,
                sql::approve, sql::reject,
                migrations::list, migrations::apply, dump::dump,
                data_api::create_publishable, data_api::list_publishable, data_api::revoke_publishable,
                data_api::create_service, data_api::list_service, data_api::revoke_service,
                data_api::get_auth_config, data_api::put_auth_config
            ]
        }
    };
}
pub(crate) use with_routes;

macro_rules! register {
    (root: [$($rm:ident::$rf:ident),*], api: [$($am:ident::$af:ident),*]) => {
        fn root_routes(cfg: &mut web::ServiceConfig) {
            $(cfg.service(routes::$rm::$rf);)*
        }
        fn api_routes(cfg: &mut web::ServiceConfig) {
            $(cfg.service(routes::$am::$af);)*
        }
    };
}
with_routes!(register);

/// Prometheus text format; unauthenticated (bind `metrics_listen` to keep it private).
pub use routes::health::metrics as metrics_text;

/// No route matched: 405 (with `allow`) when the path is known but not the method, else 404.
async fn unrouted(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if let Some(pattern) = req.resource_map().match_pattern(req.path()) {
        let allow = openapi::methods_of(&pattern);
        if !allow.is_empty() {
            return Err(Error::MethodNotAllowed(allow.join(", ")).into());
        }
    }
    Err(Error::NotFound("route").into())
}

/// Routes and app data, shared by the server and in-process tests.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let limit = state.config.body_limit;
        if let Some(render) = state.config.metrics.clone() {
            cfg.app_data(web::Data::new(render)).route("/metrics", web::get().to(metrics_text));
        }
        cfg.app_data(state).app_data(web::Data::new(body::BodyLimit(limit)));
        configure_routes(cfg);
    }
}

/// The routes alone, with the extractors' error handlers (no state: unit tests route with it).
pub fn configure_routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|_, _| ApiError(Error::InvalidRequest("invalid query string".into())).into()),
    )
    .app_data(
        web::PathConfig::default().error_handler(|_, _| ApiError(Error::InvalidRequest("invalid path".into())).into()),
    )
    .configure(root_routes)
    .service(web::scope("/api/v1").configure(api_routes))
    // The data API: PostgREST's dialect, its own keys and errors (see `routes::rest`).
    .service(web::scope("/data/{database_id}/rest/v1").default_service(web::to(routes::rest::handle)))
    .default_service(web::to(unrouted));
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
                let res = actix_web::ResponseError::error_response(&ApiError(Error::RateLimited(wait)));
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
            tokio::time::sleep(control::key_usage::FLUSH_EVERY).await;
            flusher.control.key_usage.flush(&flusher.control.store).await;
        }
    });
    spawn_quiet_check(&state);
    // As `HttpServer::listen` does, but with each connection wrapped in `headguard::Guarded`
    // so even requests too malformed to route are answered in the envelope.
    use actix_service::{IntoServiceFactory, ServiceFactoryExt};
    let addr = listener.local_addr()?;
    // Over TLS the dashboard's cookies are Secure (`cookie::secure`).
    let acceptor = state.config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let server = actix_server::Server::build()
        .workers(workers)
        .shutdown_timeout(5)
        .listen("berth-api", listener, move || {
            // Innermost first: the request-id layer sees a panic's 500 like any other.
            let app = App::new()
                .wrap(actix_web::middleware::from_fn(catch_panic::middleware))
                .wrap(actix_web::middleware::from_fn(ip_budget))
                .wrap(actix_web::middleware::from_fn(request_id::middleware))
                .configure(configure(state.clone()))
                .configure(dashboard::configure);
            let app = app.into_factory().map_err(|e: actix_web::Error| e.error_response());
            let http = actix_http::HttpService::build()
                .local_addr(addr)
                .h1(actix_service::map_config(app, |_| actix_web::dev::AppConfig::default()));
            let acceptor = acceptor.clone();
            actix_service::fn_service(move |io: tokio::net::TcpStream| {
                // What `HttpServer` does for its own connections: without it Nagle's algorithm
                // holds a response's last segment until the client ACKs the one before, and
                // a client that delays its ACK (40 ms on Linux) stalls the answer.
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                let acceptor = acceptor.clone();
                async move {
                    let io = tls_io::accept(io, acceptor).await.map_err(actix_http::error::DispatchError::Io)?;
                    Ok::<_, actix_http::error::DispatchError>((headguard::Guarded::new(io), peer))
                }
            })
            .and_then(http)
        })?
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
            state.errors.resolve_if_quiet(&state.control.store);
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
