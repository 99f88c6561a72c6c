//! Databases: create (empty, or filled from a backup or another database), authorise a
//! caller on one, delete, and wait for the job a request asked for.

use std::time::Duration;

use domain::{
    AccountId, Database, DatabaseCommand, DatabaseError, DatabaseId, DatabaseName, DatabaseSource, HostId, OperationId,
    Plan, StreamId,
};
use eventstore::queries::DatabaseRow;
use eventstore::{Extra, Metadata, Store};
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

fn generate_password() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect()
}

pub fn connection_string(db: &DatabaseRow, password: &str) -> String {
    db.engine.connection_url(db.name.as_str(), password, &db.host, db.port, db.name.as_str())
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
        DatabaseError::AlreadyThere => Error::Conflict("the database is on that host already".into()),
        DatabaseError::AlreadyExists | DatabaseError::StaleOperation => {
            Error::Conflict("the database was changed concurrently; retry".into())
        }
    }
}

/// The database `id` and the caller's role on it, if the caller may do `action` to it; a
/// database the caller may not see at all is `DATABASE_NOT_FOUND`, as if it did not exist.
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

/// `POST /databases`: a new empty database of the caller's account, waited for up to the
/// budget. An engine is enabled when the deployment registered a host of it (`berth up`
/// does for each engine in its configuration); another is `ENGINE_DISABLED`.
pub async fn create(
    ctx: &Control,
    caller: &Caller,
    name: &str,
    engine: Option<&str>,
    region: Option<&str>,
    meta: Metadata,
) -> Result<Created, Error> {
    caller.require_full_account()?;
    let name = DatabaseName::parse(name).map_err(|e| Error::InvalidName(format!("invalid name: {e}")))?;
    let engine = match engine.map(|e| (e, domain::Engine::parse(e))) {
        None => domain::Engine::Postgres,
        Some((_, Some(domain::Engine::Postgres))) => domain::Engine::Postgres,
        Some((raw, Some(domain::Engine::MariaDb))) => {
            if !ctx.store.hosts().await?.iter().any(|h| h.engine == domain::Engine::MariaDb) {
                return Err(Error::EngineDisabled(engine_disabled(raw)));
            }
            domain::Engine::MariaDb
        }
        Some((raw, _)) => return Err(Error::EngineDisabled(engine_disabled(raw))),
    };
    if let Some(region) = region {
        let known = ctx.store.host_regions().await?;
        if !known.iter().any(|r| r == region) {
            return Err(Error::InvalidRequest(format!(
                "invalid field `region`: no host is in region '{}' (regions: {})",
                region.escape_debug(),
                known.join(", ")
            )));
        }
    }
    let placed = Placement { engine, region: region.map(str::to_owned), source: None };
    create_from(ctx, caller, name, placed, meta, ctx.settings.wait).await
}

/// Where a new database goes: its engine, the region asked for, and what fills it (a branch
/// lives beside its source).
pub struct Placement {
    pub engine: domain::Engine,
    pub region: Option<String>,
    pub source: Option<DatabaseSource>,
}

/// How many times a create chooses a host again when the one it chose filled up (or was
/// cordoned) meanwhile.
const PLACEMENT_TRIES: usize = 3;

/// `what` exists for PostgreSQL databases only: another engine's is `422 UNPROCESSABLE`
/// naming what it lacks (API.md, "Engines").
pub fn require_postgres(db: &DatabaseRow, what: &str) -> Result<(), Error> {
    match db.engine {
        domain::Engine::Postgres => Ok(()),
        other => Err(Error::Unprocessable(format!(
            "engine '{}' lacks {what}; it is offered for PostgreSQL databases",
            other.as_str()
        ))),
    }
}

/// Why `engine` cannot be used here. MongoDB is not only off but absent: no MongoDB server is
/// packaged where Berth installs from (README, "Engines").
fn engine_disabled(engine: &str) -> String {
    match domain::Engine::parse(engine) {
        Some(domain::Engine::MongoDb) => "engine 'mongodb' is not enabled on this deployment: no MongoDB server \
                                          is packaged for the platforms Berth installs on"
            .into(),
        Some(_) => format!("engine '{engine}' is not enabled on this deployment (its configuration's `engines`)"),
        None => format!("engine '{engine}' is not enabled on this deployment (engines: postgres, mariadb, mongodb)"),
    }
}

