//! Connections into a tenant database — the only way this crate opens one.
//!
//! A tenant controls everything inside its database: functions, operators, aggregates, casts
//! on its types, triggers, expression indexes, defaults, and database- or role-level settings
//! such as `search_path`. Any SQL we run there can end up running the tenant's code, so it
//! must never run with more rights than the tenant has. The rule, by construction:
//!
//! - a [`TenantLogin`] names a tenant's own role (a database's owner role or one of its users)
//!   and can be built from nothing else; the host's superuser is refused by name, and a
//!   session the server reports as superuser is closed before any statement is sent;
//! - every session carries `search_path=pg_catalog,pg_temp` and the other settings of
//!   [`PINNED`] in its startup packet, which `ALTER DATABASE/ROLE … SET` cannot override
//!   (startup options outrank them), so the names in our SQL resolve to the builtins first
//!   and the tenant's settings cannot make us read-only, another role, or wait for ever; our
//!   queries also qualify their operators and functions;
//! - every session has a statement, lock and idle-in-transaction timeout ([`SessionLimits`]):
//!   nothing of ours waits on a tenant without a deadline;
//! - child processes (pg_dump, psql) get a [`crate::dump::PgTarget`] built from a login, with
//!   the same options in `PGOPTIONS`.
//! - the one exception is a tenant's OWN SQL ([`crate::sql`], `POST /databases/{id}/sql`):
//!   its session ([`connect_user_sql`]) keeps the tenant's settings and carries only our
//!   deadlines, and no SQL of ours beyond transaction control runs in it.
//!
//! Superuser connections exist only for the maintenance database (`postgres`) and DDL on roles
//! and databases, where no tenant object can be reached ([`crate::HostConn`]'s pool).

use std::time::Duration;

use domain::{DatabaseName, TenantHost};

use crate::dump::PgTarget;
use crate::{HostConn, HostError};

/// Settings every session of ours in a tenant database starts with, in its startup packet
/// (`options`), which outranks whatever the tenant put in `ALTER DATABASE … SET` or
/// `ALTER ROLE … SET` — a tenant could otherwise make our sessions read-only
/// (`default_transaction_read_only`, which once left a database user's removal stuck), run as
/// another of its roles (`role`), parse our literals differently
/// (`standard_conforming_strings`), quote every name (`quote_all_identifiers`, which changes
/// what `format('%I')` returns), print values differently between a backup and its
/// verification (`DateStyle`, `TimeZone`, `extra_float_digits`, `bytea_output`,
/// `lc_monetary`), or wait forever. `row_security = off` makes a query that a row-level
/// security policy would filter fail at once instead of running the policy's functions (what
/// `pg_dump` does too): a tenant's policy that waits cannot hold our checksums.
/// `client_connection_check_interval` lets the server notice within a second that we went
/// away (a job past its deadline drops its connections) and stop the statement.
/// `pg_stat_statements.track = none` keeps our statements out of the tenant's statement
/// statistics, its observability page (see [`crate::observe`]).
const PINNED: &[&str] = &[
    "search_path=pg_catalog,pg_temp",
    "role=none",
    "default_transaction_read_only=off",
    r"default_transaction_isolation=read\ committed",
    "default_transaction_deferrable=off",
    "row_security=off",
    "standard_conforming_strings=on",
    "quote_all_identifiers=off",
    "DateStyle=ISO",
    "IntervalStyle=postgres",
    "TimeZone=UTC",
    "extra_float_digits=1",
    "bytea_output=hex",
    "lc_monetary=C",
    "client_connection_check_interval=1000",
    "pg_stat_statements.track=none",
    // Our queries are short and run once; the schema cache's catalog read crossed the JIT's
    // cost threshold and spent about a second of CPU compiling itself on every read
    // (measured under `berth bench data`). The tenant's own sessions keep its setting.
    "jit=off",
];

/// How long a session of ours in a tenant database may wait, in its startup options too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// One statement (0 = none, for the statements of jobs bounded by their own deadline).
    pub statement: Duration,
    /// One lock: a tenant holding a lock on its table makes us fail and retry, not wait.
    pub lock: Duration,
    /// A session left idle inside a transaction.
    pub idle_in_transaction: Duration,
}

impl SessionLimits {
    /// For an API request (schema view): it answers within seconds or not at all.
    pub const REQUEST: Self = Self {
        statement: Duration::from_secs(3),
        lock: Duration::from_secs(1),
        idle_in_transaction: Duration::from_secs(10),
    };

    /// For a job whose whole attempt must end by `deadline`.
    pub fn job(deadline: Duration) -> Self {
        Self { statement: deadline, lock: JOB_LOCK_WAIT, idle_in_transaction: deadline }
    }
}

