//! Every response carries `x-request-id` (the client's, if it sent a sane one), every log
//! line of a request carries it, and error bodies repeat it. Also records HTTP metrics.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpMessage;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn accept_client_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub async fn middleware(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| accept_client_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::now_v7().simple()));
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = method_label(req.method());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let res = next.call(req).instrument(span.clone()).await?;
    let route = route_label(res.request().match_pattern());
    let status = res.status();
    metrics::counter!("berth_http_requests_total", "method" => method, "route" => route.clone(),
        "status" => status.as_u16().to_string())
    .increment(1);
    metrics::histogram!("berth_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    if status.is_server_error() {
        span.in_scope(|| tracing::warn!(status = status.as_u16(), "request failed"));
    }
    let fault = res.response().extensions().get::<crate::error_burst::NotAFault>().is_none();
    if let Some(state) = res.request().app_data::<actix_web::web::Data<crate::AppState>>().filter(|_| fault) {
        state.errors.observe(state.store(), status.as_u16());
    }
    let mut res = res.map_into_boxed_body();
    // Error bodies were rendered without the id; put it in.
    if status.is_client_error() || status.is_server_error() {
        res = fill_error_request_id(res, &id).await;
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static(HEADER), v);
    }
    Ok(res)
}

/// The method as a metrics label, from a closed set: a client inventing methods must not
/// invent series.
fn method_label(m: &actix_web::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// The matched route template (from the finite route table), else `other`; never the raw
/// path. A template that matched only a scope (`/api/v1`, with no route under it) is `other`
/// too.
fn route_label(pattern: Option<String>) -> String {
    match pattern {
        Some(p) if p != "/api/v1" && !p.is_empty() => p,
        _ => "other".into(),
    }
}

async fn fill_error_request_id(res: ServiceResponse<BoxBody>, id: &str) -> ServiceResponse<BoxBody> {
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut v) if v.get("error").is_some() => {
            v["error"]["request_id"] = serde_json::Value::String(id.to_owned());
            serde_json::to_vec(&v).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    let res = head.set_body(body).map_into_boxed_body();
    ServiceResponse::new(req, res)
}