/// Creates a database of `engine`, empty or filled from `source` (restore, branch: the
/// source's engine), and waits up to `wait` for it to be running.
pub async fn create_from(
    ctx: &Control,
    caller: &Caller,
    name: DatabaseName,
    placement: Placement,
    meta: Metadata,
    wait: Duration,
) -> Result<Created, Error> {
    let Placement { engine, region, source } = placement;
    // Restores and branches make databases of the caller's account: the same quotas apply.
    caller.require_full_account()?;
    // SCRAM is deliberately slow (4096 rounds): compute it while the reads are in flight.
    let password = NewPassword::generate(engine);
    let plan = async { Ok::<_, Error>(ctx.store.account_plan(caller.account_id).await?) };
    let usage = async { Ok::<_, Error>(ctx.store.account_usage(caller.account_id).await?) };
    // A branch is copied host-locally (pg_dump piped into psql): it lives beside its source.
    let host_id = async {
        match &source {
            Some(DatabaseSource::Branch { database_id }) => {
                Ok::<_, Error>(ctx.store.database(*database_id).await?.host_id)
            }
            _ => pick(ctx, engine, region.as_deref()).await,
        }
    };
    let (plan, usage, host_id, password) = tokio::join!(plan, usage, host_id, password);
    // Errors in the order the checks read: the quota before the host.
    let plan = plan?;
    let (_, used_bytes) = usage?;
    let quotas = ctx.settings.plans.of(plan);
    if used_bytes >= quotas.storage_mb * 1024 * 1024 {
        return Err(Error::QuotaExceeded(format!(
            "the account uses {} MB of its {} MB storage quota; free space before creating databases",
            used_bytes / (1024 * 1024),
            quotas.storage_mb
        )));
    }
    let (password, branch) = (password?, matches!(source, Some(DatabaseSource::Branch { .. })));
    let mut host_id = host_id?;
    let mut tries = 0;
    let Requested { id, operation_id, password } = loop {
        let new = NewDatabase {
            account_id: caller.account_id,
            host_id,
            engine,
            name: name.clone(),
            source,
            quota: Some((plan, quotas.databases)),
            placed: !branch,
        };
        let pw = NewPassword { password: password.password.clone(), verifier: password.verifier.clone() };
        match request(&ctx.store, new, pw, &meta).await {
            // Filled or cordoned since it was chosen: choose again (a branch has no choice).
            Err(Error::NoCapacity(_)) if !branch && tries + 1 < PLACEMENT_TRIES => {
                tries += 1;
                host_id = pick(ctx, engine, region.as_deref()).await?;
            }
            done => break done?,
        }
    };
    if !branch {
        // Room was found: a placement incident of that engine and region, if any, is over.
        let resource = format!("{}:{}", engine.as_str(), region.as_deref().unwrap_or("any"));
        if let Err(e) = ctx.store.resolve_incident(NO_CAPACITY, &resource).await {
            tracing::warn!(error = %e, "resolving a placement incident");
        }
    }
    let ready = wait_for_operation(ctx, operation_id, wait).await?;
    let database = ctx.store.database(id).await?;
    let connection_string = connection_string(&database, &password);
    Ok(Created { database, password, connection_string, operation_id, ready })
}

/// The least-loaded ready host of `engine` (in `region`) with a free slot. None is a
/// `no_capacity` incident on `placement` `<engine>:<region or any>` (critical: users cannot
/// create databases there until an operator adds or uncordons a host); the next placement
/// there resolves it.
async fn pick(ctx: &Control, engine: domain::Engine, region: Option<&str>) -> Result<HostId, Error> {
    let host = ctx.store.pick_host(engine, region).await?;
    let resource = format!("{}:{}", engine.as_str(), region.unwrap_or("any"));
    let Some(host) = host else {
        let why = match region {
            Some(r) => format!("no tenant host in region '{r}' has capacity"),
            None => "no tenant host has capacity".into(),
        };
        let summary = format!("{why} for a new {} database", engine.as_str());
        let report = eventstore::incidents::IncidentReport {
            kind: NO_CAPACITY,
            severity: "critical",
            resource_type: "placement",
            resource_id: &resource,
            summary: &summary,
        };
        if let Err(e) = ctx.store.report_incident(&report).await {
            tracing::warn!(error = %e, "recording a placement without capacity");
        }
        return Err(Error::NoCapacity(why));
    };
    Ok(host.id)
}

