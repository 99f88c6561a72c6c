use actix_web::{get, web, HttpResponse};
use domain::OperationId;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::views::{Data, OperationView};
use crate::AppState;

#[utoipa::path(get, path = "/api/v1/operations/{id}", operation_id = "getOperation", tag = "operations",
    responses((status = 200, description = "OK", body = Data<OperationView>)))]
#[get("/operations/{id}")]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = OperationId::parse(&id).map_err(|_| ApiError::NotFound("operation"))?;
    let (op, account) = match state.store.operation(id).await {
        Ok(found) => found,
        Err(eventstore::StoreError::NotFound) => return Err(ApiError::NotFound("operation")),
        Err(e) => return Err(e.into()),
    };
    if account != caller.account_id || !caller.in_scope(op.database_id) {
        return Err(ApiError::NotFound("operation"));
    }
    Ok(HttpResponse::Ok().json(Data { data: crate::views::operation_view(op) }))
}
