//! Tenant hosts: registering one (with its credentials sealed in the vault in the same
//! transaction as the `HostRegistered` event, never in the event) and recording its new
//! address. Decided by the `Host` aggregate.

use domain::{Host, HostCommand, HostId, HostRegistration, StreamId};
use eventstore::{Extra, Metadata, Store};

use crate::error::Error;

/// A secret of the host's for the vault: its id and plaintext.
pub struct HostSecret {
    pub id: String,
    pub plaintext: Vec<u8>,
}

fn refused(e: domain::HostError) -> Error {
    Error::Conflict(format!("the host registry refused: {e}"))
}

/// Registers a new host and seals its `secrets` (the superuser's and PgBouncer admin's
/// passwords) in the same transaction.
pub async fn register(
    store: &Store,
    id: HostId,
    registration: HostRegistration,
    secrets: Vec<HostSecret>,
) -> Result<(), Error> {
    let extras: Vec<Extra> = secrets.into_iter().map(|s| Extra::Secret { id: s.id, plaintext: s.plaintext }).collect();
    let register = HostCommand::Register { host_id: id, registration };
    store
        .execute_new::<Host>(StreamId::host(id).as_str(), &register, &Metadata::default(), &extras)
        .await?
        .map_err(refused)?;
    Ok(())
}

/// Records where a registered host's PostgreSQL is now reached.
pub async fn change_address(store: &Store, id: HostId, pg_host: String) -> Result<(), Error> {
    let moved = HostCommand::ChangeAddress { pg_host };
    store.execute::<Host>(StreamId::host(id).as_str(), &moved, &Metadata::default(), &[]).await?.map_err(refused)?;
    Ok(())
}

/// `GET /admin/hosts`: every host not removed, with its load and last status (admins).
pub async fn list(ctx: &crate::Control, caller: &crate::Caller) -> Result<Vec<eventstore::hosts::HostListing>, Error> {
    caller.require_platform_admin()?;
    Ok(ctx.store.host_listing().await?)
}

/// What an operator does to a host's placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAction {
    Cordon,
    Uncordon,
    Drain,
    Remove,
}

/// Cordons, uncordons, drains or removes host `id` (admins); the host as it is after. A
/// removal of a host that holds databases is `409`, as is cordoning a draining host.
pub async fn act(
    ctx: &crate::Control,
    caller: &crate::Caller,
    id: &str,
    action: HostAction,
    meta: Metadata,
) -> Result<Option<eventstore::hosts::HostListing>, Error> {
    caller.require_platform_admin()?;
    let id = HostId::parse(id).map_err(|_| Error::NotFound("host"))?;
    let command = match action {
        HostAction::Cordon => HostCommand::Cordon,
        HostAction::Uncordon => HostCommand::Uncordon,
        HostAction::Drain => HostCommand::Drain,
        HostAction::Remove => {
            let held = ctx.store.host_database_count(id).await?;
            HostCommand::Remove { databases: u32::try_from(held).unwrap_or(u32::MAX) }
        }
    };
    // A removal counts again under the lock creates take (`Extra::HostEmpty`).
    let extras = match action {
        HostAction::Remove => vec![Extra::HostEmpty { host_id: id.uuid() }],
        _ => vec![],
    };
    let stream = StreamId::host(id);
    let repeat_drain =
        action == HostAction::Drain && ctx.store.host(id).await.is_ok_and(|h| h.state == domain::HostState::Draining);
    if repeat_drain {
        // Draining again: the host stays draining; only the moves are asked for again.
        crate::moves::drain_moves(ctx, id, &meta).await?;
        return Ok(ctx.store.host_listing().await?.into_iter().find(|h| h.host.id == id));
    }
    match ctx.store.execute::<Host>(stream.as_str(), &command, &meta, &extras).await {
        Ok(Ok(_)) => {}
        Ok(Err(domain::HostError::NotFound)) => return Err(Error::NotFound("host")),
        Ok(Err(e)) => return Err(Error::Conflict(e.to_string())),
        Err(eventstore::StoreError::Conflict(c)) if c == eventstore::HOST_NOT_EMPTY => {
            return Err(Error::Conflict("the host holds databases created meanwhile; move or delete them first".into()))
        }
        Err(e) => return Err(e.into()),
    }
    if action == HostAction::Drain {
        // Draining moves every database off (API.md); what cannot move yet stays, and a
        // later drain asks again.
        let (moved, stay) = crate::moves::drain_moves(ctx, id, &meta).await?;
        tracing::info!(host = %id, moved, stay, "drain: moves requested");
    }
    let listing = ctx.store.host_listing().await?;
    Ok(listing.into_iter().find(|h| h.host.id == id))
}
