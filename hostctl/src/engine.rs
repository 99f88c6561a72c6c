//! The tenant-host interface: what the control plane asks of a host that serves tenant
//! databases of one engine, taking data in and returning outcomes. The caller reads the data
//! from the control plane and records the outcomes (events, incidents); an engine never
//! reads or writes the control plane. [`HostConn`] (PostgreSQL behind PgBouncer) is the first
//! implementation, `crate::maria::MariaHost` the second; see the crate root for how another
//! engine plugs in.

use std::time::Duration;

use domain::{DatabaseId, DatabaseName, Engine, TableStats, TenantHost};
use opendal::Operator;

use crate::bins::PgBins;
use crate::dump::{self, DumpOutcome};
use crate::inspect::{self, DatabaseMetrics, SchemaInfo};
use crate::restore_check;
use crate::sync::{BouncerState, SyncRequest};
use crate::{HostConn, HostError, RoleLimits, TenantLogin};

/// One step of a database's lifecycle (stop, start, restart), on the front door (the
/// pooler, or whatever admits clients) or on the server itself. Each is idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleStep {
    /// The front door refuses new clients and holds none (stop).
    CloseFrontDoor,
    /// The server refuses new sessions of the database (stop).
    BlockConnections,
    /// The server admits sessions again (start).
    AllowConnections,
    /// The front door admits clients again (start).
    OpenFrontDoor,
    /// The front door drops its server connections, keeping its clients (restart).
    BounceFrontDoor,
    /// The server ends the database's sessions (restart).
    TerminateSessions,
}

/// What a backup, a restore or a copy streams through: the object store, PostgreSQL's client
/// tools (a MariaDB host finds its own, `mariadb-dump` and `mariadb`, on the PATH) and the
/// compression, and when the attempt ends.
#[derive(Clone, Copy)]
pub struct Streams<'a> {
    pub objects: &'a Operator,
    pub bins: &'a PgBins,
    /// gzip level of a backup object.
    pub level: u32,
    /// When the job's attempt ends: no session or child process outlives it.
    pub deadline: Duration,
}

/// A backup taken: the object's outcome and, from the same snapshot, each table's row count
/// and checksum (what a verification compares a restore with).
#[derive(Debug, Clone)]
pub struct BackupTaken {
    pub dump: DumpOutcome,
    pub tables: Vec<TableStats>,
}

/// The stored form of a login's password on an engine's hosts (what the control plane
/// keeps for the front door and hands to `create_owner`, `ensure_user`…): a SCRAM-SHA-256
/// verifier for PostgreSQL (PgBouncer checks it), `mysql_native_password`'s hash for
/// MariaDB. Computed off the async workers by the caller (SCRAM is slow on purpose).
pub fn credential_verifier(engine: Engine, password: &str) -> String {
    match engine {
        Engine::MariaDb => crate::maria::native_password_hash(password),
        Engine::Postgres | Engine::MongoDb => postgres_protocol::password::scram_sha_256(password.as_bytes()),
    }
}

/// What a host's server says of itself, and the free space where it keeps its data (read
/// on this machine: meaningful for hosts the platform runs locally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub version: String,
    pub free_bytes: Option<i64>,
}

impl HostFacts {
    pub fn new(version: String, data_dir: String) -> Self {
        let free_bytes = rustix::fs::statvfs(data_dir.as_str())
            .ok()
            .map(|v| i64::try_from(v.f_bavail.saturating_mul(v.f_frsize)).unwrap_or(i64::MAX));
        Self { version, free_bytes }
    }
}

/// A host serving tenant databases of one engine. Every method is idempotent (check, then
/// act; "already there" is success when it is ours) and says with [`HostError::is_permanent`]
/// whether a retry can help.
#[async_trait::async_trait]
pub trait TenantEngine: Send + Sync {
    /// The host this adapter acts on.
    fn host(&self) -> &TenantHost;
    /// The database server answers (a trivial statement).
    async fn ping(&self) -> Result<(), HostError>;
    /// The server answers with its version and data directory (the watchdog's probe).
    async fn facts(&self) -> Result<HostFacts, HostError>;
    /// Logs in as database `name`'s own login with `password` through the front door, on
    /// the platform's own way in (which no allowlist governs: it may well not list the
    /// platform's address), and runs a trivial statement.
    async fn verify_login(&self, name: &DatabaseName, password: String) -> Result<(), HostError>;

    // Provisioning and dropping.

