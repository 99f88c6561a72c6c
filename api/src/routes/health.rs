use actix_web::{get, web, HttpResponse};

use wire::HealthView;

use crate::AppState;

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthView { status: "ok".into(), reason: None })
}

/// The store answers and its migrations are applied.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200), (status = 503)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ready().await {
        Ok(true) => HttpResponse::Ok().json(HealthView { status: "ready".into(), reason: None }),
        Ok(false) => HttpResponse::ServiceUnavailable()
            .json(HealthView { status: "not ready".into(), reason: Some("migrations pending".into()) }),
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(HealthView { status: "not ready".into(), reason: Some("store unreachable".into()) }),
    }
}
