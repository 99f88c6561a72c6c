//! A tenant host as the workers see it: its PostgreSQL (as superuser, in the maintenance
//! database only: DDL on roles and databases; inside a tenant database see [`crate::tenant`])
//! and its PgBouncer (config files plus the admin console). Every step is idempotent: check, then act, and
//! "already there" is success when the object carries our marker.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use domain::{DatabaseId, DatabaseName, HostId, TenantHost};
use tokio::sync::Mutex;

/// Why a step on a tenant host failed, with its cause. Whether retrying can help is
/// [`HostError::is_permanent`].
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Worth retrying: the host or its PgBouncer did not answer, a lock was busy, …
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help: a name on the host belongs to something that is not ours.
    #[error("{0}")]
    Permanent(String),
    /// PostgreSQL (or PgBouncer's console) refused a statement or did not answer (transient).
    // `Display` of a server error is just "db error": say what the server said.
    #[error("tenant host: {}", describe_pg(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection from the host's pool (transient).
    #[error("tenant host pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// Reading or writing PgBouncer's config files (transient).
    #[error("pgbouncer config: {0}")]
    Io(#[from] std::io::Error),
    /// A RELOAD of PgBouncer did not take (the error says why); the previous HBA file was put
    /// back. Transient, and worth an operator's look: the caller opens an incident.
    #[error(transparent)]
    ReloadNotTaken(Box<HostError>),
}

fn describe_pg(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl HostError {
    /// Retrying cannot help (see [`HostError::Permanent`]); every other error is transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Permanent(_) => true,
            Self::ReloadNotTaken(cause) => cause.is_permanent(),
            Self::Transient(_) | Self::Postgres(_) | Self::Pool(_) | Self::Io(_) => false,
        }
    }
}

/// A host's passwords, read from the vault by the caller: its PostgreSQL superuser's and its
/// PgBouncer admin user's.
#[derive(Clone)]
pub struct HostCredentials {
    pub superuser_password: String,
    pub admin_password: String,
}

impl std::fmt::Debug for HostCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCredentials").finish_non_exhaustive()
    }
}

/// The vault ids of a host's credentials.
pub fn superuser_secret_id(host: HostId) -> String {
    format!("host:{}:superuser", host.uuid())
}

pub fn admin_secret_id(host: HostId) -> String {
    format!("host:{}:admin", host.uuid())
}

/// The comment that marks a role as created by Berth for one database.
pub fn marker(id: DatabaseId) -> String {
    format!("berth:database:{}", id.uuid())
}

/// Connections to tenant hosts, one small pool per host, made on first use.
#[derive(Clone, Default)]
pub struct Hosts {
    pools: Arc<Mutex<HashMap<HostId, HostEntry>>>,
    maria: crate::maria::MariaPools,
}

/// What this process keeps per host.
#[derive(Clone)]
struct HostEntry {
    pool: Pool,
    admin_slot: AdminSlot,
    sync_turn: crate::sync::SyncTurn,
}

/// The admin console while a caller has its turn (see [`HostConn::admin`]).
pub struct AdminConsole {
    client: Arc<tokio_postgres::Client>,
    _turn: tokio::sync::OwnedMutexGuard<Option<Arc<tokio_postgres::Client>>>,
}

impl std::ops::Deref for AdminConsole {
    type Target = tokio_postgres::Client;

    fn deref(&self) -> &tokio_postgres::Client {
        &self.client
    }
}

/// A host's PgBouncer admin-console connection, kept between uses: logging in costs a SCRAM
/// exchange (CPU on both ends) that every PgBouncer sync would otherwise pay, while the
/// host is busy creating a database.
type AdminSlot = Arc<Mutex<Option<Arc<tokio_postgres::Client>>>>;

#[derive(Clone)]
pub struct HostConn {
    pub spec: TenantHost,
    pub pool: Pool,
    pub(crate) admin_password: String,
    /// For the few superuser sessions outside the maintenance database (see `release`).
    pub(crate) superuser_password: String,
    admin_slot: AdminSlot,
    pub(crate) sync_turn: crate::sync::SyncTurn,
}

