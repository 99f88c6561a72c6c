//! The data API's side of a tenant host: its per-database roles and the execution of one
//! planned statement (the `rest` crate plans it; `control::data_api` decides who may run it).
//!
//! # Roles
//!
//! API.md names three roles per database, made by the platform with no rights of their own
//! (the tenant grants them rights and writes its row-level security policies in plain SQL):
//! `"<name>.anon"` (a publishable key alone), `"<name>.authenticated"` (with a verified
//! JWT), `"<name>.service"` (a service key; `BYPASSRLS`). Requests log in as a fourth,
//! `"<name>.data_authenticator"`: `LOGIN NOINHERIT`, a member of the three and nothing
//! else, so it holds no right until the request's transaction `SET LOCAL ROLE`s to one.
//! Tenant code runs inside every statement (triggers, policies, its functions and
//! operators) and may `RESET ROLE`: it then stands as the authenticator, which may connect
//! to its one database and read nothing. The roles carry the database users' marker
//! (`berth:dbuser:<id>`), so deleting the database drops them and the reconciler knows
//! them; a user may not be named `anon`, `authenticated` or `service` (`domain::dbuser`),
//! and `data_authenticator` has a `_`, which users' names never have.
//!
//! # One statement
//!
//! [`run`] opens a session as the authenticator with the tenant's own settings and our
//! deadlines (as SQL over HTTP does: [`crate::tenant::connect_user_sql`]), begins a
//! transaction (`READ ONLY` for reads), sets the role, `request.jwt.claims` and the search
//! path (pg_catalog first) locally, runs the planned statement with its parameters as text
//! for the server to type, and commits or rolls back as the caller's `commit` says after
//! reading the one row. Our own deadline (the timeout plus [`crate::sql::GRACE`]) cancels a
//! statement that outlives it; a dropped future cancels it too.

use std::collections::HashMap;
use std::time::Duration;

use crate::release::ident;
use domain::{DatabaseId, DatabaseName, TenantHost};
use tokio_postgres::types::{ToSql, Type};

use crate::host::{literal, role_settings, HostConn, HostError, RoleLimits};
use crate::sql::{sql_error, CancelOnDrop, SqlError, TextParam, GRACE};
use crate::tenant::{SessionLimits, TenantLogin};
use crate::users::user_marker;

/// The request roles, by what the caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataRole {
    Anon,
    Authenticated,
    Service,
}

impl DataRole {
    pub fn suffix(self) -> &'static str {
        match self {
            DataRole::Anon => "anon",
            DataRole::Authenticated => "authenticated",
            DataRole::Service => "service",
        }
    }

    /// The role's name in database `name`.
    pub fn of(self, name: &DatabaseName) -> String {
        format!("{}.{}", name.as_str(), self.suffix())
    }
}

/// The login role of the data API's sessions in database `name`.
pub fn authenticator_role(name: &DatabaseName) -> String {
    format!("{}.data_authenticator", name.as_str())
}

/// Whether `role` is one of the data API's platform roles of some database.
pub fn is_data_role(role: &str) -> bool {
    role.ends_with(".data_authenticator")
        || domain::dbuser::DATA_API_ROLES.iter().any(|s| role.ends_with(&format!(".{s}")))
}

/// Sessions the data API may hold in one database at once.
pub const DATA_CONNECTIONS: i32 = 8;

