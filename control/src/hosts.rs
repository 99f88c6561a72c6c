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
