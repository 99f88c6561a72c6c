//! Removing a tenant's role whatever other tenants did to it.
//!
//! Role names are visible to every tenant (`pg_roles`), and any tenant may grant its own
//! objects to any role: `GRANT SELECT ON t TO "<B's role>"`, default privileges, `CONNECT` on
//! its own database. PostgreSQL then refuses `DROP ROLE` of B ("privileges for table … in
//! database A"), so B's deletion used to end `failed` with its role left behind and its name
//! taken for ever. Before a role is dropped, every database where it still has privileges or
//! objects gets `DROP OWNED BY` (which also revokes what was granted to it), run as the host's
//! superuser — it reads nothing of the tenant's and runs none of its code: event triggers,
//! the only code `DROP OWNED` could fire, are superuser-only — in a session with pinned
//! settings and a deadline. A tenant session holding a lock that statement waits for is
//! terminated: one tenant may not hold up another's deletion. If the role still cannot be
//! dropped (a database that accepts no connections), it is renamed out of the way
//! (`berth-gone-…`, no login, marked `berth:gone:<marker>`), so the name is free at once and
//! the deletion ends; such roles own nothing and can log in nowhere.

use std::time::Duration;

use crate::tenant::{pinned_options, SessionLimits};
use crate::{HostConn, HostError};

/// How long one `DROP OWNED` in another tenant's database may take, waits included.
const RELEASE_DEADLINE: Duration = Duration::from_secs(60);
/// How long it waits for a lock before the tenant sessions blocking it are terminated.
const BLOCKED_GRACE: Duration = Duration::from_secs(1);

/// The name a role that could not be dropped at its deletion is renamed to, plus 16 hex.
pub const GONE_PREFIX: &str = "berth-gone-";

pub(crate) fn ident(role: &str) -> String {
    format!("\"{}\"", role.replace('"', "\"\""))
}

/// The databases (other than the maintenance one) where `role` still has privileges or owns
/// objects, and whether they accept connections.
const DEPENDENT_DATABASES: &str = "select distinct d.datname::text, d.datallowconn
       from pg_shdepend s join pg_database d on d.oid = s.dbid
      where s.refclassid = 'pg_authid'::regclass
        and s.refobjid = (select oid from pg_roles where rolname = $1)
        and d.datname <> 'postgres'";

impl HostConn {
    /// Drops `role` after releasing it from every database (see the module docs); absent is
    /// success. `marker` is what its comment said it was, kept on a renamed role.
    pub(crate) async fn drop_role_everywhere(&self, role: &str, marker: &str) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        if client.query_opt("select 1 from pg_roles where rolname = $1", &[&role]).await?.is_none() {
            return Ok(());
        }
        let skipped = self.release_role(&client, role).await?;
        let dropped = client.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(role))).await;
        match dropped {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DEPENDENT_OBJECTS_STILL_EXIST) => {
                tracing::warn!(role, ?skipped, "a role still has privileges in another database; renaming it away");
                let gone = format!("{GONE_PREFIX}{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
                client
                    .batch_execute(&format!(
                        "ALTER ROLE {r} NOLOGIN; ALTER ROLE {r} RENAME TO {g}; COMMENT ON ROLE {g} IS '{}'",
                        format!("berth:gone:{marker}").replace('\'', "''"),
                        r = ident(role),
                        g = ident(&gone),
                    ))
                    .await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Drops a role renamed away at a deletion (`berth-gone-…`) once nothing holds it any
    /// more: the orphan reconciler calls this each round. `Ok(None)` when it is gone (or was
    /// already); `Ok(Some(databases))` naming the databases, closed to connections, where it
    /// still has privileges (a stopped tenant's: it goes after that tenant starts again).
    pub async fn drop_gone_role(&self, role: &str) -> Result<Option<Vec<String>>, HostError> {
        if !role.starts_with(GONE_PREFIX) {
            return Err(HostError::Permanent(format!("{role:?} is not a role Berth renamed away")));
        }
        let client = self.pool.get().await?;
        if client.query_opt("select 1 from pg_roles where rolname = $1", &[&role]).await?.is_none() {
            return Ok(None);
        }
        let skipped = self.release_role(&client, role).await?;
        if !skipped.is_empty() {
            return Ok(Some(skipped));
        }
        client.batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(role))).await?;
        Ok(None)
    }

    /// `DROP OWNED BY` the role in the maintenance database and in every database that
    /// accepts connections where it still has something; returns the databases skipped
    /// because they accept none.
    async fn release_role(&self, client: &tokio_postgres::Client, role: &str) -> Result<Vec<String>, HostError> {
        // Shared objects (a database's CONNECT granted to the role) from the maintenance
        // database, where tenants have nothing.
        client.batch_execute(&format!("DROP OWNED BY {} CASCADE", ident(role))).await?;
        let dependent = client.query(DEPENDENT_DATABASES, &[&role]).await?;
        let mut skipped = Vec::new();
        for row in &dependent {
            let (dbname, allowed): (String, bool) = (row.get(0), row.get(1));
            if allowed {
                self.drop_owned_in(&dbname, role).await?;
            } else {
                skipped.push(dbname);
            }
        }
        Ok(skipped)
    }

    /// `DROP OWNED BY role CASCADE` inside `dbname`, as the superuser, terminating tenant
    /// sessions that keep it waiting for a lock.
    async fn drop_owned_in(&self, dbname: &str, role: &str) -> Result<(), HostError> {
        let limits = SessionLimits {
            statement: RELEASE_DEADLINE,
            lock: RELEASE_DEADLINE,
            idle_in_transaction: RELEASE_DEADLINE,
        };
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.spec.pg_host)
            .port(self.spec.pg_port)
            .user(&self.spec.superuser)
            .password(&self.superuser_password)
            .dbname(dbname)
            .options(pinned_options(limits))
            .application_name("berth-release")
            .connect_timeout(Duration::from_secs(5));
        let (client, conn) = match cfg.connect(tokio_postgres::NoTls).await {
            Ok(c) => c,
            // Dropped meanwhile (its own deletion): nothing of the role is left there.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let pid: i32 = client.query_one("select pg_catalog.pg_backend_pid()", &[]).await?.get(0);
        let statement = format!("DROP OWNED BY {} CASCADE", ident(role));
        let work = client.batch_execute(&statement);
        tokio::pin!(work);
        let mut tick = tokio::time::interval(BLOCKED_GRACE);
        tick.tick().await;
        loop {
            tokio::select! {
                done = &mut work => return done.map_err(Into::into),
                _ = tick.tick() => self.end_blockers(pid, dbname).await?,
            }
        }
    }

    /// Terminates the sessions in `dbname` that keep backend `pid` waiting for a lock, except
    /// the platform's own.
    async fn end_blockers(&self, pid: i32, dbname: &str) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        let ended = client
            .query(
                "select pg_terminate_backend(a.pid), a.usename::text
                   from pg_stat_activity a
                  where a.pid = any(pg_blocking_pids($1)) and a.datname = $2
                    and a.usename <> current_user",
                &[&pid, &dbname],
            )
            .await?;
        for row in ended {
            let user: String = row.get(1);
            tracing::warn!(database = dbname, role = %user, "ended a tenant session that blocked releasing a deleted role");
        }
        Ok(())
    }
}