    /// The database's own login (same name as the database) with its credential verifier and
    /// limits, marked as the platform's for database `id`.
    async fn create_owner(
        &self,
        id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError>;
    /// The database, owned by its own login.
    async fn create_database(&self, name: &DatabaseName) -> Result<(), HostError>;
    /// Nobody but the database's own logins may connect to it.
    async fn restrict_database(&self, name: &DatabaseName) -> Result<(), HostError>;
    /// Ends the front door's client sessions of the database (before it goes away).
    async fn disconnect_clients(&self, name: &DatabaseName) -> Result<(), HostError>;
    /// Drops the database, its owner login and its users' logins, if they are ours.
    async fn drop_database(&self, id: DatabaseId, name: &DatabaseName) -> Result<(), HostError>;

    // Lifecycle, credentials, users.

    async fn lifecycle(&self, name: &DatabaseName, step: LifecycleStep) -> Result<(), HostError>;
    /// Sets the owner login's credential verifier and limits (a password reset, a plan change).
    async fn set_owner_credential(
        &self,
        id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError>;
    /// A database user's login (`login`), with its verifier and limits, admitted to `db`.
    async fn ensure_user(
        &self,
        id: DatabaseId,
        db: &DatabaseName,
        login: &str,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError>;
    /// Drops a database user's login; what it owns in `db` goes to the owner (`owner`).
    async fn drop_user(
        &self,
        id: DatabaseId,
        db: &DatabaseName,
        owner: &TenantLogin,
        login: &str,
    ) -> Result<(), HostError>;
    /// Drops every user login of database `id`.
    async fn drop_users_of(&self, id: DatabaseId) -> Result<(), HostError>;
    /// Nobody but the platform may use the database until it is opened again (storage quota).
    async fn lock_database(&self, name: &DatabaseName) -> Result<(), HostError>;

    // Network rules: the front door serves the host's databases, logins and allowlists.

    /// A request to bring the front door up to date, in this process's line (see
    /// `crate::sync` for the sequence the caller drives).
    fn ask_front_door_sync(&self) -> SyncRequest<'_>;
    /// Makes the front door serve `state` (during the request's render).
    async fn apply_front_door(&self, state: &BouncerState) -> Result<(), HostError>;

    // Backup and restore streams, verification.

    /// Backs database `name` up into the object `key`, as its owner, with its tables' stats
    /// from the same snapshot. The object exists only if the whole backup succeeded.
    async fn backup(
        &self,
        name: &DatabaseName,
        owner: &TenantLogin,
        streams: Streams<'_>,
        key: &str,
    ) -> Result<BackupTaken, HostError>;
    /// Restores the object `key` (which must have the SHA-256 `sha256`) into database `into`,
    /// as `login`.
    async fn restore(
        &self,
        into: &str,
        login: &TenantLogin,
        streams: Streams<'_>,
        key: &str,
        sha256: &str,
    ) -> Result<(), HostError>;
    /// Copies database `from` (read as `from_login`) into `into` (written as `into_login`).
    async fn copy(
        &self,
        from: (&str, &TenantLogin),
        into: (&str, &TenantLogin),
        streams: Streams<'_>,
    ) -> Result<(), HostError>;
    /// Where a load tool reaches database `dbname` on this host as `login`, when this process
    /// can pipe into it directly (`None`: go through the object store).
    fn load_target(&self, _dbname: &str, _login: &TenantLogin, _deadline: Duration) -> Option<dump::PgTarget> {
        None
    }
    /// Copies database `name` (read as `owner`, grants kept) straight into database `name` on
    /// host `into`, with each table's stats from the copy's snapshot; `None` when the two
    /// cannot be piped together (the caller goes through the object store instead).
    async fn copy_into(
        &self,
        _name: &DatabaseName,
        _owner: &TenantLogin,
        _into: &dyn TenantEngine,
        _streams: Streams<'_>,
    ) -> Result<Option<Vec<TableStats>>, HostError> {
        Ok(None)
    }
    /// Each table's row count and checksum in database `dbname`, read as `login`.
    async fn table_stats(
        &self,
        dbname: &str,
        login: &TenantLogin,
        deadline: Duration,
    ) -> Result<Vec<TableStats>, HostError>;
    /// Whether the database was filled from its source (restore, branch).
    async fn is_populated(&self, name: &DatabaseName) -> Result<bool, HostError>;
    async fn mark_populated(&self, name: &DatabaseName) -> Result<(), HostError>;
    /// Drops and creates the database again, empty (a fill that died halfway).
    async fn recreate_database(&self, name: &DatabaseName) -> Result<(), HostError>;
    /// A scratch database `scratch` owned by `owner`'s login (a verification's restore).
    async fn create_scratch(&self, scratch: &str, owner: &DatabaseName) -> Result<(), HostError>;
    async fn drop_scratch(&self, scratch: &str) -> Result<(), HostError>;

    // Size and inspection.

    /// The size of each named database that exists, with the platform's scratch copies it owns.
    async fn sizes(&self, names: &[String]) -> Result<Vec<(String, i64)>, HostError>;
    /// Size, sessions, transactions, cache hits and top statements of `name`.
    async fn metrics(&self, name: &DatabaseName) -> Result<DatabaseMetrics, HostError>;
    /// Tables and views of `name`, read as its owner.
    async fn schema(&self, name: &DatabaseName, owner: &TenantLogin) -> Result<SchemaInfo, HostError>;
}

#[async_trait::async_trait]
impl TenantEngine for HostConn {
    fn host(&self) -> &TenantHost {
        &self.spec
    }

    async fn ping(&self) -> Result<(), HostError> {
        self.pool.get().await?.simple_query("select 1").await?;
        Ok(())
    }

    async fn facts(&self) -> Result<HostFacts, HostError> {
        let row = self
            .pool
            .get()
            .await?
            .query_one("select current_setting('server_version'), current_setting('data_directory')", &[])
            .await?;
        Ok(HostFacts::new(row.get(0), row.get(1)))
    }

    async fn verify_login(&self, name: &DatabaseName, password: String) -> Result<(), HostError> {
        // PgBouncer's Unix socket (in its config dir), as a client would log in.
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.spec.config_dir)
            .port(self.spec.bouncer_port)
            .user(name.as_str())
            .password(password)
            .dbname(name.as_str())
            .connect_timeout(Duration::from_secs(5));
        let (client, conn) = cfg
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| HostError::Transient(format!("login through pgbouncer failed: {e}")))?;
        let driver = tokio::spawn(conn);
        let ok = client.simple_query("select 1").await;
        drop(client);
        let _ = driver.await;
        ok.map(|_| ()).map_err(|e| HostError::Transient(format!("query through pgbouncer failed: {e}")))
    }

    async fn create_owner(
        &self,
        id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError> {
        self.create_role(id, name, verifier, limits).await
    }

    async fn create_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.ensure_database(name).await
    }

    async fn restrict_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.restrict_connect(name).await
    }

