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
//! - every session carries `search_path=pg_catalog,pg_temp` in its startup packet, which
//!   `ALTER DATABASE/ROLE … SET search_path` cannot override (startup options outrank them),
//!   so the names in our SQL resolve to the builtins first; our queries also qualify their
//!   operators and functions;
//! - child processes (pg_dump, psql) get a [`crate::dump::PgTarget`] built from a login, with
//!   the same options in `PGOPTIONS`.
//!
//! Superuser connections exist only for the maintenance database (`postgres`) and DDL on roles
//! and databases, where no tenant object can be reached ([`crate::HostConn`]'s pool).

use std::time::Duration;

use domain::{DatabaseId, DatabaseName};
use eventstore::queries::HostRow;
use eventstore::Store;

use crate::dump::PgTarget;
use crate::{HostConn, HostError};

/// The vault id of a tenant database's password.
pub fn password_secret_id(id: DatabaseId) -> String {
    format!("database:{}:password", id.uuid())
}

/// Startup options of every session in a tenant database.
pub const PINNED_OPTIONS: &str = "-c search_path=pg_catalog,pg_temp";

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

    /// The owner login of database `id`, its password read from the vault.
    pub async fn of_owner(store: &Store, id: DatabaseId, name: &DatabaseName) -> Result<Self, HostError> {
        let secret = store
            .get_secret(&password_secret_id(id))
            .await
            .map_err(|e| HostError::Permanent(format!("the password of {name}: {e}")))?;
        let password = String::from_utf8(secret)
            .map_err(|_| HostError::Permanent(format!("the password of {name} is not text")))?;
        Ok(Self::owner(name, password))
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

fn check_login(row: &HostRow, login: &TenantLogin) -> Result<(), HostError> {
    if login.role == row.superuser {
        return Err(HostError::Permanent("refusing to open a tenant database as the host's superuser".into()));
    }
    Ok(())
}

/// Logs in to `dbname` on the host `row` as `login`'s role, through the host's address (for
/// a local host its Unix socket: tenant roles may log in nowhere else). `statement_timeout`
/// bounds each statement (an API request must not wait on a tenant's slow catalog); `None`
/// for jobs, whose checksums read whole tables.
pub async fn connect(
    row: &HostRow,
    dbname: &str,
    login: &TenantLogin,
    statement_timeout: Option<Duration>,
) -> Result<TenantConn, HostError> {
    check_login(row, login)?;
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&row.pg_host)
        .port(row.pg_port)
        .user(&login.role)
        .password(&login.password)
        .dbname(dbname)
        .options(format!("{PINNED_OPTIONS} -c statement_timeout={}", statement_timeout.map_or(0, |t| t.as_millis())))
        .application_name("berth-platform")
        .connect_timeout(Duration::from_secs(5));
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    // The server reports `is_superuser` at login; a tenant role must never be one (if it
    // somehow became one, nothing of ours runs in its database until an operator looks).
    if conn.parameter("is_superuser") != Some("off") {
        return Err(HostError::Permanent(format!(
            "role {} is a superuser on the host: refusing to run anything in {dbname}",
            login.role
        )));
    }
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(TenantConn { client })
}

impl HostConn {
    /// [`connect`] to this host.
    pub async fn tenant(&self, dbname: &str, login: &TenantLogin) -> Result<TenantConn, HostError> {
        connect(&self.row, dbname, login, None).await
    }

    /// Where a child process (pg_dump, psql) logs in to `dbname` as `login`'s role.
    pub fn tenant_target(&self, dbname: &str, login: &TenantLogin) -> Result<PgTarget, HostError> {
        check_login(&self.row, login)?;
        Ok(PgTarget::new(&self.row.pg_host, self.row.pg_port, login, dbname))
    }
}
