//! A tenant's schema migrations (owner, admin): applied in one transaction under a
//! per-database lock by `hostctl::migrations`, as the database's owner role, recorded in the
//! tenant's own `berth.schema_migrations` and, once applied, as a `MigrationApplied` event
//! (`migration.apply` in the activity log: the name and checksum, never the SQL). Listing
//! them is the credentials row (owner, admin, developer).

use crate::sql::audit;
use domain::QuerySource;
use std::time::Duration;

use domain::{Checksum, MigrationName, TenantSqlCommand};
use eventstore::Metadata;
use hostctl::migrations::{self as host, AppliedMigration, Migration, MigrationError, Outcome};
use sha2::{Digest, Sha256};

use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::Error;
use crate::inspect::host_error;
use crate::owner_login::owner_login;
use crate::tenant_sql::record;
use crate::Control;

/// What a migration request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// False when a migration of this name and checksum was already recorded (nothing ran).
    pub applied: bool,
    pub name: String,
    pub checksum: String,
}

/// `sql`'s SHA-256, lowercase hex: a migration's checksum.
pub fn checksum_of(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies the migration `name` (its SQL `sql`; `checksum`, when given, must be `sql`'s) to
/// database `id`. Same name and checksum already recorded: nothing runs. Same name, another
/// checksum: `CONFLICT`. The SQL failing (or past the timeout): `UNPROCESSABLE` with
/// PostgreSQL's message and SQLSTATE, and nothing applied.
pub async fn apply(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    name: &str,
    sql: &str,
    checksum: Option<&str>,
    meta: Metadata,
) -> Result<Applied, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "migrations over HTTP")?;
    let name = MigrationName::parse(name).map_err(Error::InvalidRequest)?;
    if sql.trim().is_empty() {
        return Err(Error::InvalidRequest("invalid field `sql`: empty".into()));
    }
    let computed = checksum_of(sql);
    if let Some(given) = checksum {
        if given != computed {
            // Well-formed but not this SQL's: 422, as API.md has it for a body that is valid
            // JSON but cannot be (a 400 would be a field the schema could have refused).
            return Err(Error::Unprocessable(
                "`checksum` is not the SHA-256 of `sql` (64 lowercase hex digits)".into(),
            ));
        }
    }
    let checksum = Checksum::parse(&computed).map_err(Error::InvalidRequest)?;
    let (host, login) = owner_login(ctx, &db, "migrations run").await?;
    let applied_by = caller.user_id.to_string();
    let migration = Migration { name: name.as_str(), checksum: checksum.as_str(), sql, applied_by: &applied_by };
    let timeout = Duration::from_secs(ctx.settings.limits.migration_timeout_secs.max(1));
    let started = std::time::Instant::now();
    let result = host::apply(&host, &login, &db.name, &migration, timeout).await;
    // The per-query audit: a migration that ran (applied, or failed and rolled back).
    let ran = match &result {
        Ok(Outcome::Applied) => Some(audit::Ran {
            command: Some("MIGRATION".into()),
            row_count: None,
            error: None,
            elapsed: started.elapsed(),
            data_key_id: None,
            subject: None,
        }),
        Err(MigrationError::Failed(m)) => Some(audit::Ran {
            command: None,
            row_count: None,
            error: Some(audit::sqlstate_in(m)),
            elapsed: started.elapsed(),
            data_key_id: None,
            subject: None,
        }),
        _ => None,
    };
    if let Some(ran) = ran {
        audit::record_ran(ctx, db.id, QuerySource::Migration, sql, ran, &meta).await?;
    }
    let outcome = result.map_err(|e| match e {
        MigrationError::Conflict(m) => Error::Conflict(m),
        MigrationError::Failed(m) => Error::Unprocessable(m),
        MigrationError::Unavailable(_) => host_error(&e),
    })?;
    let applied = outcome == Outcome::Applied;
    if applied {
        let command =
            TenantSqlCommand::RecordMigration { database_id: db.id, name: name.clone(), checksum: checksum.clone() };
        // The migration is committed in the tenant database whatever happens here: the
        // answer says so, and a failure to record it is the platform's, logged.
        if let Err(e) = record(ctx, &command, &meta).await {
            tracing::error!(error = %e, database = %db.id, "a migration was applied but its event was not recorded");
        }
    }
    Ok(Applied { applied, name: name.as_str().to_owned(), checksum: checksum.as_str().to_owned() })
}

/// The migrations recorded in the database (none before the first), oldest first.
pub async fn list(ctx: &Control, caller: &Caller, id: &str) -> Result<Vec<AppliedMigration>, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Credentials).await?;
    crate::databases::require_postgres(&db, "migrations over HTTP")?;
    let (host, login) = owner_login(ctx, &db, "its migrations can be read").await?;
    host::list(&host, &login, &db.name).await.map_err(|e| host_error(&e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checksum_is_sha256_hex() {
        assert_eq!(super::checksum_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
