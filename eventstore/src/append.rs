//! Appending events with an expected stream version, idempotent by event id.

use chrono::{DateTime, Utc};
use domain::{Actor, Aggregate};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codec::StoredEvent;
use crate::{projection, RecordedEvent, Store, StoreError};

/// An event ready to be stored.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub schema_version: i32,
    pub data: serde_json::Value,
}

/// Metadata stored beside every event.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    pub actor: Actor,
    pub request_id: Option<String>,
    /// The event (or request) that caused this one.
    pub causation_id: Option<Uuid>,
    /// Ties together everything one user action led to.
    pub correlation_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be exactly at this version.
    Exact(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    Appended {
        version: i64,
    },
    /// Every event id was already stored: a retried append, nothing written.
    AlreadyAppended,
}

/// Writes that belong in the same transaction as the events but are not projections of
/// them (secrets are never in events).
#[derive(Debug, Clone)]
pub enum Extra {
    Secret {
        id: String,
        plaintext: Vec<u8>,
    },
    RoleVerifier {
        database_id: Uuid,
        verifier: String,
    },
    /// Fails the append with `QuotaExceeded` if the account would hold more than `max`
    /// databases. Checked under a lock on the account row, so concurrent creates at the
    /// limit cannot both pass.
    DatabaseQuota {
        account_id: Uuid,
        max: i64,
    },
    /// The SCRAM verifier of a database user's role.
    UserVerifier {
        role_name: String,
        verifier: String,
    },
}

impl Store {
    /// Appends `events` to `stream_id` if it is at `expected`, projecting them into the read
    /// models and performing `extras`, all in one transaction. A NOTIFY wakes consumers.
    pub async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        meta: &Metadata,
        extras: &[Extra],
    ) -> Result<AppendOutcome, StoreError> {
        let started = std::time::Instant::now();
        let mut client = self.client().await?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let tx = client.transaction().await?;
        let result = append_in(&tx, self, stream_id, expected, events, meta, extras).await;
        let outcome = match result {
            Ok(version) => {
                tx.commit().await?;
                Ok(AppendOutcome::Appended { version })
            }
            Err(e) => {
                drop(tx);
                // A duplicate event id means a retry of an append that already committed.
                if matches!(&e, StoreError::Conflict(c) if c == "events_event_id_key")
                    || already_stored(&client, &ids).await?
                {
                    return Ok(AppendOutcome::AlreadyAppended);
                }
                Err(e)
            }
        };
        metrics::histogram!("berth_event_append_seconds").record(started.elapsed().as_secs_f64());
        outcome
    }

    /// Loads an aggregate, decides `command` and appends the result. On a version conflict
    /// it reloads and decides once more, then gives up with `Conflict`.
    pub async fn execute<A>(
        &self,
        stream_id: &str,
        command: &A::Command,
        meta: &Metadata,
        extras: &[Extra],
    ) -> Result<Result<Vec<A::Event>, A::Error>, StoreError>
    where
        A: Aggregate,
        A::Event: StoredEvent,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let (state, version) = self.load::<A>(stream_id).await?;
            let events = match state.decide(command) {
                Ok(events) => events,
                Err(e) => return Ok(Err(e)),
            };
            if events.is_empty() {
                return Ok(Ok(events));
            }
            let new: Vec<NewEvent> = events.iter().map(|e| e.to_new()).collect::<Result<_, _>>()?;
            let expected = if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
            match self.append(stream_id, expected, &new, meta, extras).await {
                Ok(_) => return Ok(Ok(events)),
                Err(StoreError::Conflict(c)) if c == "stream_version" && tries < 2 => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The aggregate folded from its stream, and the stream's version (0 if empty).
    pub async fn load<A>(&self, stream_id: &str) -> Result<(A, i64), StoreError>
    where
        A: Aggregate,
        A::Event: StoredEvent,
    {
        let events = self.read_stream(stream_id).await?;
        let version = events.last().map(|e| e.version).unwrap_or(0);
        let decoded: Vec<A::Event> =
            events.iter().map(|e| serde_json::from_value(e.data.clone())).collect::<Result<_, _>>()?;
        Ok((A::replay(decoded.iter()), version))
    }
}

