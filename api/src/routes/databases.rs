use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use domain::DatabaseId;

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, Error, ErrorBody, OrInternal};
use crate::listcache::ListKey;
use crate::views::{CreatedDatabase, Data, DatabaseDetail, DatabaseView, Page};
use crate::{metadata, AppState};
use control::authz::{role_on, Action, DbRole};
use control::databases;
pub use wire::{CreateDatabase, PageQuery};

pub use control::reads::page_limit;

/// Create a database; 201 when it is ready within the server's wait budget, else 202.
#[utoipa::path(post, path = "/api/v1/databases", operation_id = "createDatabase", request_body = CreateDatabase, tag = "databases",
    responses((status = 201, description = "Created", body = Data<CreatedDatabase>), (status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<CreatedDatabase>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/databases")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CreateDatabase>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let meta = metadata(&req, &caller);
    let (engine, region) = (body.engine.as_deref(), body.region.as_deref());
    let created = databases::create(&state.control, &caller, &body.name, engine, region, meta).await?;
    let (status, created) = crate::views::created_view(created);
    Ok(HttpResponse::build(status).json(Data { data: created }))
}

#[utoipa::path(get, path = "/api/v1/databases", operation_id = "listDatabases", params(PageQuery), tag = "databases",
    responses((status = 200, description = "OK", body = Page<DatabaseView>)))]
#[get("/databases")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: crate::body::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = match &query.cursor {
        Some(c) => Some(DatabaseId::parse(c).map_err(|_| Error::InvalidRequest("invalid field `cursor`".into()))?),
        None => None,
    };
    let key = ListKey {
        account: caller.account_id,
        user: caller.user_id,
        only: caller.selected.clone(),
        read_only: caller.read_only.clone(),
        after,
        limit,
    };
    let page = state.list_cache.visible_databases(state.store(), key).await?;
    // Rendered once per cached page: it depends only on the rows and the key (the caller's
    // role on each database follows from the account and the key's `ro` databases, which are
    // part of the key).
    let body = page.body(|rows| {
        let next_cursor = (rows.len() as i64 == limit).then(|| rows.last().map(|(d, _)| d.id.to_string())).flatten();
        let data = rows
            .iter()
            .filter_map(|(db, collab)| {
                role_on(&caller, db, collab.as_deref()).map(|role| crate::views::database_view(db, role))
            })
            .collect();
        serde_json::to_vec(&Page { data, next_cursor }).map(Into::into).or_internal("serialising the list of databases")
    })?;
    Ok(HttpResponse::Ok().content_type(actix_web::http::header::ContentType::json()).body(body))
}

#[utoipa::path(get, path = "/api/v1/databases/{id}", operation_id = "getDatabase", tag = "databases",
    responses((status = 200, description = "OK", body = Data<DatabaseDetail>)))]
#[get("/databases/{id}")]
pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (db, role) = databases::load_authorized(&state.control, &caller, &id, Action::View).await?;
    let (last_backup_at, last_verified_backup_at) = state.store().last_backup_times(db.id).await?;
    let detail = DatabaseDetail {
        username: db.name.to_string(),
        last_backup_at,
        last_verified_backup_at,
        database: crate::views::database_view(&db, role),
    };
    Ok(HttpResponse::Ok().json(Data { data: detail }))
}

/// Delete a database: its PgBouncer pool, its database and its role. Owner only.
#[utoipa::path(delete, path = "/api/v1/databases/{id}", operation_id = "deleteDatabase", tag = "databases",
    responses((status = 202, description = "Accepted: still under way (poll `operation_id`)", body = Data<DatabaseView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/databases/{id}")]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (db, operation_id) = databases::delete(&state.control, &caller, &id, metadata(&req, &caller)).await?;
    let mut view = crate::views::database_view(&db, DbRole::Owner);
    view.operation_id = Some(operation_id.to_string());
    Ok(HttpResponse::Accepted().json(Data { data: view }))
}