impl Hosts {
    /// The adapter of `spec`'s engine (its connections made on first use).
    pub async fn engine(
        &self,
        spec: TenantHost,
        credentials: HostCredentials,
    ) -> Result<Arc<dyn crate::TenantEngine>, HostError> {
        match spec.engine {
            domain::Engine::Postgres => Ok(Arc::new(self.get(spec, credentials).await?)),
            domain::Engine::MariaDb => Ok(Arc::new(self.maria.get(spec, credentials.superuser_password).await)),
            domain::Engine::MongoDb => Err(HostError::Permanent("no MongoDB host can exist here".into())),
        }
    }

    /// The host `spec` with its passwords: a connection pool made on first use (per host id,
    /// kept by this `Hosts`).
    pub async fn get(&self, spec: TenantHost, credentials: HostCredentials) -> Result<HostConn, HostError> {
        let HostCredentials { superuser_password, admin_password } = credentials;
        let mut pools = self.pools.lock().await;
        let entry = match pools.get(&spec.id) {
            Some(entry) => entry.clone(),
            None => {
                let password = superuser_password.clone();
                // The maintenance database is closed to tenants, but a lock a tenant holds
                // on a shared catalog row (its database, its role) could still make our DDL
                // wait: no statement of ours waits for ever.
                let options = "-c lock_timeout=30000 -c statement_timeout=300000";
                let mut cfg = tokio_postgres::Config::new();
                cfg.host(&spec.pg_host)
                    .port(spec.pg_port)
                    .user(&spec.superuser)
                    .password(password)
                    .dbname("postgres")
                    .options(options)
                    .application_name("berth-worker")
                    .connect_timeout(Duration::from_secs(5));
                let mgr = Manager::from_config(
                    cfg,
                    tokio_postgres::NoTls,
                    ManagerConfig { recycling_method: RecyclingMethod::Fast },
                );
                let pool = Pool::builder(mgr)
                    .max_size(4)
                    .runtime(deadpool_postgres::Runtime::Tokio1)
                    .create_timeout(Some(Duration::from_secs(5)))
                    .wait_timeout(Some(Duration::from_secs(30)))
                    .build()
                    .map_err(|e| HostError::Permanent(e.to_string()))?;
                let entry = HostEntry { pool, admin_slot: AdminSlot::default(), sync_turn: Default::default() };
                pools.insert(spec.id, entry.clone());
                entry
            }
        };
        let HostEntry { pool, admin_slot, sync_turn } = entry;
        Ok(HostConn { spec, pool, admin_password, superuser_password, admin_slot, sync_turn })
    }
}

pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// What the plan allows each of a database's roles, enforced by PostgreSQL where the tenant
/// cannot change it: `CONNECTION LIMIT` needs `CREATEROLE` to alter, `temp_file_limit` is a
/// superuser-only setting (a tenant's `SET` or `ALTER ROLE … SET` of it is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleLimits {
    pub connection_limit: i32,
    pub temp_file_limit_mb: i32,
}

impl RoleLimits {
    pub fn of(quotas: &domain::Quotas) -> Self {
        Self { connection_limit: quotas.connection_limit, temp_file_limit_mb: quotas.temp_file_limit_mb }
    }
}

/// `ALTER ROLE`/`CREATE ROLE` options for a login role with this verifier and these limits.
pub(crate) fn role_options(verifier: &str, limits: RoleLimits) -> String {
    format!("LOGIN PASSWORD {} CONNECTION LIMIT {}", literal(verifier), limits.connection_limit)
}

/// The settings that go with [`role_options`] (a separate statement: `CREATE ROLE` takes none).
pub(crate) fn role_settings(role: &str, limits: RoleLimits) -> String {
    format!("ALTER ROLE {role} SET temp_file_limit = '{}MB'", limits.temp_file_limit_mb)
}

/// One simple-query message of three statements, which runs as one implicit transaction: the
/// role never exists without its marker and its limits.
fn create_role_sql(id: DatabaseId, name: &DatabaseName, verifier: &str, limits: RoleLimits) -> String {
    let q = name.quoted();
    format!(
        "CREATE ROLE {q} {}; COMMENT ON ROLE {q} IS {}; {}",
        role_options(verifier, limits),
        literal(&marker(id)),
        role_settings(&q, limits)
    )
}

