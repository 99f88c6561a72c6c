//! The data API (`{API}/data/{database_id}/rest/v1/…`): one PostgREST request, planned by
//! the `rest` crate and run by `hostctl::data_api` under the role the caller's key and JWT
//! give. Who the caller is (keys, JWT) is decided before [`serve`]; this module runs it.
//!
//! - **Roles** are made on a database's first request in each process (idempotent, so
//!   databases made by an older Berth get them): see `hostctl::data_api`. The
//!   authenticator's password is an HMAC of the platform's hash key and the database id,
//!   derived in every API process, never stored.
//! - **The schema cache** (tables, columns, foreign keys, functions of the exposed schemas)
//!   is read per database and kept [`CACHE_FOR`]; a request naming something the cache does
//!   not know reads it again first (at most every [`RELOAD_GAP`]), so a table made a moment
//!   ago is served at once, as after PostgREST's `NOTIFY pgrst, 'reload schema'`.
//! - **Exposure**: a key's `exposed_schemas` bound `Accept-Profile`/`Content-Profile`; its
//!   `exposed_tables`, when set, name every table, embedded resource and function a request
//!   may touch.
//! - **Bounds**: `[limits] data_api_timeout_secs` (statement timeout, and our own deadline)
//!   and `data_api_max_rows` (a read's window is cut to it).
//! - Every request that reaches the database is in the per-query audit (source `data_api`,
//!   the planned SQL — values are parameters, so the text holds none).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{DatabaseId, QuerySource};
use eventstore::queries::DatabaseRow;
use eventstore::Metadata;
use hostctl::data_api::{DataRole, DataRow, DataStatement};
use hostctl::sql::SqlError;
use hostctl::TenantLogin;
use rest::{SchemaCache, Target};

use crate::error::{Error, OrInternal};
use crate::inspect::{host_conn, host_error};
use crate::Control;

/// How long a database's schema cache is used before it is read again.
pub const CACHE_FOR: Duration = Duration::from_secs(5);
/// The least time between two reads of one database's cache forced by an unknown name.
pub const RELOAD_GAP: Duration = Duration::from_millis(200);

/// A schema cache's key: the database and the schemas read.
type CacheKey = (DatabaseId, Vec<String>);

/// Per-process state of the data API.
#[derive(Default)]
pub struct DataApiState {
    /// Databases whose roles this process has made sure of.
    roles: parking_lot::Mutex<std::collections::HashSet<DatabaseId>>,
    roles_turn: tokio::sync::Mutex<()>,
    /// By database and the exposed schemas read (keys of one database may expose others).
    schemas: parking_lot::Mutex<HashMap<CacheKey, (Instant, Arc<SchemaCache>)>>,
    /// Held while a schema cache is read: requests arriving at a cold or stale cache wait for
    /// one read instead of each opening a session of its own (eight at once were past the
    /// authenticator's connection limit).
    schemas_turn: tokio::sync::Mutex<()>,
    /// The authenticator's sessions per database (`hostctl::data_api::pool`).
    pools: parking_lot::Mutex<HashMap<DatabaseId, hostctl::data_api::DataPool>>,
}

impl DataApiState {
    /// Forgets what this process made for `db` (a host that did not answer, roles gone
    /// under us): the next request makes them again.
    fn forget(&self, db: DatabaseId) {
        self.roles.lock().remove(&db);
        self.pools.lock().remove(&db);
        self.schemas.lock().retain(|(d, _), _| *d != db);
    }
}

/// What the caller may do, decided from its key and JWT.
#[derive(Debug, Clone)]
pub struct Access {
    pub role: DataRole,
    /// `request.jwt.claims` (filtered by the auth config); `{}` without a JWT.
    pub claims: serde_json::Value,
    pub schemas: Vec<String>,
    /// Empty: every table and function of the exposed schemas.
    pub tables: Vec<String>,
    /// Who the audit names: the key, and the JWT's subject when there is one.
    pub key_id: String,
    pub subject: Option<String>,
}

/// One HTTP request, as the route read it (percent-decoded query pairs).
#[derive(Debug, Clone)]
pub struct DataRequest {
    pub method: String,
    /// What follows `/rest/v1/`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<bytes::Bytes>,
}

