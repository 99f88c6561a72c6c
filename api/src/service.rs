//! What the database routes do, between parsing and serialising.

use std::time::Duration;

use actix_web::http::StatusCode;
use domain::{
    Database, DatabaseCommand, DatabaseError, DatabaseId, DatabaseName, DatabaseSource, OperationId, StreamId,
};
use eventstore::queries::DatabaseRow;
use eventstore::{Extra, Metadata};
use rand::{distributions::Alphanumeric, Rng};

use crate::auth::Caller;
use crate::authz::{authorize, Action, DbRole};
use crate::error::{ApiError, OrInternal};
use crate::views::CreatedDatabase;
use crate::AppState;

pub use hostctl::tenant::password_secret_id;

pub(crate) fn generate_password() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect()
}

pub fn connection_string(db: &DatabaseRow, password: &str) -> String {
    format!("postgresql://{name}:{password}@{host}:{port}/{name}", name = db.name, host = db.host, port = db.port)
}

pub(crate) fn domain_error(e: DatabaseError) -> ApiError {
    match e {
        DatabaseError::NotFound => ApiError::DatabaseNotFound,
        DatabaseError::WrongState { state, action } => {
            ApiError::Conflict(format!("the database is {}; cannot {action} it now", state.as_str()))
        }
        DatabaseError::Busy(kind) => ApiError::Conflict(format!(
            "a {} operation is in progress on the database; retry when it ends",
            kind.as_str()
        )),
        DatabaseError::Locked { reason, action } => {
            ApiError::Conflict(format!("the database is locked: cannot {action} it now; {}", reason.explanation()))
        }
        DatabaseError::AlreadyExists | DatabaseError::StaleOperation => {
            ApiError::Conflict("the database was changed concurrently; retry".into())
        }
    }
}

