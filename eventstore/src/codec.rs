//! Turning domain events into stored rows and back. One place knows every event type, so
//! projections, replay and consumers decode alike; old shapes are upcast here.

use domain::{
    AccountEvent, AllowlistEvent, ApprovalEvent, BackupEvent, CollaboratorsEvent, DataApiEvent, DatabaseEvent,
    DatabaseUserEvent, HostEvent, QueryEvent, StreamId, TenantSqlEvent,
};
use serde::{de::DeserializeOwned, Serialize};
use tokio_postgres::types::{FromSql, Type};

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

impl StoredEvent for CollaboratorsEvent {
    fn event_type(&self) -> &'static str {
        CollaboratorsEvent::event_type(self)
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

impl StoredEvent for QueryEvent {
    fn event_type(&self) -> &'static str {
        QueryEvent::event_type(self)
    }
}

impl StoredEvent for ApprovalEvent {
    fn event_type(&self) -> &'static str {
        ApprovalEvent::event_type(self)
    }
}

impl StoredEvent for DataApiEvent {
    fn event_type(&self) -> &'static str {
        DataApiEvent::event_type(self)
    }
}

impl StoredEvent for TenantSqlEvent {
    fn event_type(&self) -> &'static str {
        TenantSqlEvent::event_type(self)
    }
}

/// A stored event decoded into its domain type.
#[derive(Debug, Clone)]
pub enum Decoded {
    Database(DatabaseEvent),
    Account(AccountEvent),
    Host(HostEvent),
    Collaborators(CollaboratorsEvent),
    Allowlist(AllowlistEvent),
    DatabaseUser(DatabaseUserEvent),
    Backup(BackupEvent),
    Query(QueryEvent),
    Approval(ApprovalEvent),
    TenantSql(TenantSqlEvent),
    DataApi(DataApiEvent),
    /// Streams with no read model (benchmarks' `bench-…` streams).
    Unprojected,
}

/// Where an event's JSON comes from: a parsed value (consumers) or the raw bytes of the
/// column (replay, which skips building a `serde_json::Value` for every event).
pub(crate) trait JsonSource {
    fn parse<T: DeserializeOwned>(self) -> Result<T, serde_json::Error>;
}

impl JsonSource for &serde_json::Value {
    fn parse<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        T::deserialize(self)
    }
}

impl JsonSource for &[u8] {
    fn parse<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(self)
    }
}

/// A `json`/`jsonb` column as the bytes of its JSON text, borrowed from the row.
pub(crate) struct RawJson<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for RawJson<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if *ty != Type::JSONB {
            return Ok(RawJson(raw));
        }
        // Binary jsonb is a version byte (1) and the JSON text.
        match raw.split_first() {
            Some((1, text)) => Ok(RawJson(text)),
            _ => Err("unsupported jsonb format version".into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSON | Type::JSONB)
    }
}

/// Decodes by stream family. All events are at schema_version 1 so far; an upcaster for a
/// changed shape goes here, keyed by (type, schema_version).
pub fn decode(event: &RecordedEvent) -> Result<Decoded, StoreError> {
    decode_from(&event.stream_id, &event.event_type, event.schema_version, &event.data)
}

pub(crate) fn decode_from(
    stream_id: &str,
    event_type: &str,
    schema_version: i32,
    data: impl JsonSource,
) -> Result<Decoded, StoreError> {
    if schema_version != 1 {
        return Err(StoreError::Codec(format!("{event_type} has unknown schema_version {schema_version}")));
    }
    match family(stream_id) {
        StreamId::DATABASE => Ok(Decoded::Database(data.parse()?)),
        // A session's sign-in is an account event on a stream of its own.
        StreamId::ACCOUNT | StreamId::SESSION => Ok(Decoded::Account(data.parse()?)),
        StreamId::HOST => Ok(Decoded::Host(data.parse()?)),
        StreamId::COLLABORATORS => Ok(Decoded::Collaborators(data.parse()?)),
        StreamId::ALLOWLIST => Ok(Decoded::Allowlist(data.parse()?)),
        StreamId::DATABASE_USERS => Ok(Decoded::DatabaseUser(data.parse()?)),
        StreamId::BACKUP => Ok(Decoded::Backup(data.parse()?)),
        StreamId::QUERY => Ok(Decoded::Query(data.parse()?)),
        StreamId::APPROVALS => Ok(Decoded::Approval(data.parse()?)),
        StreamId::TENANT_SQL => Ok(Decoded::TenantSql(data.parse()?)),
        StreamId::DATA_API => Ok(Decoded::DataApi(data.parse()?)),
        "bench" => Ok(Decoded::Unprojected),
        other => Err(StoreError::Codec(format!("unknown stream family {other}"))),
    }
}

/// A stream's family: what its id says before the first `-`.
pub(crate) fn family(stream_id: &str) -> &str {
    stream_id.split('-').next().unwrap_or_default()
}

/// Whether events of this stream may have read-model work, i.e. whether [`decode`] could
/// say anything but `Unprojected` for it. Appends without any skip the transaction.
pub(crate) fn needs_projection(stream_id: &str) -> bool {
    family(stream_id) != "bench"
}