/// The answer, in PostgREST's dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct DataResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl DataResponse {
    /// PostgREST's error shape.
    pub fn error(status: u16, code: &str, message: &str, details: Option<&str>, hint: Option<&str>) -> Self {
        let body = serde_json::json!({ "code": code, "message": message, "details": details, "hint": hint });
        Self { status, headers: json_type(), body: body.to_string() }
    }

    fn of(e: &rest::Error) -> Self {
        let body = serde_json::to_string(&e.body()).unwrap_or_else(|_| "{}".into());
        Self { status: e.status(), headers: json_type(), body }
    }
}

fn json_type() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json; charset=utf-8".into())]
}

fn password(ctx: &Control, db: DatabaseId) -> Result<String, Error> {
    authenticator_password(&ctx.store, db)
}

/// The password of database `db`'s data-API login (derived from the platform's hash key,
/// never stored): a move makes the login on the new host with it.
pub fn authenticator_password(store: &eventstore::Store, db: DatabaseId) -> Result<String, Error> {
    let keyring = store.keyring()?;
    Ok(crate::keys::hash_secret(&keyring.hash_key, &format!("data-api:{}", db.uuid())))
}

/// The authenticator's login of `db`, its roles made first if this process has not.
async fn login(ctx: &Control, db: &DatabaseRow) -> Result<TenantLogin, Error> {
    let password = password(ctx, db.id)?;
    let state = &ctx.data_api;
    if !state.roles.lock().contains(&db.id) {
        let _turn = state.roles_turn.lock().await;
        if !state.roles.lock().contains(&db.id) {
            // A user of a name the data API's roles now take, made before they were reserved:
            // its login role must not be turned into one of ours.
            let users = ctx.store.database_users(db.id).await?;
            if let Some(u) = users.iter().find(|u| domain::dbuser::DATA_API_ROLES.contains(&u.name.as_str())) {
                return Err(Error::Conflict(format!(
                    "the database has a user named {}, a name the data API's roles take: remove that user first",
                    u.name
                )));
            }
            let conn = host_conn(ctx, db.host_id).await?;
            let pw = password.clone();
            let verifier =
                tokio::task::spawn_blocking(move || postgres_protocol::password::scram_sha_256(pw.as_bytes()))
                    .await
                    .or_internal("computing a SCRAM verifier")?;
            let plan = ctx.store.account_plan(db.account_id).await?;
            let temp_mb = ctx.settings.plans.of(plan).temp_file_limit_mb;
            conn.ensure_data_roles(db.id, &db.name, &verifier, temp_mb).await.map_err(|e| host_error(&e))?;
            state.roles.lock().insert(db.id);
        }
    }
    Ok(TenantLogin::data_authenticator(&db.name, password))
}

/// Makes the database's data-API roles if this process has not (a key's creation calls it,
/// so the tenant can grant the roles rights before the first request).
pub async fn ensure_roles(ctx: &Control, db: &DatabaseRow) -> Result<(), Error> {
    login(ctx, db).await.map(drop)
}

/// The schema cache of `db` for `schemas`, read again when older than `max_age`.
async fn schema_cache(
    ctx: &Control,
    db: &DatabaseRow,
    login: &TenantLogin,
    schemas: &[String],
    max_age: Duration,
) -> Result<Arc<SchemaCache>, Error> {
    let key = (db.id, schemas.to_vec());
    let fresh = |asked: Instant| {
        ctx.data_api
            .schemas
            .lock()
            .get(&key)
            .filter(|(at, _)| at.elapsed() < max_age || *at >= asked)
            .map(|(_, cache)| cache.clone())
    };
    let asked = Instant::now();
    if let Some(cache) = fresh(asked) {
        return Ok(cache);
    }
    let _turn = ctx.data_api.schemas_turn.lock().await;
    // Read by another request while this one waited.
    if let Some(cache) = fresh(asked) {
        return Ok(cache);
    }
    let host = crate::data_cache::host(ctx, db.host_id).await.map_err(|e| host_error(&e))?;
    let doc = hostctl::data_api::catalog(&host, login, &db.name, rest::CATALOG_QUERY, &rest::catalog_params(schemas))
        .await
        .map_err(|e| host_error(&e))?;
    let value: serde_json::Value = serde_json::from_str(&doc).or_internal("reading the schema cache")?;
    let cache = Arc::new(SchemaCache::from_json(value).or_internal("reading the schema cache")?);
    let mut caches = ctx.data_api.schemas.lock();
    if caches.len() > 10_000 {
        // Bounded: forget them all (each is read again on its next request).
        caches.clear();
    }
    caches.insert(key, (Instant::now(), cache.clone()));
    drop(caches);
    Ok(cache)
}

