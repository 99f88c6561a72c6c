//! The explorer role's login (see `hostctl::sql::explorer`): made on a database's first
//! read-only request in each process (and again after a restart: idempotent), so databases
//! made by an older Berth get one too.
//!
//! Its password is derived, not stored: HMAC of the platform's hash key (which never
//! rotates) over the database id. Every API process derives the same one, so none of them
//! changes the role under another's feet, and no vault row is needed.

use domain::{DatabaseId, TenantHost};
use eventstore::queries::DatabaseRow;
use hostctl::TenantLogin;

use super::{host_error, owner_login, tenant_host_error};
use crate::error::{Error, OrInternal};
use crate::Control;

fn password(ctx: &Control, db: DatabaseId) -> Result<String, Error> {
    let keyring = ctx.store.keyring()?;
    Ok(crate::keys::hash_secret(&keyring.hash_key, &format!("sql-explorer:{}", db.uuid())))
}

/// Makes sure the role exists with this password and may read what the owner has.
async fn ensure(ctx: &Control, db: &DatabaseRow, password: &str) -> Result<(), Error> {
    let (host, owner) = owner_login(ctx, db, "read-only SQL runs").await?;
    let conn = crate::inspect::host_conn(ctx, db.host_id).await?;
    let pw = password.to_owned();
    let verifier = tokio::task::spawn_blocking(move || postgres_protocol::password::scram_sha_256(pw.as_bytes()))
        .await
        .or_internal("computing a SCRAM verifier")?;
    let plan = ctx.store.account_plan(db.account_id).await?;
    let temp_mb = ctx.settings.plans.of(plan).temp_file_limit_mb;
    conn.ensure_explorer(db.id, &db.name, &verifier, temp_mb).await.map_err(|e| host_error(&e))?;
    // The owner's login is refused while the database stops, restarts or is locked: 409.
    hostctl::sql::explorer::grant_explorer_reads(&host, &owner, &db.name).await.map_err(|e| tenant_host_error(&e))
}

/// The host and the explorer login of `db`, the role made first if this process has not.
pub(crate) async fn login(ctx: &Control, db: &DatabaseRow) -> Result<(TenantHost, TenantLogin), Error> {
    let password = password(ctx, db.id)?;
    if !ctx.explorers.lock().contains(&db.id) {
        // One at a time, so two first requests do not both create the role.
        let _turn = ctx.explorer_turn.lock().await;
        if !ctx.explorers.lock().contains(&db.id) {
            // The grants can meet another session's grant on the same catalog row ("tuple
            // concurrently updated": a database user made at that moment): tried again.
            let mut tries = 0;
            loop {
                tries += 1;
                match ensure(ctx, db, &password).await {
                    Err(Error::Unavailable(_)) if tries < 3 => {
                        tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await
                    }
                    other => break other?,
                }
            }
            ctx.explorers.lock().insert(db.id);
        }
    }
    let host = ctx.store.host(db.host_id).await.map_err(|e| host_error(&e))?;
    Ok((host, TenantLogin::explorer(&db.name, password)))
}