pub async fn load_authorized(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<(DatabaseRow, DbRole), ApiError> {
    let id = DatabaseId::parse(id).map_err(|_| ApiError::DatabaseNotFound)?;
    let db = match state.store.database(id).await {
        Ok(db) => db,
        Err(eventstore::StoreError::NotFound) => return Err(ApiError::DatabaseNotFound),
        Err(e) => return Err(e.into()),
    };
    let collaborator = if db.account_id == caller.account_id {
        None
    } else {
        state.store.collaborator_role(db.id, caller.user_id).await?
    };
    let role = authorize(caller, &db, collaborator.as_deref(), action)?;
    Ok((db, role))
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    name: &str,
    engine: Option<&str>,
    meta: Metadata,
) -> Result<(StatusCode, CreatedDatabase), ApiError> {
    caller.require_full_account()?;
    let name = DatabaseName::parse(name).map_err(|e| ApiError::InvalidName(format!("invalid name: {e}")))?;
    if let Some(engine) = engine.filter(|e| domain::Engine::parse(e) != Some(domain::Engine::Postgres)) {
        return Err(ApiError::EngineDisabled(format!("engine '{engine}' is not enabled on this deployment")));
    }
    create_from(state, caller, name, None, meta, state.config.create_wait).await
}

/// Creates a database, empty or filled from `source` (restore, branch), and waits up to
/// `wait` for it to be running: 201 if it is, else 202.
pub async fn create_from(
    state: &AppState,
    caller: &Caller,
    name: DatabaseName,
    source: Option<DatabaseSource>,
    meta: Metadata,
    wait: Duration,
) -> Result<(StatusCode, CreatedDatabase), ApiError> {
    // Restores and branches make databases of the caller's account: the same quotas apply.
    caller.require_full_account()?;
    let password = generate_password();
    let pw = password.clone();
    // SCRAM is deliberately slow (4096 rounds): keep it off the async workers, and compute
    // it while the reads below are in flight.
    let verifier = async {
        tokio::task::spawn_blocking(move || postgres_protocol::password::scram_sha_256(pw.as_bytes()))
            .await
            .or_internal("computing a SCRAM verifier")
    };
    let plan = async { Ok::<_, ApiError>(state.store.account_plan(caller.account_id).await?) };
    let usage = async { Ok::<_, ApiError>(state.store.account_usage(caller.account_id).await?) };
    // A branch is copied host-locally (pg_dump piped into psql): it lives beside its source.
    let host_id = async {
        match &source {
            Some(DatabaseSource::Branch { database_id }) => {
                Ok::<_, ApiError>(state.store.database(*database_id).await?.host_id)
            }
            _ => {
                let host = state.store.pick_host().await?;
                Ok(host.ok_or_else(|| ApiError::Unavailable("no tenant host has capacity".into()))?.id)
            }
        }
    };
    let (plan, usage, host_id, verifier) = tokio::join!(plan, usage, host_id, verifier);
    // Errors in the order the checks read: the quota before the host.
    let plan = plan?;
    let (_, used_bytes) = usage?;
    let quotas = state.config.plans.of(plan);
    if used_bytes >= quotas.storage_mb * 1024 * 1024 {
        return Err(ApiError::QuotaExceeded(format!(
            "the account uses {} MB of its {} MB storage quota; free space before creating databases",
            used_bytes / (1024 * 1024),
            quotas.storage_mb
        )));
    }
    let (host_id, verifier) = (host_id?, verifier?);
    let id = DatabaseId::new();
    let operation_id = OperationId::new();
    let command = DatabaseCommand::Create { id, name, account_id: caller.account_id, host_id, operation_id, source };
    let extras = [
        Extra::Secret { id: password_secret_id(id), plaintext: password.clone().into_bytes() },
        Extra::RoleVerifier { database_id: id.uuid(), verifier },
        Extra::DatabaseQuota { account_id: caller.account_id.uuid(), max: quotas.databases },
    ];
    match state.store.execute::<Database>(StreamId::database(id).as_str(), &command, &meta, &extras).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(domain_error(e)),
        Err(eventstore::StoreError::Conflict(c)) if c == "databases_live_name" => {
            return Err(ApiError::Conflict("a database with this name already exists".into()))
        }
        Err(eventstore::StoreError::QuotaExceeded) => {
            return Err(ApiError::QuotaExceeded(format!(
                "the {} plan allows {} databases; delete one or change plan",
                plan.as_str(),
                quotas.databases
            )))
        }
        Err(e) => return Err(e.into()),
    }
    let finished = wait_for_operation(state, operation_id, wait).await?;
    let db = state.store.database(id).await?;
    let status = if finished { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    let mut view = crate::views::database_view(&db, DbRole::Owner);
    view.operation_id = Some(operation_id.to_string());
    Ok((
        status,
        CreatedDatabase {
            username: db.name.to_string(),
            connection_string: connection_string(&db, &password),
            password,
            database: view,
        },
    ))
}

/// Waits up to `budget` for an operation to succeed; false if it has not (yet). Wakes on
/// every append instead of polling (with a slow poll as a safety net).
pub async fn wait_for_operation(state: &AppState, op: OperationId, budget: Duration) -> Result<bool, ApiError> {
    let deadline = tokio::time::Instant::now() + budget;
    let mut appends = state.appends.clone();
    // This process's own appends (the worker runs here under `berth up`) wake it at once.
    let mut local = state.store.local_appends();
    loop {
        appends.borrow_and_update();
        local.borrow_and_update();
        let (row, _) = state.store.operation(op).await?;
        match row.state.as_str() {
            "succeeded" => return Ok(true),
            "failed" => return Ok(false),
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(false),
            _ = appends.changed() => {}
            Ok(()) = local.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

pub async fn delete(
    state: &AppState,
    caller: &Caller,
    id: &str,
    meta: Metadata,
) -> Result<(DatabaseRow, OperationId), ApiError> {
    let (db, _) = load_authorized(state, caller, id, Action::OwnerOnly).await?;
    let operation_id = OperationId::new();
    let command = DatabaseCommand::RequestDeletion { operation_id };
    match state.store.execute::<Database>(StreamId::database(db.id).as_str(), &command, &meta, &[]).await? {
        Ok(_) => Ok((state.store.database(db.id).await?, operation_id)),
        Err(e) => Err(domain_error(e)),
    }
}

/// Decides and appends an account command on the account's stream.
pub async fn execute_account(
    state: &AppState,
    account: domain::AccountId,
    command: &domain::AccountCommand,
    meta: Metadata,
) -> Result<Result<Vec<domain::AccountEvent>, domain::AccountError>, ApiError> {
    let stream = StreamId::account(account);
    let outcome = state.store.execute::<domain::Account>(stream.as_str(), command, &meta, &[]).await;
    // Before answering, whatever the outcome (an error may follow a commit): the next
    // request with a replaced or revoked key must read the store again.
    state.key_cache.forget_account(account);
    Ok(outcome?)
}

/// Decides and appends a sharing command on the database's access stream.
pub async fn execute_access(
    state: &AppState,
    database: DatabaseId,
    command: &domain::CollaboratorsCommand,
    meta: Metadata,
) -> Result<Result<Vec<domain::CollaboratorsEvent>, domain::CollaboratorsError>, ApiError> {
    let stream = StreamId::collaborators(database);
    Ok(state.store.execute::<domain::Collaborators>(stream.as_str(), command, &meta, &[]).await?)
}