/// Whether the planner's error says the cache may be behind the database.
fn maybe_stale(e: &rest::Error) -> bool {
    matches!(e.code(), "PGRST200" | "PGRST202" | "PGRST204" | "PGRST205" | "42703")
}

/// Refused when `exposed` is set and the request names a table, embed or function not in it.
fn check_exposed(req: &rest::Request, exposed: &[String]) -> Result<(), rest::Error> {
    if exposed.is_empty() {
        return Ok(());
    }
    let listed = |name: &str| exposed.iter().any(|t| t == name);
    let target = match &req.target {
        Target::Table(t) | Target::Rpc(t) => t,
    };
    let mut names = vec![target.clone()];
    fn embeds(items: &[rest::ast::SelectItem], out: &mut Vec<String>) {
        for item in items {
            if let rest::ast::SelectItem::Embed(e) = item {
                out.push(e.name.clone());
                embeds(&e.select, out);
            }
        }
    }
    embeds(&req.select, &mut names);
    match names.into_iter().find(|n| !listed(n)) {
        None => Ok(()),
        Some(name) => Err(rest::Error::TableNotFound { schema: req.schema.clone(), name }),
    }
}

/// Serves one request for `db` with `access` (see the module's documentation).
pub async fn serve(ctx: &Control, db: &DatabaseRow, access: &Access, req: DataRequest, meta: Metadata) -> DataResponse {
    match serve_inner(ctx, db, access, req, meta).await {
        Ok(r) => r,
        Err(Error::Conflict(message)) => DataResponse::error(409, "PGRST000", &message, None, None),
        Err(e) => {
            tracing::warn!(error = %e, database = %db.id, "the data API could not serve a request");
            DataResponse::error(503, "PGRST000", "the database is unavailable", None, None)
        }
    }
}

