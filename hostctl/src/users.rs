//! Database users on the host: extra login roles, each confined to one database (CONNECT
//! is granted on that database only; every tenant database revokes it from PUBLIC), marked
//! with a comment so "already exists" is success only when the role is ours. The database's
//! owner role is made a member of each, so what a user creates stays within its owner's
//! reach: the owner's backups dump it, and the owner takes it over when the user goes.

use std::time::Duration;

use crate::host::literal;
use crate::release::ident;
use domain::{DatabaseId, DatabaseName};

use crate::host::{role_options, role_settings, HostConn, HostError, RoleLimits};
use crate::tenant::TenantLogin;

/// The comment on a database user's role.
pub fn user_marker(id: DatabaseId) -> String {
    format!("berth:dbuser:{}", id.uuid())
}

impl HostConn {
    async fn role_comment(&self, role: &str) -> Result<Option<Option<String>>, HostError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt("select shobj_description(oid, 'pg_authid') from pg_roles where rolname = $1", &[&role])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Creates (or re-asserts) the role with its verifier, and lets it connect to `db`.
    /// (Its `GRANT … ON DATABASE` takes [`lock_database_acl`].)
    pub async fn ensure_user_role(
        &self,
        id: DatabaseId,
        db: &DatabaseName,
        role: &str,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError> {
        let mut client = self.pool.get().await?;
        let set = role_options(verifier, limits);
        let settings = role_settings(&ident(role), limits);
        let marker = user_marker(id);
        let tx = client.transaction().await?;
        // Two processes making the same role at once (two API processes' first read-only
        // requests) take turns: the second finds it made and re-asserts it.
        tx.execute("select pg_advisory_xact_lock(hashtext($1))", &[&format!("berth:role:{role}")]).await?;
        let comment: Option<Option<String>> = tx
            .query_opt("select shobj_description(oid, 'pg_authid') from pg_roles where rolname = $1", &[&role])
            .await?
            .map(|r| r.get(0));
        match comment {
            None => {
                tx.batch_execute(&format!(
                    "CREATE ROLE {r} {set}; COMMENT ON ROLE {r} IS {}; {settings}",
                    literal(&marker),
                    r = ident(role)
                ))
                .await?;
            }
            Some(m) if m.as_deref() == Some(marker.as_str()) => {
                tx.batch_execute(&format!("ALTER ROLE {} {set}; {settings}", ident(role))).await?;
            }
            Some(_) => return Err(HostError::Permanent(format!("role {role} exists on the host and is not ours"))),
        }
        lock_database_acl(&tx, db).await?;
        tx.batch_execute(&format!(
            "GRANT CONNECT, TEMPORARY ON DATABASE {d} TO {r}; GRANT {r} TO {d}",
            d = db.quoted(),
            r = ident(role)
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends the role's sessions, hands anything it owns in `db` to the database's owner, and
    /// drops it. Absent is success. The hand-over runs inside the tenant's database, so it
    /// runs as the owner (a member of the user's role), never as the superuser.
    pub async fn drop_user_role(
        &self,
        id: DatabaseId,
        db: &DatabaseName,
        owner: &TenantLogin,
        role: &str,
    ) -> Result<(), HostError> {
        match self.role_comment(role).await? {
            None => return Ok(()),
            Some(m) if m.as_deref() == Some(user_marker(id).as_str()) => {}
            Some(_) => return Err(HostError::Permanent(format!("role {role} on the host is not ours; not dropping"))),
        }
        let client = self.pool.get().await?;
        client.execute("select pg_terminate_backend(pid) from pg_stat_activity where usename = $1", &[&role]).await?;
        // Users made before owners were members of their roles: grant it now (idempotent).
        client.batch_execute(&format!("GRANT {} TO {}", ident(role), db.quoted())).await?;
        // DROP OWNED works in the current database only: run it inside the tenant database.
        let inside = self.tenant(db.as_str(), owner, Duration::from_secs(60)).await?;
        inside
            .batch_execute(&format!("REASSIGN OWNED BY {r} TO {}; DROP OWNED BY {r}", db.quoted(), r = ident(role)))
            .await
            .map_err(crate::tenant::tenant_error)?;
        drop((client, inside));
        self.drop_role_everywhere(role, &user_marker(id)).await
    }

    /// Drops every user role of a database (after the database itself is gone, nothing of
    /// theirs is left but the roles).
    pub async fn drop_user_roles_of(&self, id: DatabaseId) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        let roles: Vec<String> = client
            .query(
                "select rolname::text from pg_roles where shobj_description(oid, 'pg_authid') = $1",
                &[&user_marker(id)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        drop(client);
        for role in roles {
            self.drop_role_everywhere(&role, &user_marker(id)).await?;
        }
        Ok(())
    }
}

/// Takes turns (until the transaction ends) with every other grant of ours on `db`'s row in
/// `pg_database`: two at once fail one of them with "tuple concurrently updated" (a database
/// user made while the explorer role or the data API's roles were being made).
pub(crate) async fn lock_database_acl(
    tx: &deadpool_postgres::Transaction<'_>,
    db: &DatabaseName,
) -> Result<(), HostError> {
    tx.execute("select pg_advisory_xact_lock(hashtext($1))", &[&format!("berth:database-acl:{}", db.as_str())]).await?;
    Ok(())
}
