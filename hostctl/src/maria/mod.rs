//! MariaDB tenant hosts: the second implementation of [`crate::TenantEngine`].
//!
//! A MariaDB server has no pooler in front of it: its own accounts are the front door. A
//! database `shop` has a login `shop` (its owner) and its users' logins (`shop.alice`), each a
//! set of MariaDB accounts — `'login'@'localhost'`, reachable only through the server's Unix
//! socket under the platform's data dir (the platform's way in, as the PostgreSQL host's
//! socket is), and one account per network rule: `'login'@'%'` without an allowlist, one
//! per allowed IPv4 network (`'login'@'10.0.0.0/255.0.0.0'`) or IPv6 address with one. The
//! front-door sync (`accounts`) renders exactly those, with the same password hash,
//! `MAX_USER_CONNECTIONS` and lock state (a stopped database's accounts are locked).
//!
//! What the platform made is marked in `berth_meta`, a database no tenant has a grant on:
//! every login with its database and marker, and which databases were filled. Nothing is
//! dropped that carries another marker.
//!
//! Our sessions are the `berth_admin` account on the Unix socket, with a lock-wait and a
//! statement deadline on every session, and they never run tenant code: they create and drop
//! accounts, grant, drop databases and read `information_schema` and `mysql.user`. Whatever
//! reads or writes tenant data (backups, restores, checksums, schema) logs in as the
//! tenant's own login, so a view's or trigger's `DEFINER` can give it nothing the tenant
//! lacks. The server runs with the event scheduler off, so no tenant event ever runs.

mod accounts;
mod definer;
mod engine;
mod streams;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::{DatabaseName, HostId, TenantHost};
use mysql_async::prelude::Queryable;
use sha1::{Digest, Sha1};
use tokio::sync::{Mutex, OnceCell};

use crate::host::HostError;
use crate::sync::SyncTurn;

/// The database holding the platform's markers on a MariaDB host.
pub const META_DATABASE: &str = "berth_meta";
/// How long one of our statements may wait for a tenant's lock, and run, in seconds.
const LOCK_WAIT_SECONDS: u32 = 10;
const STATEMENT_SECONDS: u32 = 60;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `mysql_native_password`'s stored form of `password`: `*` and the upper-case hex of
/// SHA1(SHA1(password)). The server keeps only this; so does the platform (for the sync).
pub fn native_password_hash(password: &str) -> String {
    let once = Sha1::digest(password.as_bytes());
    let twice = Sha1::digest(once);
    format!("*{}", hex::encode_upper(twice))
}

/// A MariaDB string literal (the server's default SQL mode: backslash escapes on).
pub(crate) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A MariaDB identifier.
pub(crate) fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// A database name in a database-level `GRANT … ON db.*`: there `_` and `%` are wildcards
/// (a grant on `a_b` would reach `axb`), so they are escaped. Our names have neither, but
/// the quoting does not rely on it.
pub(crate) fn grant_db(name: &str) -> String {
    ident(&name.replace('\\', "\\\\").replace('_', "\\_").replace('%', "\\%"))
}

/// How the server names a database's directory (and its tables' tablespaces): letters,
/// digits and `_` as they are, every other character as `@` and its code in four hex digits
/// (`shop-m` → `shop@002dm`).
pub(crate) fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_string() } else { format!("@{:04x}", c as u32) })
        .collect()
}

/// The connections a process keeps to one MariaDB host.
#[derive(Clone)]
pub(crate) struct MariaShared {
    pool: mysql_async::Pool,
    /// The platform account's password, for the client tools that log in as it.
    admin_password: Arc<str>,
    sync_turn: SyncTurn,
    meta: Arc<OnceCell<()>>,
}

/// Per-process cache of MariaDB hosts' pools (beside [`crate::Hosts`]' PostgreSQL ones).
#[derive(Clone, Default)]
pub(crate) struct MariaPools(Arc<Mutex<HashMap<HostId, MariaShared>>>);

impl MariaPools {
    pub(crate) async fn get(&self, spec: TenantHost, password: String) -> MariaHost {
        let mut pools = self.0.lock().await;
        let shared = pools
            .entry(spec.id)
            .or_insert_with(|| MariaShared {
                pool: admin_pool(&spec, &password),
                admin_password: password.as_str().into(),
                sync_turn: SyncTurn::default(),
                meta: Arc::default(),
            })
            .clone();
        MariaHost { spec, shared }
    }
}

fn admin_pool(spec: &TenantHost, password: &str) -> mysql_async::Pool {
    let opts = mysql_async::OptsBuilder::default()
        .socket(Some(spec.pg_host.clone()))
        .user(Some(spec.superuser.clone()))
        .pass(Some(password.to_owned()))
        .init(vec![session_limits()])
        .wait_timeout(Some(3600))
        .pool_opts(
            mysql_async::PoolOpts::default().with_constraints(mysql_async::PoolConstraints::new(0, 4).expect("0 <= 4")),
        );
    mysql_async::Pool::new(opts)
}