async fn serve_inner(
    ctx: &Control,
    db: &DatabaseRow,
    access: &Access,
    req: DataRequest,
    meta: Metadata,
) -> Result<DataResponse, Error> {
    let mut parsed = match rest::parse_request(&req.method, &req.path, &req.query, &req.headers, &access.schemas) {
        Ok(p) => p,
        Err(e) => return Ok(DataResponse::of(&e)),
    };
    if let Err(e) = check_exposed(&parsed, &access.tables) {
        return Ok(DataResponse::of(&e));
    }
    let limits = ctx.settings.limits;
    if parsed.method.is_read() {
        // Reads return at most the cap (writes take no limit: PostgREST refuses one).
        let root = parsed.root_window();
        let capped = rest::Window {
            offset: root.offset,
            limit: Some(root.limit.unwrap_or(u64::MAX).min(limits.data_api_max_rows)),
        };
        parsed.windows.retain(|(p, _)| !p.is_empty());
        parsed.windows.push((Vec::new(), capped));
    }

    let login = login(ctx, db).await?;
    let all_schemas = access.schemas.clone();
    let mut cache = schema_cache(ctx, db, &login, &all_schemas, CACHE_FOR).await?;
    let body = req.body.as_deref();
    let plan = match rest::plan(&parsed, &cache, body) {
        Ok(p) => p,
        Err(e) if maybe_stale(&e) => {
            cache = schema_cache(ctx, db, &login, &all_schemas, RELOAD_GAP).await?;
            match rest::plan(&parsed, &cache, body) {
                Ok(p) => p,
                Err(e) => return Ok(DataResponse::of(&e)),
            }
        }
        Err(e) => return Ok(DataResponse::of(&e)),
    };
    let host = crate::data_cache::host(ctx, db.host_id).await.map_err(|e| host_error(&e))?;
    let timeout = Duration::from_secs(limits.data_api_timeout_secs);
    let existing = ctx.data_api.pools.lock().get(&db.id).cloned();
    let pool = match existing {
        Some(p) => p,
        None => {
            let p = hostctl::data_api::pool(&host, &db.name, &login, timeout).map_err(|e| host_error(&e))?;
            ctx.data_api.pools.lock().entry(db.id).or_insert(p).clone()
        }
    };
    let statement = DataStatement {
        sql: plan.sql.clone(),
        params: plan.params.clone(),
        role: access.role,
        claims: access.claims.to_string(),
        schema: parsed.schema.clone(),
        read_only: plan.shape.read_only,
        timeout,
    };
    let shape = plan.shape.clone();
    let started = Instant::now();
    let mut answer: Option<Result<rest::Response, rest::Error>> = None;
    let ran = hostctl::data_api::run(&pool, &db.name, &statement, |row: &DataRow| {
        let r = shape.respond(row.page_total, row.total_count, row.body.clone());
        let commit = r.is_ok() && !shape.rollback;
        answer = Some(r);
        commit
    })
    .await;
    let elapsed = started.elapsed();
    let authenticated = access.role != DataRole::Anon;
    let (response, audit) = match (ran, answer) {
        (Ok(row), Some(Ok(r))) => (
            DataResponse { status: r.status, headers: r.headers, body: r.body },
            (Some(u64::try_from(row.page_total).unwrap_or(0)), None),
        ),
        (Ok(_), Some(Err(e))) => (DataResponse::of(&e), (None, Some(e.code().to_owned()))),
        (Ok(_), None) => return Err(Error::internal(anyhow::anyhow!("the data API's statement answered no row"))),
        (Err(SqlError::Sql { code, message, detail, hint, .. }), _) => {
            let status = rest::pg_error_status(&code, &message, authenticated);
            let audit = format!("SQLSTATE {code}");
            (DataResponse::error(status, &code, &message, detail.as_deref(), hint.as_deref()), (None, Some(audit)))
        }
        (Err(SqlError::Timeout(_)), _) => (
            DataResponse::error(500, "57014", "canceling statement due to statement timeout", None, None),
            (None, Some("timed out".into())),
        ),
        (Err(SqlError::Rejected(m)), _) => (
            DataResponse::error(400, "PGRST102", "the request cannot run as given", Some(&m), None),
            (None, Some("rejected".into())),
        ),
        (Err(e @ SqlError::Refused { .. }), _) => {
            tracing::warn!(error = %e, database = %db.id, "the data API's session was refused");
            ctx.data_api.forget(db.id);
            return Ok(DataResponse::error(503, "PGRST000", "the database is unavailable", None, None));
        }
        (Err(SqlError::Unavailable(m)), _) => {
            tracing::warn!(error = %m, database = %db.id, "the data API could not reach the database");
            // Roles may have been dropped under us (a restore): made again on the next request.
            ctx.data_api.forget(db.id);
            return Ok(DataResponse::error(503, "PGRST000", "the database is unavailable", None, None));
        }
    };
    metrics::counter!("berth_data_api_requests_total", "status" => response.status.to_string()).increment(1);
    let ran = crate::sql::audit::Ran {
        command: Some(command_of(&plan)),
        row_count: audit.0,
        error: audit.1,
        elapsed,
        data_key_id: Some(access.key_id.clone()),
        subject: access.subject.clone(),
    };
    crate::sql::audit::record_ran(ctx, db.id, QuerySource::DataApi, &plan.sql, ran, &meta).await?;
    Ok(response)
}

/// The audit's command label of a data-API request.
fn command_of(plan: &rest::Plan) -> String {
    match plan.shape.action {
        rest::Action::Read => "SELECT",
        rest::Action::Insert => "INSERT",
        rest::Action::Update => "UPDATE",
        rest::Action::Delete => "DELETE",
        rest::Action::Call { .. } => "CALL",
    }
    .into()
}
