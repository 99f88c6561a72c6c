//! What is inside a tenant database and how it is doing (read-only, any role on it): read
//! through `hostctl::inspect`, as the host's superuser for statistics (no tenant code runs:
//! catalog views only) and as the database's own owner role for its schema.

use domain::{DatabaseId, DatabaseName, HostId, TenantHost};
use hostctl::inspect::{DatabaseMetrics, SchemaInfo};

use crate::authz::{Action, DbRole};
use crate::caller::Caller;
use crate::databases::{load_authorized, password_secret_id};
use crate::error::Error;
use crate::Control;

/// Inspection failed: the host did not answer, or what reaching it takes (its address, a
/// password) could not be read. The cause is logged here; the caller is told the host did
/// not answer.
pub(crate) fn host_error(e: &dyn std::error::Error) -> Error {
    tracing::warn!(error = %e, "reaching or reading a tenant database failed");
    Error::Unavailable("the database's host did not answer".into())
}

/// A text secret from the vault (a host's or a database's password).
async fn secret_text(ctx: &Control, id: &str) -> Result<String, Error> {
    let bytes = ctx.store.get_secret(id).await.map_err(|e| host_error(&e))?;
    String::from_utf8(bytes).map_err(|e| host_error(&e))
}

pub(crate) async fn host_with_secret(ctx: &Control, id: HostId, secret: &str) -> Result<(TenantHost, String), Error> {
    tokio::try_join!(async { ctx.store.host(id).await.map_err(|e| host_error(&e)) }, secret_text(ctx, secret))
}

/// Host `id` and its passwords, from the store and the vault.
async fn host_and_credentials(ctx: &Control, id: HostId) -> Result<(TenantHost, hostctl::HostCredentials), Error> {
    let (superuser, admin) = (hostctl::host::superuser_secret_id(id), hostctl::host::admin_secret_id(id));
    let (spec, superuser_password, admin_password) = tokio::try_join!(
        async { ctx.store.host(id).await.map_err(|e| host_error(&e)) },
        secret_text(ctx, &superuser),
        secret_text(ctx, &admin),
    )?;
    Ok((spec, hostctl::HostCredentials { superuser_password, admin_password }))
}

/// A superuser connection to host `id` (its pool kept in `ctx.hosts`), for what only a
/// superuser reads or does there.
pub(crate) async fn host_conn(ctx: &Control, id: HostId) -> Result<hostctl::HostConn, Error> {
    let (spec, credentials) = host_and_credentials(ctx, id).await?;
    ctx.hosts.get(spec, credentials).await.map_err(|e| host_error(&e))
}

/// The adapter of host `id`'s engine (see `hostctl::Hosts::engine`).
pub(crate) async fn host_engine(ctx: &Control, id: HostId) -> Result<std::sync::Arc<dyn hostctl::TenantEngine>, Error> {
    let (spec, credentials) = host_and_credentials(ctx, id).await?;
    ctx.hosts.engine(spec, credentials).await.map_err(|e| host_error(&e))
}

/// A database that is not running or stopped has nothing to inspect.
async fn inspectable(
    ctx: &Control,
    caller: &Caller,
    id: &str,
) -> Result<(HostId, DatabaseName, DbRole, DatabaseId), Error> {
    let (db, role) = load_authorized(ctx, caller, id, Action::View).await?;
    if !db.state.is_live() {
        return Err(Error::Conflict(format!("the database is {}; nothing to inspect yet", db.state)));
    }
    Ok((db.host_id, db.name, role, db.id))
}

/// Size, connections, transactions, cache hit ratio and top statements, with the caller's
/// role (statement text is for developers and up).
pub async fn metrics(ctx: &Control, caller: &Caller, id: &str) -> Result<(DatabaseMetrics, DbRole), Error> {
    let (host, name, role, _) = inspectable(ctx, caller, id).await?;
    let m = host_engine(ctx, host).await?.metrics(&name).await.map_err(|e| host_error(&e))?;
    Ok((m, role))
}

/// Tables with their columns and types, and views; read by logging in to the database as
/// its owner role, which a stopped or locked database refuses.
pub async fn schema(ctx: &Control, caller: &Caller, id: &str) -> Result<SchemaInfo, Error> {
    let (host, name, _, db) = inspectable(ctx, caller, id).await?;
    let current = ctx.store.database(db).await?;
    if current.state != domain::DatabaseState::Running || current.locked_reason.is_some() {
        return Err(Error::Conflict(format!(
            "the database is {}; its schema can be read while it runs",
            if current.locked_reason.is_some() { "locked" } else { current.state.as_str() }
        )));
    }
    let secret = password_secret_id(db);
    let (engine, password) = tokio::try_join!(host_engine(ctx, host), secret_text(ctx, &secret))?;
    let owner = hostctl::TenantLogin::owner(&name, password);
    engine.schema(&name, &owner).await.map_err(|e| host_error(&e))
}