    async fn disconnect_clients(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.kill_pool(name).await
    }

    async fn drop_database(&self, id: DatabaseId, name: &DatabaseName) -> Result<(), HostError> {
        HostConn::drop_database(self, id, name).await
    }

    async fn lifecycle(&self, name: &DatabaseName, step: LifecycleStep) -> Result<(), HostError> {
        match step {
            LifecycleStep::CloseFrontDoor => self.close_pool(name).await,
            LifecycleStep::BlockConnections => self.block_connections(name).await,
            LifecycleStep::AllowConnections => self.allow_connections(name).await,
            LifecycleStep::OpenFrontDoor => self.open_pool(name).await,
            LifecycleStep::BounceFrontDoor => self.bounce_pool(name).await,
            LifecycleStep::TerminateSessions => self.terminate_backends(name).await,
        }
    }

    async fn set_owner_credential(
        &self,
        id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError> {
        self.ensure_role(id, name, verifier, limits).await
    }

    async fn ensure_user(
        &self,
        id: DatabaseId,
        db: &DatabaseName,
        login: &str,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError> {
        self.ensure_user_role(id, db, login, verifier, limits).await
    }

    async fn drop_user(
        &self,
        id: DatabaseId,
        db: &DatabaseName,
        owner: &TenantLogin,
        login: &str,
    ) -> Result<(), HostError> {
        self.drop_user_role(id, db, owner, login).await
    }

    async fn drop_users_of(&self, id: DatabaseId) -> Result<(), HostError> {
        self.drop_user_roles_of(id).await
    }

    async fn lock_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        HostConn::lock_database(self, name).await
    }

    fn ask_front_door_sync(&self) -> SyncRequest<'_> {
        self.ask_bouncer_sync()
    }

    async fn apply_front_door(&self, state: &BouncerState) -> Result<(), HostError> {
        self.apply_bouncer_state(state).await
    }

