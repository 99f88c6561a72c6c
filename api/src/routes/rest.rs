//! `{API}/data/{database_id}/rest/v1/…`: the PostgREST-compatible data API that
//! `createClient("{API}/data/{database_id}", publishableKey)` from `@supabase/supabase-js`
//! calls. Outside `/api/v1` and its credentials: a request carries a data-API key in
//! `apikey` (publishable `brth_pk_…` or service `brth_sk_…`) and, optionally, a user's JWT in
//! `Authorization: Bearer` (supabase-js sends the publishable key there too when no user is
//! signed in: that is no JWT). Errors are PostgREST's `{code, message, details, hint}`.
//!
//! - **Who**: a service key → the `.service` role (bypasses row-level security); a
//!   publishable key → `.anon`, or `.authenticated` with a JWT the database's auth config
//!   verifies (its claims, filtered, in `request.jwt.claims`). Unknown, revoked, expired or
//!   another database's keys are 401, checked on every request.
//! - **CORS**: a preflight (`OPTIONS`) carries no key, so it is answered for any origin;
//!   the request itself is refused (403) from an `Origin` the key does not allow, and its
//!   answer names only that origin. Keys without `allowed_origins` allow every origin.
//! - **Rate**: a key's `rate_limit` is a token bucket per key in each API process; past it
//!   429 with `retry-after`.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use control::data_api::{Access, DataRequest, DataResponse};
use control::data_keys::DataKeyKind;
use hostctl::data_api::DataRole;

use crate::AppState;

const ALLOW_METHODS: &str = "GET, HEAD, POST, PATCH, DELETE, OPTIONS";
const EXPOSE_HEADERS: &str = "Content-Range, Content-Profile, Content-Location, Preference-Applied, Location";

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn respond(r: DataResponse, origin: Option<&str>) -> HttpResponse {
    let mut out = HttpResponse::build(actix_web::http::StatusCode::from_u16(r.status).unwrap_or_default());
    for (k, v) in &r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            out.insert_header((k, v));
        }
    }
    if let Some(origin) = origin.and_then(|o| HeaderValue::try_from(o).ok()) {
        out.insert_header(("access-control-allow-origin", origin));
        out.insert_header(("access-control-expose-headers", EXPOSE_HEADERS));
        out.insert_header(("vary", "Origin"));
    }
    if r.status == 204 || r.body.is_empty() {
        return out.finish();
    }
    out.body(r.body)
}

fn refuse(status: u16, code: &str, message: &str, origin: Option<&str>) -> HttpResponse {
    respond(DataResponse::error(status, code, message, None, None), origin)
}

/// A preflight: any origin, the methods and the headers it asks for.
fn preflight(req: &HttpRequest) -> HttpResponse {
    let mut out = HttpResponse::Ok();
    if let Some(origin) = req.headers().get("origin") {
        out.insert_header(("access-control-allow-origin", origin.clone()));
        out.insert_header(("vary", "Origin"));
    }
    out.insert_header(("access-control-allow-methods", ALLOW_METHODS));
    let asked = req.headers().get("access-control-request-headers").cloned();
    out.insert_header((
        "access-control-allow-headers",
        asked.unwrap_or(HeaderValue::from_static(
            "apikey, authorization, content-type, prefer, range, accept-profile, content-profile, x-client-info",
        )),
    ));
    out.insert_header(("access-control-max-age", "600"));
    out.finish()
}

/// The rest of the path after `/rest/v1/`, percent-decoded.
fn resource_path(req: &HttpRequest) -> Option<String> {
    let raw = req.path().split_once("/rest/v1")?.1.trim_start_matches('/');
    percent_encoding::percent_decode_str(raw).decode_utf8().ok().map(|s| s.into_owned())
}

/// Whether a bearer token is a JWT (three base64url parts), not the key sent again.
fn is_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with("brth_")
}

pub async fn handle(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    if req.method() == actix_web::http::Method::OPTIONS {
        return preflight(&req);
    }
    let origin = header(&req, "origin");
    let Some(db_id) = req.match_info().get("database_id").map(str::to_owned) else {
        return refuse(404, "PGRST205", "no such database", origin);
    };
    let ctx = &state.control;
    let Ok(id) = domain::DatabaseId::parse(&db_id) else {
        return refuse(401, "PGRST301", "no valid API key for this database", origin);
    };
    let Some(presented) = header(&req, "apikey") else {
        return refuse(401, "PGRST301", "an apikey header is required", origin);
    };
    let grant = match control::data_keys::authenticate(ctx, id, presented).await {
        Ok(g) => g,
        Err(_) => return refuse(401, "PGRST301", "no valid API key for this database", origin),
    };
    if let Some(o) = origin {
        if !grant.allowed_origins.is_empty() && !grant.allowed_origins.iter().any(|a| a == o) {
            return refuse(403, "42501", &format!("this key does not allow requests from {o}"), None);
        }
    }
    if let Some(limit) = &grant.rate_limit {
        let budget = crate::ratelimit::Budget { rate: limit.rps, burst: limit.burst };
        if let Err(wait) = state.data_limiter.take_with(&grant.key_id, budget) {
            let mut r = refuse(429, "PGRST429", "this key's rate limit is spent", origin);
            let secs = wait.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::try_from(secs) {
                r.headers_mut().insert(HeaderName::from_static("retry-after"), v);
            }
            return r;
        }
    }
    let bearer = header(&req, "authorization")
        .and_then(|a| a.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| is_jwt(t));
    let (role, claims, subject) = match (&grant.kind, bearer) {
        (DataKeyKind::Service, _) => (DataRole::Service, serde_json::json!({}), None),
        (DataKeyKind::Publishable, None) => (DataRole::Anon, serde_json::json!({}), None),
        (DataKeyKind::Publishable, Some(jwt)) => match control::data_auth::verify(ctx, id, jwt).await {
            Ok(v) => (DataRole::Authenticated, v.claims, Some(v.subject)),
            Err(e) if e.is_unavailable() => return refuse(503, "PGRST000", &e.to_string(), origin),
            Err(e) => return refuse(401, "PGRST301", &e.to_string(), origin),
        },
    };
    let db = match control::data_cache::database(ctx, id).await {
        Ok(db) if db.state == domain::DatabaseState::Running && db.locked_reason.is_none() => db,
        Ok(_) => return refuse(503, "PGRST000", "the database is not running", origin),
        Err(_) => return refuse(401, "PGRST301", "no valid API key for this database", origin),
    };
    let Some(path) = resource_path(&req) else {
        return refuse(404, "PGRST205", "no such resource", origin);
    };
    let Ok(query) = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string()) else {
        return refuse(400, "PGRST100", "the query string cannot be read", origin);
    };
    let headers =
        req.headers().iter().filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))).collect();
    let access = Access {
        role,
        claims,
        schemas: grant.exposed_schemas.clone(),
        tables: grant.exposed_tables.clone(),
        key_id: grant.key_id.clone(),
        subject,
    };
    let request = DataRequest {
        method: req.method().as_str().to_owned(),
        path,
        query,
        headers,
        body: (!body.is_empty()).then_some(body),
    };
    let meta = eventstore::Metadata {
        actor: domain::Actor::system(),
        request_id: crate::request_id_of(&req),
        causation_id: None,
        correlation_id: Some(uuid::Uuid::now_v7()),
    };
    let allowed = origin.map(|o| if grant.allowed_origins.is_empty() { "*" } else { o });
    respond(control::data_api::serve(ctx, &db, &access, request, meta).await, allowed)
}
