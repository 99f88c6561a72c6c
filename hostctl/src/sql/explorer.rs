//! The explorer role: read-only SQL (viewers of the SQL page, developers, read-only keys)
//! runs as `"<database>.sql_explorer"`, a login role of the platform's that may connect to
//! its one database and read — `SELECT` on the tables and sequences there are, and, by the
//! owner's default privileges, on those the owner creates later — inside a read-only
//! transaction. Two walls, both PostgreSQL's: the transaction refuses every write, and the
//! role has no right to write anything even if a statement got out of it.
//!
//! The role is a database user's role in all but name (marked `berth:dbuser:<id>`, so the
//! deletion of the database drops it with the users and the reconciler knows it). A user's
//! name never contains `_`, so `sql_explorer` is never a user's. Tables that a database
//! user (not the owner) creates are not covered by the owner's default privileges: the
//! owner grants them (`GRANT SELECT … TO "<database>.sql_explorer"`) if they should be read.
//! Rights another tenant grants the role in another database change nothing: it can
//! connect to its own database only (`CONNECT` is revoked from `PUBLIC` on every tenant
//! database).

use std::time::Duration;

use crate::release::ident;
use domain::{DatabaseId, DatabaseName, TenantHost};

use crate::host::{HostConn, HostError, RoleLimits};
use crate::tenant::{connect, SessionLimits, TenantLogin};

/// The explorer role of `name`.
pub fn explorer_role(name: &DatabaseName) -> String {
    format!("{}.sql_explorer", name.as_str())
}

/// Whether `role` is an explorer role (the reconciler expects no user for it).
pub fn is_explorer_role(role: &str) -> bool {
    role.ends_with(".sql_explorer")
}

/// How many sessions an explorer role may hold at once.
pub const EXPLORER_CONNECTIONS: i32 = 4;

impl HostConn {
    /// Creates (or re-asserts) the explorer role of `name` with this verifier.
    pub async fn ensure_explorer(
        &self,
        id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        temp_file_limit_mb: i32,
    ) -> Result<(), HostError> {
        let limits = RoleLimits { connection_limit: EXPLORER_CONNECTIONS, temp_file_limit_mb };
        self.ensure_user_role(id, name, &explorer_role(name), verifier, limits).await
    }
}

/// As the database's owner, inside it: `USAGE` on its schemas and `SELECT` on its tables
/// and sequences for the explorer, now and (default privileges) for what the owner creates
/// later. Objects the owner cannot grant are skipped by PostgreSQL with a warning.
pub async fn grant_explorer_reads(
    host: &TenantHost,
    owner: &TenantLogin,
    name: &DatabaseName,
) -> Result<(), HostError> {
    let conn = connect(host, name.as_str(), owner, SessionLimits::job(Duration::from_secs(30))).await?;
    let schemas: Vec<String> = conn
        .query(
            "select nspname::text from pg_catalog.pg_namespace
             where nspname operator(pg_catalog.!~) '^pg_' and nspname operator(pg_catalog.<>) 'information_schema'",
            &[],
        )
        .await
        .map_err(crate::tenant::tenant_error)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let explorer = ident(&explorer_role(name));
    let owner_role = ident(owner.role());
    let mut sql = String::new();
    for s in &schemas {
        let s = ident(s);
        sql.push_str(&format!(
            "GRANT USAGE ON SCHEMA {s} TO {explorer}; GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {explorer}; \
             GRANT SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {explorer}; "
        ));
    }
    sql.push_str(&format!(
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner_role} GRANT SELECT ON TABLES TO {explorer}; \
         ALTER DEFAULT PRIVILEGES FOR ROLE {owner_role} GRANT SELECT ON SEQUENCES TO {explorer}; \
         ALTER DEFAULT PRIVILEGES FOR ROLE {owner_role} GRANT USAGE ON SCHEMAS TO {explorer};"
    ));
    conn.batch_execute(&sql).await.map_err(crate::tenant::tenant_error)?;
    Ok(())
}