impl HostConn {
    /// Who owns the role `name` on this host: `None` if it does not exist, else its marker.
    async fn role_marker(&self, name: &DatabaseName) -> Result<Option<Option<String>>, HostError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt("select shobj_description(oid, 'pg_authid') from pg_roles where rolname = $1", &[&name.as_str()])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn ours(&self, id: DatabaseId, name: &DatabaseName) -> Result<bool, HostError> {
        Ok(self.role_marker(name).await?.flatten().as_deref() == Some(marker(id).as_str()))
    }

    /// Step 1: the login role, with its SCRAM verifier and our marker, in one transaction.
    pub async fn ensure_role(
        &self,
        id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        match self.role_marker(name).await? {
            None => client.batch_execute(&create_role_sql(id, name, verifier, limits)).await?,
            Some(m) if m.as_deref() == Some(marker(id).as_str()) => {
                let q = name.quoted();
                let set = role_options(verifier, limits);
                client.batch_execute(&format!("ALTER ROLE {q} {set}; {}", role_settings(&q, limits))).await?;
            }
            Some(_) => {
                return Err(HostError::Permanent(format!("role {name} already exists on the host and is not ours")))
            }
        }
        Ok(())
    }

    /// Step 1 of a first provisioning: [`HostConn::ensure_role`] in one round trip when the
    /// role is new (the usual case): create it with its marker, and only if it already exists
    /// (a re-run after a crash, or somebody else's role) look at who owns it.
    pub async fn create_role(
        &self,
        id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        match client.batch_execute(&create_role_sql(id, name, verifier, limits)).await {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_OBJECT) => {
                drop(client);
                self.ensure_role(id, name, verifier, limits).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Step 2: the database owned by the role. A database of that name owned by anyone else
    /// is not ours.
    pub async fn ensure_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        let owner: Option<String> = client
            .query_opt("select pg_get_userbyid(datdba)::text from pg_database where datname = $1", &[&name.as_str()])
            .await?
            .map(|r| r.get(0));
        match owner {
            None => {
                let q = name.quoted();
                client.batch_execute(&format!("CREATE DATABASE {q} OWNER {q}")).await?;
            }
            Some(o) if o == name.as_str() => {}
            Some(_) => {
                return Err(HostError::Permanent(format!("database {name} already exists on the host and is not ours")))
            }
        }
        Ok(())
    }

    /// Step 3: nobody but its role may connect.
    pub async fn restrict_connect(&self, name: &DatabaseName) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        let q = name.quoted();
        client
            .batch_execute(&format!(
                "REVOKE CONNECT, TEMPORARY ON DATABASE {q} FROM PUBLIC; GRANT CONNECT, TEMPORARY ON DATABASE {q} TO {q}"
            ))
            .await?;
        Ok(())
    }

    /// Drops the database and its role if they are ours; absent is success. Whatever the
    /// tenant did: a database marked `IS_TEMPLATE` (which `DROP DATABASE` refuses) is unmarked
    /// first, and grants other tenants gave the role are released (see `release`).
    pub async fn drop_database(&self, id: DatabaseId, name: &DatabaseName) -> Result<(), HostError> {
        if self.role_marker(name).await?.is_some() && !self.ours(id, name).await? {
            return Err(HostError::Permanent(format!("role {name} on the host is not ours; not dropping")));
        }
        let client = self.pool.get().await?;
        let owner: Option<String> = client
            .query_opt("select pg_get_userbyid(datdba)::text from pg_database where datname = $1", &[&name.as_str()])
            .await?
            .map(|r| r.get(0));
        if owner.as_deref() == Some(name.as_str()) {
            drop_any_database(&client, name.as_str()).await?;
        }
        drop(client);
        self.drop_role_everywhere(name.as_str(), &marker(id)).await?;
        // The database's extra users: nothing of theirs outlives the database.
        self.drop_user_roles_of(id).await
    }

    /// Ends client sessions of a pool on PgBouncer (before its database goes away).
    pub async fn kill_pool(&self, name: &DatabaseName) -> Result<(), HostError> {
        let admin = self.admin().await?;
        if served_databases(&admin).await?.iter().any(|s| s == name.as_str()) {
            admin.simple_query(&format!("KILL \"{}\"", name.as_str())).await?;
        }
        Ok(())
    }