/// How long a job's statement waits for a lock a tenant holds before the attempt fails (and
/// is retried later).
pub const JOB_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The default deadline of a job's sessions when the caller names none.
pub const DEFAULT_JOB_DEADLINE: Duration = Duration::from_secs(3600);

/// The startup options of a session of ours in a tenant database (see [`PINNED`]).
pub fn pinned_options(limits: SessionLimits) -> String {
    let mut out = String::new();
    for setting in PINNED {
        out.push_str("-c ");
        out.push_str(setting);
        out.push(' ');
    }
    out.push_str(&format!(
        "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
        limits.statement.as_millis(),
        limits.lock.as_millis(),
        limits.idle_in_transaction.as_millis()
    ));
    out
}

/// An error of a statement we ran in a tenant database, as the platform reports it: the
/// SQLSTATE and what it means, never the server's message, which the tenant's own code can
/// write (`RAISE EXCEPTION '…'` in a trigger, a policy, a type's function) or which names its
/// objects. Incidents and errors users see must say only what the platform knows. The message
/// goes to the worker's log, scrubbed of control characters.
pub fn tenant_error(e: tokio_postgres::Error) -> HostError {
    let Some(db) = e.as_db_error() else { return e.into() };
    let code = db.code().code();
    let message: String = db.message().chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect();
    tracing::warn!(sqlstate = code, message = %message, "a statement in a tenant database failed");
    let what = match &code[..2] {
        "55" if code == "55P03" => "a lock the tenant holds was not released in time",
        "57" if code == "57014" => "a statement ran past its deadline",
        "42" if code == "42501" => {
            "the tenant's role may not read everything in its database (row-level security or revoked rights)"
        }
        "53" => "the host ran out of a resource",
        "08" | "57" => "the session ended",
        "40" => "a serialization failure or deadlock",
        _ => "the statement failed",
    };
    HostError::Transient(format!("in the tenant database: {what} (SQLSTATE {code})"))
}

/// A tenant role's name and password. Built only from a validated database name (the
/// database's own role) or a database user's role name (`<database>.<user>`).
#[derive(Clone)]
pub struct TenantLogin {
    role: String,
    password: String,
}

impl std::fmt::Debug for TenantLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLogin").field("role", &self.role).finish_non_exhaustive()
    }
}

impl TenantLogin {
    /// The database's own role (its owner), which has the same name as the database.
    pub fn owner(name: &DatabaseName, password: String) -> Self {
        Self { role: name.as_str().to_owned(), password }
    }

    /// The database's explorer role (read-only SQL; see [`crate::sql::explorer`]).
    pub fn explorer(name: &DatabaseName, password: String) -> Self {
        Self { role: crate::sql::explorer::explorer_role(name), password }
    }

    /// The login of the database's data-API sessions (see [`crate::data_api`]).
    pub fn data_authenticator(name: &DatabaseName, password: String) -> Self {
        Self { role: crate::data_api::authenticator_role(name), password }
    }

