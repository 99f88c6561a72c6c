use actix_web::{get, web, HttpResponse};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::views::{Data, OperationView};
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/operations/{id}", operation_id = "getOperation", tag = "operations",
    responses((status = 200, description = "OK", body = Data<OperationView>)))]
#[get("/operations/{id}")]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let op = control::reads::operation(&state.control, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(Data { data: crate::views::operation_view(op) }))
}