async fn already_stored(client: &tokio_postgres::Client, ids: &[Uuid]) -> Result<bool, StoreError> {
    let row = client.query_one("select count(*) from events where event_id = any($1)", &[&ids]).await?;
    let n: i64 = row.get(0);
    Ok(!ids.is_empty() && n == ids.len() as i64)
}

/// The hot statements go through the connection's statement cache: an append is a handful
/// of round trips, not twice that many (prepare, then execute, for every statement).
async fn append_in(
    tx: &deadpool_postgres::Transaction<'_>,
    store: &Store,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &Metadata,
    extras: &[Extra],
) -> Result<i64, StoreError> {
    let select = tx.prepare_cached("select version from streams where stream_id = $1 for update").await?;
    let current: Option<i64> = tx.query_opt(&select, &[&stream_id]).await?.map(|r| r.get(0));
    let base = match (expected, current) {
        (ExpectedVersion::NoStream, None) => 0,
        (ExpectedVersion::Exact(v), Some(c)) if v == c => c,
        _ => return Err(StoreError::Conflict("stream_version".into())),
    };
    let new_version = base + events.len() as i64;
    // A racing first append to the same stream fails on the primary key: a conflict.
    let written = if current.is_none() {
        let insert = tx.prepare_cached("insert into streams (stream_id, version) values ($1, $2)").await?;
        tx.execute(&insert, &[&stream_id, &new_version]).await
    } else {
        let update = tx.prepare_cached("update streams set version = $2 where stream_id = $1").await?;
        tx.execute(&update, &[&stream_id, &new_version]).await
    };
    if let Err(e) = written {
        return Err(match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict("stream_version".into()),
            other => other,
        });
    }
    let occurred_at: DateTime<Utc> = Utc::now();
    let meta_json = serde_json::to_value(meta)?;
    let insert_event = tx
        .prepare_cached(
            "insert into events (stream_id, version, event_id, type, schema_version, data, metadata, occurred_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)
             returning global_position, tx_id::text",
        )
        .await?;
    for (i, e) in events.iter().enumerate() {
        let version = base + 1 + i as i64;
        let row = tx
            .query_one(
                &insert_event,
                &[
                    &stream_id,
                    &version,
                    &e.event_id,
                    &e.event_type,
                    &e.schema_version,
                    &e.data,
                    &meta_json,
                    &occurred_at,
                ],
            )
            .await
            .map_err(|err| match StoreError::from(err) {
                StoreError::Conflict(c) if c.starts_with("events_pkey") => {
                    StoreError::Conflict("stream_version".into())
                }
                other => other,
            })?;
        let recorded = RecordedEvent {
            global_position: row.get(0),
            tx_id: row.get::<_, String>(1).parse().unwrap_or_default(),
            stream_id: stream_id.to_owned(),
            version,
            event_id: e.event_id,
            event_type: e.event_type.to_owned(),
            schema_version: e.schema_version,
            data: e.data.clone(),
            metadata: meta.clone(),
            occurred_at,
        };
        projection::project(tx, &recorded).await?;
    }
    for extra in extras {
        match extra {
            Extra::Secret { id, plaintext } => store.vault_put(tx, id, plaintext).await?,
            Extra::DatabaseQuota { account_id, max } => {
                tx.execute("select 1 from accounts where id = $1 for update", &[account_id]).await?;
                let n: i64 = tx
                    .query_one(
                        "select count(*) from databases where account_id = $1 and state <> 'deleted'",
                        &[account_id],
                    )
                    .await?
                    .get(0);
                if n > *max {
                    return Err(StoreError::QuotaExceeded);
                }
            }
            Extra::RoleVerifier { database_id, verifier } => {
                tx.execute(
                    "insert into role_verifiers (database_id, verifier) values ($1, $2)
                     on conflict (database_id) do update set verifier = excluded.verifier",
                    &[database_id, verifier],
                )
                .await?;
            }
            Extra::UserVerifier { role_name, verifier } => {
                tx.execute(
                    "insert into database_user_verifiers (role_name, verifier) values ($1, $2)
                     on conflict (role_name) do update set verifier = excluded.verifier",
                    &[role_name, verifier],
                )
                .await?;
            }
        }
    }
    let notify = tx.prepare_cached("select pg_notify('berth_events', '')").await?;
    tx.execute(&notify, &[]).await?;
    Ok(new_version)
}