    /// The platform's own account on a host (a MariaDB host's admin, for what only it may
    /// read); never a tenant's role.
    pub(crate) fn platform(account: &str, password: String) -> Self {
        Self { role: account.to_owned(), password }
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

/// An open session in a tenant database as a tenant's own role, never a superuser.
pub struct TenantConn {
    client: tokio_postgres::Client,
    /// Through PgBouncer ([`connect_user_sql_pooled`]): where the session is and its server
    /// process, to cancel it by pid.
    pooled: Option<Box<PooledSession>>,
}

struct PooledSession {
    host: TenantHost,
    dbname: String,
    login: TenantLogin,
    pid: i32,
}

/// How to stop a session's running statement from outside it.
pub enum Canceller {
    /// A cancel request to PostgreSQL (a direct session).
    Request(tokio_postgres::CancelToken),
    /// `pg_cancel_backend(pid)` in a direct login as the same role (a session through
    /// PgBouncer). Not a cancel request through PgBouncer: PgBouncer 1.18 (Debian 12's) dies
    /// (`FATAL … disconnect_client(): bad client state`) when the client of a cancel request
    /// hangs up before PgBouncer has forwarded it, which tokio-postgres's cancel does; the
    /// full suite met it as every login to the host failing until PgBouncer was restarted.
    Backend { host: TenantHost, dbname: String, login: TenantLogin, pid: i32 },
}

impl Canceller {
    /// Sends it; errors are ignored (the caller drops the session either way).
    pub async fn cancel(self) {
        match self {
            Self::Request(token) => {
                let _ = token.cancel_query(tokio_postgres::NoTls).await;
            }
            Self::Backend { host, dbname, login, pid } => {
                if let Ok(conn) = connect(&host, &dbname, &login, SessionLimits::REQUEST).await {
                    let _ = conn.execute("select pg_catalog.pg_cancel_backend($1)", &[&pid]).await;
                }
            }
        }
    }
}

impl TenantConn {
    /// How to cancel this session's statement from outside it.
    pub fn canceller(&self) -> Canceller {
        match &self.pooled {
            None => Canceller::Request(self.client.cancel_token()),
            Some(p) => Canceller::Backend {
                host: p.host.clone(),
                dbname: p.dbname.clone(),
                login: p.login.clone(),
                pid: p.pid,
            },
        }
    }
}

impl std::ops::Deref for TenantConn {
    type Target = tokio_postgres::Client;
    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

impl std::ops::DerefMut for TenantConn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.client
    }
}

pub(crate) fn check_login(host: &TenantHost, login: &TenantLogin) -> Result<(), HostError> {
    if login.role == host.superuser {
        return Err(HostError::Permanent("refusing to open a tenant database as the host's superuser".into()));
    }
    Ok(())
}

/// Logs in to `dbname` on `host` as `login`'s role, through the host's address (for
/// a local host its Unix socket: tenant roles may log in nowhere else), with the settings
/// [`pinned_options`] pins and `limits`' timeouts.
pub async fn connect(
    host: &TenantHost,
    dbname: &str,
    login: &TenantLogin,
    limits: SessionLimits,
) -> Result<TenantConn, HostError> {
    open(host, dbname, login, &pinned_options(limits), "berth-platform").await
}

/// The startup options of a session that runs a tenant's OWN SQL (`POST /databases/{id}/sql`,
/// [`crate::sql`]): our deadlines only, none of [`PINNED`]'s overrides.
///
/// Our own queries pin `search_path`, `role`, `row_security` and the output formats because
/// they must not run the tenant's code or read its settings. A user's SQL is the opposite
/// case: it is the tenant's code, run with the tenant's rights, and must behave as it does in
/// psql — with the tenant's `search_path`, role settings, `DateStyle` and so on. What stays
/// ours is the deadline: options in the startup packet outrank `ALTER ROLE/DATABASE … SET`,
/// so a tenant's `ALTER ROLE … SET statement_timeout = 0` does not lift it. (A `SET
/// statement_timeout` inside the SQL text does; [`crate::sql::run`] therefore also keeps a
/// deadline of its own and sends a cancel request when it passes.)
/// `client_connection_check_interval` lets the server notice within a second that we went
/// away (the HTTP client disconnected and the request's future was dropped) and stop the
/// statement.
pub fn user_sql_options(statement_timeout: Duration) -> String {
    let ms = statement_timeout.as_millis().max(1);
    format!(
        "-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms} \
         -c client_connection_check_interval=1000"
    )
}

/// Logs in to `dbname` as `login`'s role to run the tenant's own SQL: the same login rules as
/// [`connect`] (a tenant role, never a superuser, through the host's address) but with
/// [`user_sql_options`] instead of the pinned settings — the tenant's own `search_path`, role
/// and other settings apply, under our statement, lock and idle-in-transaction deadlines.
/// Never use this session for SQL of ours.
///
/// The owner's session comes from the database's PgBouncer pool when it can (see
/// [`connect_user_sql_pooled`]): a session per request then costs a login to PgBouncer, not
/// a new server process. Any other role, or a pool that does not take the login, logs in to
/// PostgreSQL directly.
pub async fn connect_user_sql(
    host: &TenantHost,
    dbname: &str,
    login: &TenantLogin,
    statement_timeout: Duration,
) -> Result<TenantConn, HostError> {
    if login.role == dbname {
        match connect_user_sql_pooled(host, dbname, login, statement_timeout).await {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                tracing::debug!(database = dbname, error = %e, "the pool did not take the owner's login; logging in directly")
            }
        }
    }
    open(host, dbname, login, &user_sql_options(statement_timeout), "berth-sql").await
}

/// How long [`connect_user_sql_pooled`] waits for PgBouncer to give the owner a server session.
pub const POOL_WAIT: Duration = Duration::from_secs(1);