    /// The host's PgBouncer admin console, on the kept connection (a new one if there is
    /// none or it closed), for one caller at a time: the console is one connection shared by
    /// every task of the process, and commands of two tasks interleaved on it (a reconciler's
    /// `SHOW DATABASES` while a sync reloads) left the connection waiting for an answer that
    /// never came, and with it every later PgBouncer step of the worker. Hold the returned
    /// console only for the commands that belong together.
    pub async fn admin(&self) -> Result<AdminConsole, HostError> {
        let mut slot = self.admin_slot.clone().lock_owned().await;
        let client = match slot.as_ref().filter(|c| !c.is_closed()) {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(self.connect_admin().await?);
                *slot = Some(c.clone());
                c
            }
        };
        Ok(AdminConsole { client, _turn: slot })
    }

    /// A new connection to the host's PgBouncer admin console (the watchdog's probe: it
    /// checks that PgBouncer accepts logins, not only that an old connection still works).
    pub async fn connect_admin(&self) -> Result<tokio_postgres::Client, HostError> {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.spec.bouncer_host)
            .port(self.spec.bouncer_port)
            .user(&self.spec.admin_user)
            .password(&self.admin_password)
            .dbname("pgbouncer")
            .connect_timeout(Duration::from_secs(5));
        let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

pub async fn served_databases(admin: &tokio_postgres::Client) -> Result<Vec<String>, HostError> {
    let mut names = Vec::new();
    for msg in admin.simple_query("SHOW DATABASES").await? {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
            if let Some(name) = row.get("name") {
                names.push(name.to_owned());
            }
        }
    }
    Ok(names)
}

/// `DROP DATABASE … WITH (FORCE)` of a database whose owner may have marked it a template
/// (`ALTER DATABASE self IS_TEMPLATE true`, which the owner may do and which makes
/// `DROP DATABASE` refuse). `name` is a validated database name or a `berth-` scratch name.
pub(crate) async fn drop_any_database(client: &tokio_postgres::Client, name: &str) -> Result<(), HostError> {
    let q = crate::release::ident(name);
    let template: Option<bool> =
        client.query_opt("select datistemplate from pg_database where datname = $1", &[&name]).await?.map(|r| r.get(0));
    if template == Some(true) {
        client.batch_execute(&format!("ALTER DATABASE {q} IS_TEMPLATE false")).await?;
    }
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)")).await?;
    Ok(())
}

/// Writes `dir/name` through a temporary file and a rename, owned like `dir` (PgBouncer runs
/// as the directory's owner, which is not us when we are root). The rename also matters to
/// PgBouncer: it re-reads its auth_file on RELOAD only when the file's stat changed, which an
/// in-place rewrite of the same size within one second does not do.
pub(crate) async fn read_optional(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn write_atomically(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = dir.to_owned();
    let name = name.to_owned();
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&dir)?;
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, &bytes)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid()))?;
        std::fs::rename(&tmp, dir.join(&name))
    })
    .await
    .map_err(std::io::Error::other)?
}

impl HostConn {
    /// `pg_database_size` of each named database that exists on the host, with the
    /// platform's scratch copies it owns added (a verification's `berth-verify-…`: a tenant
    /// whose code fills the copy pays for it in its own storage while it exists). A database
    /// dropped while it is measured has no size (PostgreSQL answers NULL) and is left out.
    pub async fn database_sizes(&self, names: &[String]) -> Result<Vec<(String, i64)>, HostError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "select r.rolname::text, sum(pg_database_size(d.oid))::int8
                   from pg_database d join pg_roles r on r.oid = d.datdba
                  where r.rolname::text = any($1)
                    and (d.datname = r.rolname or d.datname like 'berth-verify-%')
                  group by r.rolname
                 having bool_or(d.datname = r.rolname)",
                &[&names],
            )
            .await?;
        Ok(rows.iter().filter_map(|r| Some((r.get(0), r.get::<_, Option<i64>>(1)?))).collect())
    }
}