/// The incident of a placement that found no host with room.
pub const NO_CAPACITY: &str = eventstore::incidents::kinds::NO_CAPACITY;

/// A generated password (32 alphanumerics) and its verifier on the engine's hosts
/// (`hostctl::credential_verifier`: SCRAM-SHA-256 for PgBouncer, MariaDB's password hash).
pub struct NewPassword {
    pub password: String,
    pub verifier: String,
}

impl NewPassword {
    /// SCRAM is deliberately slow (4096 rounds): it is computed off the async workers.
    pub async fn generate(engine: domain::Engine) -> Result<Self, Error> {
        let password = generate_password();
        let pw = password.clone();
        let verifier = tokio::task::spawn_blocking(move || hostctl::credential_verifier(engine, &pw))
            .await
            .or_internal("computing a password verifier")?;
        Ok(Self { password, verifier })
    }
}

/// A database to make: whose, on which host, its name, what fills it, and the account's
/// database quota (its plan and slots) when one applies.
pub struct NewDatabase {
    pub account_id: AccountId,
    pub host_id: HostId,
    /// The engine of that host.
    pub engine: domain::Engine,
    pub name: DatabaseName,
    pub source: Option<DatabaseSource>,
    pub quota: Option<(Plan, i64)>,
    /// The host was chosen by placement: its slot (and that it still takes databases) is
    /// checked again in the request's transaction, under the host's lock. A branch, and a
    /// test driving a host of its choice, are not placed.
    pub placed: bool,
}

/// A database requested: its ids and its password (to show once).
#[derive(Debug)]
pub struct Requested {
    pub id: DatabaseId,
    pub operation_id: OperationId,
    pub password: String,
}

/// Records the request for a new database (`DatabaseRequested`, decided by the aggregate)
/// with its password sealed in the vault, its verifier stored for PgBouncer, and the
/// database quota checked under the account's lock, all in one transaction; the provisioning
/// job takes it from there. [`create_from`] is this plus the caller's checks and the wait.
pub async fn request(store: &Store, new: NewDatabase, pw: NewPassword, meta: &Metadata) -> Result<Requested, Error> {
    let (id, operation_id) = (DatabaseId::new(), OperationId::new());
    let NewDatabase { account_id, host_id, engine, name, source, quota, placed } = new;
    let command = DatabaseCommand::Create { id, name, account_id, host_id, operation_id, source, engine };
    let mut extras = vec![
        Extra::Secret { id: password_secret_id(id), plaintext: pw.password.clone().into_bytes() },
        Extra::RoleVerifier { database_id: id.uuid(), verifier: pw.verifier },
    ];
    if let Some((_, max)) = quota {
        extras.push(Extra::DatabaseQuota { account_id: account_id.uuid(), max });
    }
    if placed {
        extras.push(Extra::HostCapacity { host_id: host_id.uuid(), incoming: 0 });
    }
    match store.execute::<Database>(StreamId::database(id).as_str(), &command, meta, &extras).await {
        Ok(Ok(_)) => Ok(Requested { id, operation_id, password: pw.password }),
        Ok(Err(e)) => Err(domain_error(e)),
        Err(eventstore::StoreError::Conflict(c)) if c == "databases_live_name" => {
            Err(Error::Conflict("a database with this name already exists".into()))
        }
        Err(eventstore::StoreError::QuotaExceeded) => {
            let (plan, max) = quota.unwrap_or((Plan::Free, 0));
            Err(Error::QuotaExceeded(format!(
                "the {} plan allows {max} databases; delete one or change plan",
                plan.as_str()
            )))
        }
        Err(e) => Err(e.into()),
    }
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

/// Asks for the database's deletion (owner only); the job drops its pool, database and role.
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