/// Every session of ours: a bounded wait for a tenant's locks and a bounded run.
fn session_limits() -> String {
    format!("SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}, max_statement_time = {STATEMENT_SECONDS}")
}

/// Whether database `name` is one the platform made (recorded in `berth_meta.databases`).
async fn is_ours(conn: &mut mysql_async::Conn, name: &str) -> Result<bool, HostError> {
    let found: Option<String> = conn
        .exec_first(format!("SELECT db FROM {}.databases WHERE db = ?", ident(META_DATABASE)), (name,))
        .await
        .map_err(maria_error)?;
    Ok(found.is_some())
}

/// A MariaDB tenant host, as the platform's admin account.
#[derive(Clone)]
pub struct MariaHost {
    pub spec: TenantHost,
    shared: MariaShared,
}

pub(crate) fn maria_error(e: mysql_async::Error) -> HostError {
    match e {
        mysql_async::Error::Server(s) => HostError::Transient(format!("mariadb: {} ({})", s.message, s.code)),
        e => HostError::Transient(format!("mariadb: {e}")),
    }
}

impl MariaHost {
    /// An admin session, with the platform's markers database in place.
    pub(crate) async fn admin(&self) -> Result<mysql_async::Conn, HostError> {
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, self.shared.pool.get_conn())
            .await
            .map_err(|_| HostError::Transient("mariadb: no admin session within 5 s".into()))?
            .map_err(maria_error)?;
        self.shared
            .meta
            .get_or_try_init(|| async {
                conn.query_drop(format!(
                    "CREATE DATABASE IF NOT EXISTS {m};
                     CREATE TABLE IF NOT EXISTS {m}.logins (
                         login VARCHAR(128) NOT NULL PRIMARY KEY,
                         db VARCHAR(64) NOT NULL,
                         marker VARCHAR(80) NOT NULL,
                         is_owner BOOLEAN NOT NULL,
                         max_connections INT NOT NULL,
                         KEY (db)
                     ) ENGINE=InnoDB;
                     CREATE TABLE IF NOT EXISTS {m}.populated (db VARCHAR(64) NOT NULL PRIMARY KEY) ENGINE=InnoDB;
                     CREATE TABLE IF NOT EXISTS {m}.databases (db VARCHAR(64) NOT NULL PRIMARY KEY) ENGINE=InnoDB",
                    m = ident(META_DATABASE)
                ))
                .await
                .map_err(maria_error)
            })
            .await?;
        Ok(conn)
    }

    pub(crate) fn admin_password(&self) -> &str {
        &self.shared.admin_password
    }

    /// The server's Unix socket (the platform's way in).
    pub(crate) fn socket(&self) -> &str {
        &self.spec.pg_host
    }

    /// Creates database `name` and records it as ours; one of that name the platform did
    /// not make is refused (never adopted, never dropped).
    async fn create_database_named(&self, name: &str) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        if !is_ours(&mut conn, name).await? {
            let exists: Option<String> = conn
                .exec_first("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", (name,))
                .await
                .map_err(maria_error)?;
            if exists.is_some() {
                return Err(HostError::Permanent(format!("database {name} exists on the host and is not ours")));
            }
            // The record first: a retry after a crash between the two finds it and goes on.
            conn.exec_drop(format!("INSERT IGNORE INTO {}.databases (db) VALUES (?)", ident(META_DATABASE)), (name,))
                .await
                .map_err(maria_error)?;
        }
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {}", ident(name))).await.map_err(maria_error)
    }

    /// Drops database `name` if it is ours, whatever holds it: its logins' sessions end first,
    /// so no tenant's lock can keep the drop waiting (beyond our lock-wait deadline).
    async fn drop_database_named(&self, name: &str) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        if !is_ours(&mut conn, name).await? {
            return Ok(());
        }
        accounts::kill_sessions_in(&mut conn, name).await?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS {}", ident(name))).await.map_err(maria_error)?;
        conn.exec_drop(format!("DELETE FROM {}.databases WHERE db = ?", ident(META_DATABASE)), (name,))
            .await
            .map_err(maria_error)
    }

    async fn is_populated(&self, name: &DatabaseName) -> Result<bool, HostError> {
        let mut conn = self.admin().await?;
        let found: Option<String> = conn
            .exec_first(format!("SELECT db FROM {}.populated WHERE db = ?", ident(META_DATABASE)), (name.as_str(),))
            .await
            .map_err(maria_error)?;
        Ok(found.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_native_password_hash_is_the_servers() {
        // SELECT PASSWORD('secret') on MariaDB 10.11.
        assert_eq!(native_password_hash("secret"), "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7");
    }

    #[test]
    fn database_names_map_to_the_servers_file_names() {
        assert_eq!(file_name("shop-m"), "shop@002dm");
        assert_eq!(file_name("a1_b"), "a1_b");
    }

    #[test]
    fn names_are_quoted_and_grant_wildcards_escaped() {
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(lit("it's \\"), "'it''s \\\\'");
        assert_eq!(grant_db("a_b%c"), "`a\\_b\\%c`");
    }
}
