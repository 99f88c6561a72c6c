//! Moving databases between hosts (platform admins): `POST /admin/databases/{id}/move` and
//! the moves a drain asks for. The request is an event of the database (`DatabaseMoveRequested`,
//! decided by the aggregate: a running database, one operation at a time), with the target
//! host's room checked under the lock creates take; the `move` job does the rest
//! (`worker::moves`).
//!
//! PostgreSQL only: the old host's PgBouncer keeps the database's name and forwards its
//! clients to the new host, so the connection strings users hold keep working. MariaDB has
//! no pooler in front of it to forward through (its clients' strings name the server's own
//! port), so moving one is `422` naming that.

use domain::{Database, DatabaseCommand, DatabaseId, HostId, HostState, OperationId, StreamId};
use eventstore::queries::DatabaseRow;
use eventstore::{Extra, Metadata};

use crate::databases::{domain_error, require_postgres};
use crate::error::Error;
use crate::{Caller, Control};

/// What moving a database lacks on engines other than PostgreSQL.
const NO_FORWARDING: &str = "moving between hosts (the old host's pooler forwards its clients; \
                             MariaDB has no pooler, so its connection strings would break)";

/// `POST /admin/databases/{id}/move {host_id}`: the database and the move's operation (the
/// job runs on; the answer does not wait for it).
pub async fn move_database(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    host_id: &str,
    meta: Metadata,
) -> Result<(DatabaseRow, OperationId), Error> {
    caller.require_platform_admin()?;
    let id = DatabaseId::parse(id).map_err(|_| Error::DatabaseNotFound)?;
    let db = match ctx.store.database(id).await {
        Ok(db) if db.state != domain::DatabaseState::Deleted => db,
        Ok(_) | Err(eventstore::StoreError::NotFound) => return Err(Error::DatabaseNotFound),
        Err(e) => return Err(e.into()),
    };
    require_postgres(&db, NO_FORWARDING)?;
    // An unknown host is `404` (as for the host routes); one that cannot take this database
    // is `422`: the request is well formed, what it asks is impossible.
    let to = HostId::parse(host_id).map_err(|_| Error::NotFound("host"))?;
    let listing = ctx.store.host_listing().await?;
    let target = listing.iter().find(|h| h.host.id == to).ok_or(Error::NotFound("host"))?;
    if target.host.engine != db.engine {
        return Err(Error::Unprocessable(format!(
            "host_id: host {} serves {} databases, not {}",
            target.host.name,
            target.host.engine.as_str(),
            db.engine.as_str()
        )));
    }
    if target.host.state != HostState::Ready {
        return Err(Error::Conflict(format!(
            "host {} is {}: it takes no databases",
            target.host.name,
            target.host.state.as_str()
        )));
    }
    if target.status.as_ref().is_some_and(|s| !s.reachable) {
        return Err(Error::Conflict(format!(
            "host {} does not answer; move the database when it does",
            target.host.name
        )));
    }
    let operation_id = request_move(ctx, &db, to, &meta).await?;
    Ok((ctx.store.database(db.id).await?, operation_id))
}

/// Records the request to move `db` to host `to`, the host's room checked under its lock.
pub(crate) async fn request_move(
    ctx: &Control,
    db: &DatabaseRow,
    to: HostId,
    meta: &Metadata,
) -> Result<OperationId, Error> {
    let operation_id = OperationId::new();
    let command = DatabaseCommand::RequestMove { operation_id, to };
    let extras = [Extra::HostCapacity { host_id: to.uuid(), incoming: 1 }];
    match ctx.store.execute::<Database>(StreamId::database(db.id).as_str(), &command, meta, &extras).await? {
        Ok(_) => Ok(operation_id),
        Err(e) => Err(domain_error(e)),
    }
}

/// The moves a drain of `host` asks for: each running PostgreSQL database on it goes to the
/// least-loaded ready host of the same region (never to another region: where a database
/// lives is its owner's choice). How many moves were requested, and how many databases
/// stay for want of a host (or because they are stopped or busy; a later drain retries).
pub async fn drain_moves(ctx: &Control, host: HostId, meta: &Metadata) -> Result<(usize, usize), Error> {
    let from = ctx.store.host(host).await?;
    let (mut moved, mut stay) = (0, 0);
    for (id, _) in ctx.store.host_databases(host).await? {
        let db = ctx.store.database(id).await?;
        if db.engine != domain::Engine::Postgres || db.state != domain::DatabaseState::Running {
            stay += 1;
            continue;
        }
        let Some(to) = ctx.store.pick_host(db.engine, Some(&from.region)).await? else {
            stay += 1;
            continue;
        };
        match request_move(ctx, &db, to.id, meta).await {
            Ok(_) => moved += 1,
            Err(e) => {
                tracing::warn!(database = %id, error = %e, "a drain could not move a database off its host");
                stay += 1;
            }
        }
    }
    Ok((moved, stay))
}
