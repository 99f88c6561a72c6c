//! Turning domain events into stored rows and back. One place knows every event type, so
//! projections, replay and consumers decode alike; old shapes are upcast here.

use domain::{AccessEvent, AccountEvent, AllowlistEvent, BackupEvent, DatabaseEvent, DatabaseUserEvent, HostEvent};
use serde::{de::DeserializeOwned, Serialize};

use crate::{NewEvent, RecordedEvent, StoreError};

pub trait StoredEvent: Serialize + DeserializeOwned {
    fn event_type(&self) -> &'static str;
    const SCHEMA_VERSION: i32 = 1;

    fn to_new(&self) -> Result<NewEvent, StoreError> {
        Ok(NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: self.event_type(),
            schema_version: Self::SCHEMA_VERSION,
            data: serde_json::to_value(self)?,
        })
    }
}

impl StoredEvent for DatabaseEvent {
    fn event_type(&self) -> &'static str {
        DatabaseEvent::event_type(self)
    }
}

impl StoredEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        AccountEvent::event_type(self)
    }
}

impl StoredEvent for AccessEvent {
    fn event_type(&self) -> &'static str {
        AccessEvent::event_type(self)
    }
}

impl StoredEvent for HostEvent {
    fn event_type(&self) -> &'static str {
        HostEvent::event_type(self)
    }
}

impl StoredEvent for AllowlistEvent {
    fn event_type(&self) -> &'static str {
        AllowlistEvent::event_type(self)
    }
}

impl StoredEvent for DatabaseUserEvent {
    fn event_type(&self) -> &'static str {
        DatabaseUserEvent::event_type(self)
    }
}

impl StoredEvent for BackupEvent {
    fn event_type(&self) -> &'static str {
        BackupEvent::event_type(self)
    }
}

/// A stored event decoded into its domain type.
#[derive(Debug, Clone)]
pub enum Decoded {
    Database(DatabaseEvent),
    Account(AccountEvent),
    Host(HostEvent),
    Access(AccessEvent),
    Allowlist(AllowlistEvent),
    DatabaseUser(DatabaseUserEvent),
    Backup(BackupEvent),
    /// Streams with no read model (benchmarks' `bench-…` streams).
    Unprojected,
}

/// Decodes by stream family. All events are at schema_version 1 so far; an upcaster for a
/// changed shape goes here, keyed by (type, schema_version).
pub fn decode(event: &RecordedEvent) -> Result<Decoded, StoreError> {
    if event.schema_version != 1 {
        return Err(StoreError::Codec(format!(
            "{} has unknown schema_version {}",
            event.event_type, event.schema_version
        )));
    }
    match family(&event.stream_id) {
        "database" => Ok(Decoded::Database(serde_json::from_value(event.data.clone())?)),
        "account" => Ok(Decoded::Account(serde_json::from_value(event.data.clone())?)),
        "host" => Ok(Decoded::Host(serde_json::from_value(event.data.clone())?)),
        "access" => Ok(Decoded::Access(serde_json::from_value(event.data.clone())?)),
        "allowlist" => Ok(Decoded::Allowlist(serde_json::from_value(event.data.clone())?)),
        "dbusers" => Ok(Decoded::DatabaseUser(serde_json::from_value(event.data.clone())?)),
        "backup" => Ok(Decoded::Backup(serde_json::from_value(event.data.clone())?)),
        "bench" => Ok(Decoded::Unprojected),
        other => Err(StoreError::Codec(format!("unknown stream family {other}"))),
    }
}

/// A stream's family: what its id says before the first `-`.
fn family(stream_id: &str) -> &str {
    stream_id.split('-').next().unwrap_or_default()
}

/// Whether events of this stream may have read-model work, i.e. whether [`decode`] could
/// say anything but `Unprojected` for it. Appends without any skip the transaction.
pub(crate) fn needs_projection(stream_id: &str) -> bool {
    family(stream_id) != "bench"
}
