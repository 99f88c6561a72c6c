use actix_web::{get, web, HttpResponse};

use crate::AppState;

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The store answers and its migrations are applied.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200), (status = 503)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ready().await {
        Ok(true) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Ok(false) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "not ready", "reason": "migrations pending" })),
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "not ready", "reason": "store unreachable" })),
    }
}