/// The owner's session for its own SQL through PgBouncer's Unix socket (in the host's
/// config directory; the HBA file lets every login in there with its password, allowlists
/// or not). The owner's login is in PgBouncer's auth file by construction (each pool's
/// owner: [`crate::pgbouncer`]), so this fails only when the files lag (a new password not
/// rendered yet, a stopped database's disabled pool) or the socket is not on this machine;
/// the caller then logs in directly.
///
/// PgBouncer (1.18) passes no `options` in the startup packet, so our deadlines are set in
/// the session before anything else runs, where they outrank `ALTER ROLE/DATABASE … SET`
/// as the startup options do; PgBouncer's `server_reset_query` (`DISCARD ALL`) clears them
/// and anything the tenant's SQL left when the session goes back to the pool (session
/// pooling), and cleared what the tenant's last client left before we got it. A pool whose
/// server connections are all busy keeps the login in PgBouncer's queue: after
/// [`POOL_WAIT`] without a session it is given up and the caller logs in directly, which the
/// server then admits or refuses by the role's connection limit (53300, a clear 429) instead
/// of leaving the request waiting.
pub async fn connect_user_sql_pooled(
    host: &TenantHost,
    dbname: &str,
    login: &TenantLogin,
    statement_timeout: Duration,
) -> Result<TenantConn, HostError> {
    check_login(host, login)?;
    let mut cfg = tokio_postgres::Config::new();
    cfg.host_path(&host.config_dir).port(host.bouncer_port).dbname(dbname);
    let client = tokio::time::timeout(LOGIN_WAIT, log_in(cfg, login, dbname))
        .await
        .map_err(|_| HostError::Transient(format!("PgBouncer did not log {dbname} in within {LOGIN_WAIT:?}")))??;
    let ms = statement_timeout.as_millis().max(1);
    // Each statement marked, so the tenant's statement statistics leave ours out (no
    // `pg_stat_statements.track = none` at login here, as our other sessions have). The
    // application name is set here too, not at login: PgBouncer would pass it on with an
    // unmarked `SET application_name` of its own.
    let mark = crate::observe::PLATFORM_MARK;
    let settings = format!(
        "{mark} set application_name = 'berth-sql'; {mark} set statement_timeout = {ms}; {mark} set lock_timeout = {ms}; \
         {mark} set idle_in_transaction_session_timeout = {ms}; {mark} set client_connection_check_interval = 1000; \
         {mark} select pg_catalog.pg_backend_pid()"
    );
    let answer = tokio::time::timeout(POOL_WAIT.min(statement_timeout), client.simple_query(&settings))
        .await
        .map_err(|_| HostError::Transient(format!("{dbname}'s pool gave no session within {POOL_WAIT:?}")))??;
    let pid = answer
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|p| p.parse::<i32>().ok()),
            _ => None,
        })
        .ok_or_else(|| HostError::Transient("the pooled session did not say its pid".into()))?;
    let pooled = PooledSession { host: host.clone(), dbname: dbname.to_owned(), login: login.clone(), pid };
    Ok(TenantConn { client, pooled: Some(Box::new(pooled)) })
}

/// Where a child process (pg_dump for a user's dump) logs in to `dbname` on `host` as
/// `login`'s role, with the pinned settings and `limits`' timeouts.
pub fn child_target(
    host: &TenantHost,
    dbname: &str,
    login: &TenantLogin,
    limits: SessionLimits,
) -> Result<PgTarget, HostError> {
    check_login(host, login)?;
    Ok(PgTarget::new(&host.pg_host, host.pg_port, login, dbname, limits))
}

async fn open(
    host: &TenantHost,
    dbname: &str,
    login: &TenantLogin,
    options: &str,
    application_name: &str,
) -> Result<TenantConn, HostError> {
    check_login(host, login)?;
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&host.pg_host).port(host.pg_port).dbname(dbname).options(options).application_name(application_name);
    Ok(TenantConn { client: log_in(cfg, login, dbname).await?, pooled: None })
}

/// How long a login may take to connect.
const LOGIN_WAIT: Duration = Duration::from_secs(5);

/// Logs in with `cfg` (address, database, settings) as `login`'s role and drives the
/// session. The server (or PgBouncer, passing the server's word on) reports `is_superuser`
/// at login; a tenant role must never be one (if it somehow became one, nothing of ours runs
/// in its database until an operator looks), and a login that does not say is refused too.
async fn log_in(
    mut cfg: tokio_postgres::Config,
    login: &TenantLogin,
    dbname: &str,
) -> Result<tokio_postgres::Client, HostError> {
    cfg.user(&login.role).password(&login.password).connect_timeout(LOGIN_WAIT);
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    if conn.parameter("is_superuser") != Some("off") {
        return Err(HostError::Permanent(format!(
            "role {} is a superuser on the host: refusing to run anything in {dbname}",
            login.role
        )));
    }
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

impl HostConn {
    /// [`connect`] to this host, for a job whose attempt ends by `deadline`.
    pub async fn tenant(&self, dbname: &str, login: &TenantLogin, deadline: Duration) -> Result<TenantConn, HostError> {
        connect(&self.spec, dbname, login, SessionLimits::job(deadline)).await
    }

    /// Where a child process (pg_dump, psql) logs in to `dbname` as `login`'s role, for a job
    /// whose attempt ends by `deadline`.
    pub fn tenant_target(&self, dbname: &str, login: &TenantLogin, deadline: Duration) -> Result<PgTarget, HostError> {
        check_login(&self.spec, login)?;
        Ok(PgTarget::new(&self.spec.pg_host, self.spec.pg_port, login, dbname, SessionLimits::job(deadline)))
    }
}
