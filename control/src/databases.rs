//! Databases: create (empty, or filled from a backup or another database), authorise a
//! caller on one, delete, and wait for the job a request asked for.

use std::time::Duration;

use domain::{
    Database, DatabaseCommand, DatabaseError, DatabaseId, DatabaseName, DatabaseSource, OperationId, Plan, StreamId,
};
use eventstore::queries::DatabaseRow;
use eventstore::{Extra, Metadata};
use rand::{distributions::Alphanumeric, Rng};

use crate::authz::{authorize, Action, DbRole};
use crate::caller::Caller;
use crate::error::{Error, OrInternal};
use crate::Control;

pub use domain::password_secret_id;

/// A database just asked for: its row, its password (shown once), and whether it was
/// running within the wait (else its operation goes on).
#[derive(Debug)]
pub struct Created {
    pub database: DatabaseRow,
    pub password: String,
    pub connection_string: String,
    pub operation_id: OperationId,
    pub ready: bool,
}

pub(crate) fn generate_password() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect()
}

pub fn connection_string(db: &DatabaseRow, password: &str) -> String {
    format!("postgresql://{name}:{password}@{host}:{port}/{name}", name = db.name, host = db.host, port = db.port)
}

pub(crate) fn domain_error(e: DatabaseError) -> Error {
    match e {
        DatabaseError::NotFound => Error::DatabaseNotFound,
        DatabaseError::WrongState { state, action } => {
            Error::Conflict(format!("the database is {}; cannot {action} it now", state.as_str()))
        }
        DatabaseError::Busy(kind) => {
            Error::Conflict(format!("a {} operation is in progress on the database; retry when it ends", kind.as_str()))
        }
        DatabaseError::Locked { reason, action } => {
            Error::Conflict(format!("the database is locked: cannot {action} it now; {}", reason.explanation()))
        }
        DatabaseError::AlreadyExists | DatabaseError::StaleOperation => {
            Error::Conflict("the database was changed concurrently; retry".into())
        }
    }
}

pub async fn load_authorized(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<(DatabaseRow, DbRole), Error> {
    let id = DatabaseId::parse(id).map_err(|_| Error::DatabaseNotFound)?;
    let db = match ctx.store.database(id).await {
        Ok(db) => db,
        Err(eventstore::StoreError::NotFound) => return Err(Error::DatabaseNotFound),
        Err(e) => return Err(e.into()),
    };
    let collaborator = if db.account_id == caller.account_id {
        None
    } else {
        ctx.store.collaborator_role(db.id, caller.user_id).await?
    };
    let role = authorize(caller, &db, collaborator.as_deref(), action)?;
    Ok((db, role))
}

pub async fn create(
    ctx: &Control,
    caller: &Caller,
    name: &str,
    engine: Option<&str>,
    meta: Metadata,
) -> Result<Created, Error> {
    caller.require_full_account()?;
    let name = DatabaseName::parse(name).map_err(|e| Error::InvalidName(format!("invalid name: {e}")))?;
    if let Some(engine) = engine.filter(|e| *e != "postgres") {
        return Err(Error::EngineDisabled(format!("engine '{engine}' is not enabled on this deployment")));
    }
    create_from(ctx, caller, name, None, meta, ctx.settings.wait).await
}

/// Creates a database, empty or filled from `source` (restore, branch), and waits up to
/// `wait` for it to be running.
pub async fn create_from(
    ctx: &Control,
    caller: &Caller,
    name: DatabaseName,
    source: Option<DatabaseSource>,
    meta: Metadata,
    wait: Duration,
) -> Result<Created, Error> {
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
    let plan = async { Ok::<_, Error>(ctx.store.account_plan(caller.account_id).await?) };
    let usage = async { Ok::<_, Error>(ctx.store.account_usage(caller.account_id).await?) };
    // A branch is copied host-locally (pg_dump piped into psql): it lives beside its source.
    let host_id = async {
        match &source {
            Some(DatabaseSource::Branch { database_id }) => {
                Ok::<_, Error>(ctx.store.database(*database_id).await?.host_id)
            }
            _ => {
                let host = ctx.store.pick_host().await?;
                Ok(host.ok_or_else(|| Error::Unavailable("no tenant host has capacity".into()))?.id)
            }
        }
    };
    let (plan, usage, host_id, verifier) = tokio::join!(plan, usage, host_id, verifier);
    // Errors in the order the checks read: the quota before the host.
    let plan = plan?.and_then(|p| Plan::parse(&p)).unwrap_or(Plan::Free);
    let (_, used_bytes) = usage?;
    let quotas = ctx.settings.plans.of(plan);
    if used_bytes >= quotas.storage_mb * 1024 * 1024 {
        return Err(Error::QuotaExceeded(format!(
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
    match ctx.store.execute::<Database>(StreamId::database(id).as_str(), &command, &meta, &extras).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(domain_error(e)),
        Err(eventstore::StoreError::Conflict(c)) if c == "databases_live_name" => {
            return Err(Error::Conflict("a database with this name already exists".into()))
        }
        Err(eventstore::StoreError::QuotaExceeded) => {
            return Err(Error::QuotaExceeded(format!(
                "the {} plan allows {} databases; delete one or change plan",
                plan.as_str(),
                quotas.databases
            )))
        }
        Err(e) => return Err(e.into()),
    }
    let ready = wait_for_operation(ctx, operation_id, wait).await?;
    let database = ctx.store.database(id).await?;
    let connection_string = connection_string(&database, &password);
    Ok(Created { database, password, connection_string, operation_id, ready })
}

/// Waits up to `budget` for an operation to succeed; false if it has not (yet). Wakes on
/// every append instead of polling (with a slow poll as a safety net).
pub async fn wait_for_operation(ctx: &Control, op: OperationId, budget: Duration) -> Result<bool, Error> {
    let deadline = tokio::time::Instant::now() + budget;
    let mut appends = ctx.appends.clone();
    // This process's own appends (the worker runs here under `berth up`) wake it at once.
    let mut local = ctx.store.local_appends();
    loop {
        appends.borrow_and_update();
        local.borrow_and_update();
        let (row, _) = ctx.store.operation(op).await?;
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
    ctx: &Control,
    caller: &Caller,
    id: &str,
    meta: Metadata,
) -> Result<(DatabaseRow, OperationId), Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::OwnerOnly).await?;
    let operation_id = OperationId::new();
    let command = DatabaseCommand::RequestDeletion { operation_id };
    match ctx.store.execute::<Database>(StreamId::database(db.id).as_str(), &command, &meta, &[]).await? {
        Ok(_) => Ok((ctx.store.database(db.id).await?, operation_id)),
        Err(e) => Err(domain_error(e)),
    }
}