    async fn backup(
        &self,
        name: &DatabaseName,
        owner: &TenantLogin,
        streams: Streams<'_>,
        key: &str,
    ) -> Result<BackupTaken, HostError> {
        // The tenant's own role takes the snapshot, the checksums and the dump: all of it
        // runs inside the tenant's database (see `crate::tenant`).
        let mut client = self.tenant(name.as_str(), owner, streams.deadline).await?;
        let (tx, snap) = restore_check::export_snapshot(&mut client).await?;
        let source = self.tenant_target(name.as_str(), owner, streams.deadline)?;
        let (dumped, stats) = tokio::join!(
            dump::dump_to_object(streams.bins, &source, Some(&snap), streams.objects, key, streams.level),
            restore_check::table_stats(&tx)
        );
        let _ = tx.rollback().await;
        match (dumped, stats) {
            (Ok(dump), Ok(tables)) => Ok(BackupTaken { dump, tables }),
            (dumped, stats) => {
                if dumped.is_ok() {
                    // The object is complete but its stats are not: it must not stay.
                    streams.objects.delete(key).await.map_err(crate::objects::store_error)?;
                }
                // The stats' error first: when their transaction fails, pg_dump's import of
                // its snapshot fails too, and says less.
                Err(stats.err().or(dumped.err()).unwrap_or(HostError::Transient("backup failed".into())))
            }
        }
    }

    async fn restore(
        &self,
        into: &str,
        login: &TenantLogin,
        streams: Streams<'_>,
        key: &str,
        sha256: &str,
    ) -> Result<(), HostError> {
        // psql logs in as the tenant's own role (so the objects are its own), never as the
        // superuser: a dump is the tenant's SQL and must not run with more rights than theirs.
        let target = self.tenant_target(into, login, streams.deadline)?;
        dump::restore_from_object(streams.bins, &target, streams.objects, key, sha256, "").await.map(|_| ())
    }

    async fn copy(
        &self,
        from: (&str, &TenantLogin),
        into: (&str, &TenantLogin),
        streams: Streams<'_>,
    ) -> Result<(), HostError> {
        let source = self.tenant_target(from.0, from.1, streams.deadline)?;
        let target = self.tenant_target(into.0, into.1, streams.deadline)?;
        dump::copy_database(streams.bins, &source, &target, "").await
    }

    fn load_target(&self, dbname: &str, login: &TenantLogin, deadline: Duration) -> Option<dump::PgTarget> {
        self.tenant_target(dbname, login, deadline).ok()
    }

    async fn copy_into(
        &self,
        name: &DatabaseName,
        owner: &TenantLogin,
        into: &dyn TenantEngine,
        streams: Streams<'_>,
    ) -> Result<Option<Vec<TableStats>>, HostError> {
        let Some(target) = into.load_target(name.as_str(), owner, streams.deadline) else { return Ok(None) };
        // As a backup does: the tenant's own role takes the snapshot and the checksums, and
        // pg_dump reads inside that snapshot while psql loads it on the other host.
        let mut client = self.tenant(name.as_str(), owner, streams.deadline).await?;
        let (tx, snap) = restore_check::export_snapshot(&mut client).await?;
        let source = self.tenant_target(name.as_str(), owner, streams.deadline)?;
        let (copied, stats) =
            tokio::join!(dump::copy_snapshot(streams.bins, &source, &snap, &target), restore_check::table_stats(&tx));
        let _ = tx.rollback().await;
        // The stats' error first (see `backup`).
        let stats = stats?;
        copied?;
        Ok(Some(stats))
    }

    async fn table_stats(
        &self,
        dbname: &str,
        login: &TenantLogin,
        deadline: Duration,
    ) -> Result<Vec<TableStats>, HostError> {
        let client = self.tenant(dbname, login, deadline).await?;
        restore_check::table_stats(&*client).await
    }

    async fn is_populated(&self, name: &DatabaseName) -> Result<bool, HostError> {
        HostConn::is_populated(self, name).await
    }

    async fn mark_populated(&self, name: &DatabaseName) -> Result<(), HostError> {
        HostConn::mark_populated(self, name).await
    }

    async fn recreate_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        HostConn::recreate_database(self, name).await
    }

    async fn create_scratch(&self, scratch: &str, owner: &DatabaseName) -> Result<(), HostError> {
        HostConn::create_scratch(self, scratch, owner).await
    }

    async fn drop_scratch(&self, scratch: &str) -> Result<(), HostError> {
        HostConn::drop_scratch(self, scratch).await
    }

    async fn sizes(&self, names: &[String]) -> Result<Vec<(String, i64)>, HostError> {
        self.database_sizes(names).await
    }

    async fn metrics(&self, name: &DatabaseName) -> Result<DatabaseMetrics, HostError> {
        inspect::database_metrics(&self.spec, &self.superuser_password, name).await
    }

    async fn schema(&self, name: &DatabaseName, owner: &TenantLogin) -> Result<SchemaInfo, HostError> {
        inspect::database_schema(&self.spec, owner, name).await
    }
}