impl HostConn {
    /// Creates (or re-asserts) the three request roles and the authenticator of `name`, the
    /// authenticator with this SCRAM verifier.
    pub async fn ensure_data_roles(
        &self,
        id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        temp_file_limit_mb: i32,
    ) -> Result<(), HostError> {
        let marker = user_marker(id);
        let auth = ident(&authenticator_role(name));
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // One at a time per host: two API processes making the roles at once take turns, and
        // the second finds them made (instead of failing on the first's CREATE ROLE).
        tx.execute("select pg_advisory_xact_lock(hashtext('berth:data-roles'))", &[]).await?;
        let mut sql = String::new();
        let wanted = [
            (
                authenticator_role(name),
                format!("LOGIN NOINHERIT PASSWORD {} CONNECTION LIMIT {DATA_CONNECTIONS}", literal(verifier)),
            ),
            (DataRole::Anon.of(name), "NOLOGIN NOINHERIT".to_owned()),
            (DataRole::Authenticated.of(name), "NOLOGIN NOINHERIT".to_owned()),
            (DataRole::Service.of(name), "NOLOGIN NOINHERIT BYPASSRLS".to_owned()),
        ];
        for (role, options) in &wanted {
            let comment: Option<Option<String>> = tx
                .query_opt("select shobj_description(oid, 'pg_authid') from pg_roles where rolname = $1", &[role])
                .await?
                .map(|r| r.get(0));
            let r = ident(role);
            match comment {
                None => {
                    sql.push_str(&format!("CREATE ROLE {r} {options}; COMMENT ON ROLE {r} IS {};", literal(&marker)))
                }
                Some(Some(m)) if m == marker => sql.push_str(&format!("ALTER ROLE {r} {options};")),
                Some(_) => return Err(HostError::Permanent(format!("role {role} exists on the host and is not ours"))),
            }
        }
        let limits = RoleLimits { connection_limit: DATA_CONNECTIONS, temp_file_limit_mb };
        sql.push_str(&role_settings(&auth, limits));
        sql.push(';');
        for role in [DataRole::Anon, DataRole::Authenticated, DataRole::Service] {
            sql.push_str(&format!("GRANT {} TO {auth};", ident(&role.of(name))));
        }
        sql.push_str(&format!("GRANT CONNECT ON DATABASE {} TO {auth};", name.quoted()));
        crate::users::lock_database_acl(&tx, name).await?;
        tx.batch_execute(&sql).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// One planned statement and how to run it.
#[derive(Debug, Clone)]
pub struct DataStatement {
    pub sql: String,
    pub params: Vec<Option<String>>,
    pub role: DataRole,
    /// `request.jwt.claims` (JSON text; `{}` without a JWT).
    pub claims: String,
    /// The schema the request names; the search path is `pg_catalog, <schema>`.
    pub schema: String,
    pub read_only: bool,
    pub timeout: Duration,
}

/// The statement's one row (see the `rest` crate).
#[derive(Debug, Clone, PartialEq)]
pub struct DataRow {
    pub total_count: Option<i64>,
    pub page_total: i64,
    pub body: Option<String>,
}

/// Sessions one API process keeps per database, and how long a request waits for one.
pub const POOL_SIZE: usize = 4;
pub const POOL_WAIT: Duration = Duration::from_secs(5);
/// An idle pooled session is closed by the server after this long (`idle_session_timeout`),
/// so a database nobody calls holds no session of ours.
pub const POOL_IDLE: Duration = Duration::from_secs(60);

/// The authenticator's sessions in one database (see [`pool`]).
pub type DataPool = deadpool::managed::Pool<SessionManager>;

/// How many sessions one request tries (see [`run`]).
const TRIES: usize = POOL_SIZE + 1;
/// Statements one pooled session keeps prepared at most; past it they are all closed.
pub const MAX_STATEMENTS: usize = 64;

/// Opens the authenticator's sessions of a [`DataPool`].
pub struct SessionManager {
    cfg: tokio_postgres::Config,
}

/// One pooled session and the statements prepared in it, by request role, schema and text
/// (the planner's texts take their values as parameters, so a request shape is one text).
/// Keyed by role too: PostgreSQL checks schema `USAGE` when it parses a statement, so each
/// role's statements are parsed as that role, as an unprepared statement would be.
pub struct DataSession {
    client: tokio_postgres::Client,
    statements: HashMap<(DataRole, String, String), tokio_postgres::Statement>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DataSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl deadpool::managed::Manager for SessionManager {
    type Type = DataSession;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<DataSession, tokio_postgres::Error> {
        let (client, conn) = self.cfg.connect(tokio_postgres::NoTls).await?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(DataSession { client, statements: HashMap::new(), task })
    }

    async fn recycle(
        &self,
        session: &mut DataSession,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<tokio_postgres::Error> {
        // Each request clears its session as its last step (see [`run`]): nothing to do here.
        if session.client.is_closed() {
            return Err(deadpool::managed::RecycleError::message("the session closed"));
        }
        Ok(())
    }
}

/// The authenticator's sessions in `database`, kept between requests as PostgREST keeps its
/// pool, with the statements each has prepared: each request's settings are
/// transaction-local, and a session goes back to the pool only after the request's reset
/// answered (see [`run`]). The sessions log in with [`crate::tenant::user_sql_options`] (our
/// deadlines in the startup packet) and close themselves when idle for [`POOL_IDLE`].
pub fn pool(
    host: &TenantHost,
    database: &DatabaseName,
    login: &TenantLogin,
    timeout: Duration,
) -> Result<DataPool, HostError> {
    crate::tenant::check_login(host, login)?;
    let options =
        format!("{} -c idle_session_timeout={}", crate::tenant::user_sql_options(timeout), POOL_IDLE.as_millis());
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&host.pg_host)
        .port(host.pg_port)
        .user(login.role())
        .password(login.password())
        .dbname(database.as_str())
        .options(&options)
        .application_name("berth-data-api")
        .connect_timeout(Duration::from_secs(5));
    DataPool::builder(SessionManager { cfg })
        .max_size(POOL_SIZE)
        .runtime(deadpool::Runtime::Tokio1)
        .create_timeout(Some(Duration::from_secs(5)))
        .wait_timeout(Some(POOL_WAIT))
        .build()
        .map_err(|e| HostError::Permanent(e.to_string()))
}

/// A pooled session on loan to one request. It goes back to the pool only when the request
/// left it clean (its transaction ended and the reset answered); dropped otherwise (a
/// deadline, a dropped future, an error part-way) it is closed, never reused.
struct Loan {
    session: Option<deadpool::managed::Object<SessionManager>>,
    clean: bool,
}

impl Drop for Loan {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            if !self.clean {
                drop(deadpool::managed::Object::take(session));
            }
        }
    }
}

/// Runs `st` on a session of `pool` (see [`pool`]); `commit` decides, from the row, whether
/// a write's transaction commits. A session whose statement ran past the deadline is
/// cancelled and closed, never returned to the pool.
///
/// A read is one round trip: `BEGIN READ ONLY`, the settings, the statement, `COMMIT` and
/// the reset are sent at once (pipelined; each extended-protocol message has its own
/// `Sync`, so each runs whatever the one before it did). A write takes two: the commit or
/// rollback follows the caller's decision. A request shape the session has not prepared yet
/// takes one more: the statement is prepared inside the transaction, after the settings
/// (parsed as the request's role, with its search path), and kept for the next request of
/// that shape and role. Were `BEGIN` ever to fail, the statement would run outside the
/// transaction without its role, as the authenticator, which holds no rights.
///
/// A pooled session the server closed while it sat idle (`idle_session_timeout`), or whose
/// prepared statement tenant code deallocated, fails before anything ran: the request is
/// tried again on another session, [`TRIES`] times in all (every pooled session may have
/// gone idle at once).
pub async fn run(
    pool: &DataPool,
    database: &DatabaseName,
    st: &DataStatement,
    commit: impl FnOnce(&DataRow) -> bool,
) -> Result<DataRow, SqlError> {
    let mut commit = Some(commit);
    let mut tries = 0;
    loop {
        tries += 1;
        let session = pool.get().await.map_err(|e| SqlError::Unavailable(e.to_string()))?;
        let mut loan = Loan { session: Some(session), clean: false };
        let Some(session) = loan.session.as_deref_mut() else { unreachable!("a loan holds its session") };
        let mut cancel = CancelOnDrop(Some(crate::tenant::Canceller::Request(session.client.cancel_token())));
        let outcome = tokio::time::timeout(st.timeout + GRACE, execute(session, database, st, &mut commit)).await;
        match outcome {
            Ok(Err(Failed::IdleClosed | Failed::Stale)) if tries < TRIES => cancel.0 = None,
            Ok(Err(Failed::IdleClosed | Failed::Stale)) => {
                cancel.0 = None;
                return Err(SqlError::Unavailable("the session closed".into()));
            }
            Ok(result) => {
                cancel.0 = None;
                let (result, clean) = match result {
                    Ok((row, clean)) => (Ok(row), clean),
                    Err(Failed::Dirty(e)) => (Err(e), false),
                    Err(Failed::Clean(e)) => (Err(e), true),
                    Err(Failed::IdleClosed | Failed::Stale) => unreachable!("handled above"),
                };
                loan.clean = clean;
                return result.map_err(|e| match e {
                    SqlError::Timeout(_) => SqlError::Timeout(st.timeout),
                    other => other,
                });
            }
            Err(_) => {
                // Our deadline: the statement is cancelled and the session closed.
                if let Some(token) = cancel.0.take() {
                    let _ = tokio::time::timeout(GRACE, token.cancel()).await;
                }
                return Err(SqlError::Timeout(st.timeout));
            }
        }
    }
}

/// How an exchange failed, and whether the session is fit to go back to the pool.
enum Failed {
    /// The first answer said the connection was closed: nothing ran.
    IdleClosed,
    /// A statement the session had prepared was gone (tenant code deallocated it): nothing
    /// ran, and the session is closed.
    Stale,
    /// The session's state is unknown (closed when the loan drops).
    Dirty(SqlError),
    /// The transaction ended and the reset answered.
    Clean(SqlError),
}

fn text_params(values: &[Option<String>]) -> Vec<TextParam> {
    values.iter().cloned().map(TextParam).collect()
}

/// Parameters sent as text of a type the server infers (`unknown`, as when prepared).
fn untyped(params: &[TextParam]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    params.iter().map(|p| (p as &(dyn ToSql + Sync), Type::UNKNOWN)).collect()
}

const SETTINGS: &str =
    "select pg_catalog.set_config('role', $1, true), pg_catalog.set_config('request.jwt.claims', $2, true),
        pg_catalog.set_config('search_path', $3, true), pg_catalog.set_config('statement_timeout', $4, true)";

async fn execute<F: FnOnce(&DataRow) -> bool>(
    session: &mut DataSession,
    database: &DatabaseName,
    st: &DataStatement,
    commit: &mut Option<F>,
) -> Result<(DataRow, bool), Failed> {
    let settings = text_params(&[
        Some(st.role.of(database)),
        Some(st.claims.clone()),
        Some(format!("pg_catalog, {}", ident(&st.schema))),
        Some(st.timeout.as_millis().max(1).to_string()),
    ]);
    let params = text_params(&st.params);
    let settings = untyped(&settings);
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let key = (st.role, st.schema.clone(), st.sql.clone());
    let cached = session.statements.get(&key).cloned();
    let client = &session.client;
    let begin = if st.read_only { "BEGIN READ ONLY" } else { "BEGIN" };
    let first = async {
        match &cached {
            Some(stmt) => {
                let (began, set, ran) = tokio::join!(
                    client.batch_execute(begin),
                    client.query_typed(SETTINGS, &settings),
                    client.query(stmt, &refs),
                );
                (began, set, ran, None)
            }
            None => {
                // Sent as text of whatever type the server infers, as when unprepared.
                let types = vec![Type::UNKNOWN; params.len()];
                let (began, set, prepared) = tokio::join!(
                    client.batch_execute(begin),
                    client.query_typed(SETTINGS, &settings),
                    client.prepare_typed(&st.sql, &types),
                );
                let (ran, prepared) = match prepared {
                    Ok(stmt) => (client.query(&stmt, &refs).await, Some(stmt)),
                    Err(e) => (Err(e), None),
                };
                (began, set, ran, prepared)
            }
        }
    };
    let ((began, set, ran, prepared), ended) = if st.read_only && cached.is_some() {
        // A read-only transaction changes nothing: it ends at once, whatever the caller
        // decides. (Not while a statement is being prepared: its execution must come first.)
        let (first, ended) = tokio::join!(first, end(client, "COMMIT"));
        (first, Some(ended))
    } else {
        (first.await, None)
    };
    if let Err(e) = &began {
        if e.is_closed() {
            return Err(Failed::IdleClosed);
        }
    }
    // Tenant code can DEALLOCATE our statements or PREPARE one under the name ours takes
    // next: the session is not reused.
    let names_broken = ran.as_ref().err().and_then(|e| e.code()).is_some_and(|c| {
        *c == tokio_postgres::error::SqlState::INVALID_SQL_STATEMENT_NAME
            || *c == tokio_postgres::error::SqlState::DUPLICATE_PSTATEMENT
    });
    // Our statement itself was gone: nothing ran, the Bind failed, and the request is tried
    // again on another session. (tokio-postgres names its statements `s<n>`; an error from
    // tenant code executing a missing statement of its own carries the code's context.)
    let stale = cached.is_some()
        && ran.as_ref().err().and_then(|e| e.as_db_error()).is_some_and(|db| {
            *db.code() == tokio_postgres::error::SqlState::INVALID_SQL_STATEMENT_NAME
                && db.where_().is_none()
                && db.message().starts_with("prepared statement \"s")
        });
    if stale {
        return Err(Failed::Stale);
    }
    let outcome = began.and(set).and(ran).map_err(sql_error).and_then(|rows| one_row(&rows));
    let decide = commit.take();
    let decision = match (&outcome, decide) {
        (Ok(row), Some(decide)) => decide(row),
        _ => false,
    };
    let ended = match ended {
        Some(ended) => ended,
        None => end(client, if decision { "COMMIT" } else { "ROLLBACK" }).await,
    };
    if let (Some(stmt), Ok(_)) = (prepared, &outcome) {
        if session.statements.len() >= MAX_STATEMENTS {
            session.statements.clear();
        }
        session.statements.insert(key, stmt);
    }
    match (outcome, ended) {
        (Err(e), _) if names_broken => Err(Failed::Dirty(e)),
        (Ok(row), Ok(())) => Ok((row, true)),
        // A deferred constraint fails the commit: the transaction rolled back.
        (Ok(_), Err(EndError::Commit(e))) => Err(Failed::Clean(sql_error(e))),
        (Err(e), Ok(()) | Err(EndError::Commit(_))) => Err(Failed::Clean(e)),
        (Ok(_), Err(EndError::Session(e))) => Err(Failed::Dirty(sql_error(e))),
        (Err(e), Err(EndError::Session(_))) => Err(Failed::Dirty(e)),
    }
}

/// The statement's one row.
fn one_row(rows: &[tokio_postgres::Row]) -> Result<DataRow, SqlError> {
    let [row] = rows else {
        return Err(SqlError::Rejected(format!("the statement answered {} rows", rows.len())));
    };
    Ok(DataRow {
        total_count: row.try_get(0).map_err(sql_error)?,
        page_total: row.try_get(1).map_err(sql_error)?,
        body: row.try_get(2).map_err(sql_error)?,
    })
}

enum EndError {
    /// The `COMMIT` failed (and rolled back); the session was cleaned.
    Commit(tokio_postgres::Error),
    /// Cleaning the session failed: it must not be reused.
    Session(tokio_postgres::Error),
}

/// What `DISCARD ALL` does but `DEALLOCATE ALL` and `DISCARD PLANS`: the session's role and
/// settings, cursors, `LISTEN`s, advisory locks, temporary tables and sequence state that
/// tenant code left are gone before the session serves another request; the statements we
/// prepared stay (their plans are PostgreSQL's to invalidate when the catalog changes).
/// `SET SESSION AUTHORIZATION DEFAULT` is what resets a `SET ROLE` (`RESET ALL` leaves it).
pub const RESET: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
     SELECT pg_catalog.pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

/// Ends the transaction with `end` and clears the session ([`RESET`]), in one round trip.
async fn end(client: &tokio_postgres::Client, end: &str) -> Result<(), EndError> {
    let (ended, discarded) = tokio::join!(client.batch_execute(end), client.batch_execute(RESET));
    discarded.map_err(EndError::Session)?;
    ended.map_err(EndError::Commit)
}

/// The schema cache document (`rest::CATALOG_QUERY` with its params), read as `login` (the
/// authenticator: the catalogs are readable by every role) in a read-only session of ours.
pub async fn catalog(
    host: &TenantHost,
    login: &TenantLogin,
    database: &DatabaseName,
    query: &str,
    params: &[Option<String>],
) -> Result<String, HostError> {
    let limits = SessionLimits { statement: Duration::from_secs(10), ..SessionLimits::REQUEST };
    let mut conn = crate::tenant::connect(host, database.as_str(), login, limits).await?;
    let tx = conn.build_transaction().read_only(true).start().await?;
    let params = text_params(params);
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let stmt = tx.prepare(query).await?;
    let row = tx.query_one(&stmt, &refs).await.map_err(crate::tenant::tenant_error)?;
    let doc: String = row.try_get(0)?;
    tx.commit().await?;
    Ok(doc)
}
