//! Appending events with an expected stream version, idempotent by event id.

use chrono::{DateTime, Utc};
use domain::{Actor, Aggregate, StreamId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use deadpool_postgres::GenericClient;

use crate::codec::{self, StoredEvent};
use crate::{projection, Position, RecordedEvent, Store, StoreError};

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
    /// Fails the append with `QuotaExceeded` if more than `max` anonymous accounts (this one
    /// included) signed up from `source` since `since`. Checked under an advisory lock on the
    /// source, so API processes signing up at the same moment cannot both pass.
    SignupRate {
        source: String,
        since: chrono::DateTime<chrono::Utc>,
        max: i64,
    },
    /// Fails the append with `QuotaExceeded` if the database would have more than `max`
    /// manual backups (this one included, deleted ones too) requested since `since`. Checked
    /// under an advisory lock on the database that only other such checks take.
    ManualBackupQuota {
        database_id: Uuid,
        since: chrono::DateTime<chrono::Utc>,
        max: i64,
    },
    /// Fails the append with `HostFull` if the host would hold more databases than its
    /// capacity, or no longer takes new ones (cordoned, draining, removed). Checked under an
    /// advisory lock on the host, so concurrent creates cannot overfill it.
    HostCapacity {
        host_id: Uuid,
        /// Databases on their way there not counted yet (a move: 1; a create, whose row
        /// the projection has inserted already: 0).
        incoming: i64,
    },
    /// Fails the append with `Conflict("host_not_empty")` if the host holds a database (not
    /// deleted). Under the same lock as [`Extra::HostCapacity`]: a create either committed
    /// before (and is counted here) or checks after and finds the host removed.
    HostEmpty {
        host_id: Uuid,
    },
}

/// The `Conflict` of an append refused by [`Extra::HostEmpty`].
pub const HOST_NOT_EMPTY: &str = "host_not_empty";

/// How many times an append meets a deadlock or serialization failure before it gives up.
const TRANSIENT_TRIES: u64 = 5;

impl Store {
    /// Appends `events` to `stream_id` if it is at `expected`, projecting them into the read
    /// models and performing `extras`, all in one transaction. A NOTIFY on `berth_events`
    /// naming the stream wakes consumers (and lets caches of a stream's read model drop it):
    /// for account streams it is part of the append statement, for the others it is sent
    /// after commit, coalesced with other appends (see `notifier`).
    ///
    /// The events and the stream's new version are one statement. An append with nothing to
    /// project and no extras runs it alone in autocommit: one round trip.
    ///
    /// This is the last step of the command path ([`Self::execute`], [`Self::execute_new`]):
    /// events come from an aggregate's `decide`, so callers outside the store use those.
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
        let result = if extras.is_empty() && !codec::needs_projection(stream_id) {
            write(&client, stream_id, expected, events, meta).await.map(|w| w.version)
        } else {
            // A deadlock or serialization failure rolled everything back: run it again, a
            // bounded number of times, rather than hand the caller an error about timing.
            let mut tries = 0;
            loop {
                tries += 1;
                match append_in_tx(&mut client, self, stream_id, expected, events, meta, extras).await {
                    Err(e) if e.is_transient_conflict() && tries < TRANSIENT_TRIES => {
                        tracing::debug!(stream_id, error = %e, "append retried after a transient conflict");
                        tokio::time::sleep(std::time::Duration::from_millis(5 * tries)).await;
                    }
                    other => break other,
                }
            }
        };
        let outcome = match result {
            Ok(version) => {
                self.notifier.appended(self, stream_id, notifies_in_statement(stream_id));
                Ok(AppendOutcome::Appended { version })
            }
            Err(e) => {
                // A duplicate event id means a retry of an append that already committed.
                let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
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

    /// Appends each of `streams` as a new stream (`ExpectedVersion::NoStream`) with its
    /// events and metadata, projecting them, all in one transaction: one commit for many
    /// records (the per-query audit gathers the records of concurrent requests into one
    /// call). The statements are pipelined. Any failure writes none of them; a duplicate
    /// stream fails the whole batch with `Conflict("stream_version")`, so use it for streams
    /// whose ids are new (a query record's).
    pub async fn append_new_streams(&self, streams: &[(String, Vec<NewEvent>, Metadata)]) -> Result<(), StoreError> {
        if streams.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut client = self.client().await?;
        let mut tries = 0;
        let result = loop {
            tries += 1;
            match append_batch_in_tx(&mut client, streams).await {
                Err(e) if e.is_transient_conflict() && tries < TRANSIENT_TRIES => {
                    tokio::time::sleep(std::time::Duration::from_millis(5 * tries)).await;
                }
                other => break other,
            }
        };
        if result.is_ok() {
            for (stream_id, _, _) in streams {
                self.notifier.appended(self, stream_id, notifies_in_statement(stream_id));
            }
        }
        metrics::histogram!("berth_event_append_seconds").record(started.elapsed().as_secs_f64());
        result
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

    /// [`Self::execute`] for a command that creates its stream (a sign-up, a session, a host):
    /// decided on the aggregate's empty state and appended as the stream's first events, in
    /// one round trip with no read. If the stream exists after all, the command is decided
    /// again on what it holds, so the aggregate's answer (a refusal, or nothing to do) stands.
    pub async fn execute_new<A>(
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
        let events = match A::default().decide(command) {
            Ok(events) => events,
            Err(e) => return Ok(Err(e)),
        };
        if events.is_empty() {
            return Ok(Ok(events));
        }
        let new: Vec<NewEvent> = events.iter().map(|e| e.to_new()).collect::<Result<_, _>>()?;
        match self.append(stream_id, ExpectedVersion::NoStream, &new, meta, extras).await {
            Ok(_) => Ok(Ok(events)),
            Err(StoreError::Conflict(c)) if c == "stream_version" => {
                self.execute::<A>(stream_id, command, meta, extras).await
            }
            Err(e) => Err(e),
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

/// The append statement. A stream's version is its last event's: the primary key
/// `(stream_id, version)` is what makes appends optimistic. The CTE `stream` yields the base
/// version (`$2`, 0 for a new stream) only if the stream is there: for `Exact(v)` the event at
/// `v` must exist (it can never be deleted), and the next versions must be free, which the
/// primary key checks as the events go in. On a mismatch either nothing is inserted (the CTE
/// is empty) or the insert fails on `events_pkey`; a racing append to the same version waits
/// for the other's uncommitted row, then fails the same way. So a stale expected version
/// writes nothing. A NOTIFY in the CTE is queued once per append and, like every NOTIFY,
/// delivered only if the transaction commits.
///
/// An earlier design kept a `streams` row per aggregate with its version and updated it on
/// every append; it duplicated what the primary key already guarantees and cost a second
/// row write (and page contention between concurrent appends) on every append.
///
/// A single event (most appends) is inserted from scalar parameters; a batch from arrays,
/// in order, so positions follow versions within the transaction.
fn statement(new_stream: bool, notify: bool, single: bool) -> &'static str {
    static STATEMENTS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        let mut all = Vec::new();
        for new_stream in [false, true] {
            for notify in [false, true] {
                for single in [false, true] {
                    all.push(build_statement(new_stream, notify, single));
                }
            }
        }
        all
    });
    &STATEMENTS[usize::from(new_stream) * 4 + usize::from(notify) * 2 + usize::from(single)]
}

fn build_statement(new_stream: bool, notify: bool, single: bool) -> String {
    let returning = if notify { "$2::bigint as base, pg_notify('berth_events', $1)" } else { "$2::bigint as base" };
    let stream = if new_stream {
        format!("select {returning}")
    } else {
        format!("select {returning} where exists (select from events where stream_id = $1 and version = $2::bigint)")
    };
    let events = if single {
        "select $1, stream.base + 1, $3::uuid, $4::text, $5::int, $6::jsonb, $7, $8 from stream"
    } else {
        "select $1, stream.base + e.n, e.id, e.type, e.schema_version, e.data, $7, $8
           from stream, unnest($3::uuid[], $4::text[], $5::int[], $6::jsonb[])
                with ordinality as e(id, type, schema_version, data, n)
          order by e.n"
    };
    format!(
        "with stream as ({stream})
         insert into events (stream_id, version, event_id, type, schema_version, data, metadata, occurred_at)
         {events}
         returning version, global_position, tx_id::text"
    )
}

/// Account streams hold API keys, which other processes cache and drop when they hear of an
/// append: that NOTIFY must be sent if and only if the append commits, so it is part of the
/// statement. Other appends' NOTIFY only wakes consumers, which also poll; the coalescing
/// `notifier` sends it after commit.
fn notifies_in_statement(stream_id: &str) -> bool {
    codec::family(stream_id) == StreamId::ACCOUNT
}

/// What one append wrote: the stream's new version and, per event in order, its version
/// and place in the global order.
struct Written {
    version: i64,
    events: Vec<(i64, Position)>,
    occurred_at: DateTime<Utc>,
}

/// Runs the append statement on `client` (a transaction, or a connection in autocommit).
async fn write(
    client: &impl GenericClient,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &Metadata,
) -> Result<Written, StoreError> {
    let base = match expected {
        ExpectedVersion::NoStream => 0,
        ExpectedVersion::Exact(v) => v,
    };
    let Some(first) = events.first() else {
        return Err(StoreError::Codec("an append needs at least one event".into()));
    };
    let single = events.len() == 1;
    let sql = statement(expected == ExpectedVersion::NoStream, notifies_in_statement(stream_id), single);
    let meta_json = serde_json::to_value(meta)?;
    let occurred_at: DateTime<Utc> = Utc::now();
    let statement = client.prepare_cached(sql).await?;
    let rows = if single {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
            &stream_id,
            &base,
            &first.event_id,
            &first.event_type,
            &first.schema_version,
            &first.data,
            &meta_json,
            &occurred_at,
        ];
        client.query(&statement, &params).await
    } else {
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
        let schema_versions: Vec<i32> = events.iter().map(|e| e.schema_version).collect();
        let data: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();
        client
            .query(&statement, &[&stream_id, &base, &ids, &types, &schema_versions, &data, &meta_json, &occurred_at])
            .await
    }
    .map_err(|err| match StoreError::from(err) {
        StoreError::Conflict(c) if c.starts_with("events_pkey") => StoreError::Conflict("stream_version".into()),
        other => other,
    })?;
    if rows.is_empty() {
        return Err(StoreError::Conflict("stream_version".into()));
    }
    let mut written = Written { version: base + events.len() as i64, events: Vec::new(), occurred_at };
    for row in &rows {
        let tx: &str = row.get(2);
        let tx_id = tx.parse().map_err(|_| StoreError::Codec(format!("bad tx_id {tx}")))?;
        written.events.push((row.get(0), Position { tx_id, global_position: row.get(1) }));
    }
    // RETURNING follows insertion order, which the statement fixes; sort anyway, cheaply.
    written.events.sort_unstable_by_key(|(version, _)| *version);
    if written.events.len() != events.len() {
        return Err(StoreError::Codec(format!("{} of {} events written", written.events.len(), events.len())));
    }
    Ok(written)
}

/// An append with read-model work or extras: the statement, the projections of what it
/// recorded and the extras commit together.
async fn append_in_tx(
    client: &mut deadpool_postgres::Object,
    store: &Store,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    meta: &Metadata,
    extras: &[Extra],
) -> Result<i64, StoreError> {
    let tx = client.transaction().await?;
    let written = write(&tx, stream_id, expected, events, meta).await?;
    project_written(&tx, stream_id, events, meta, &written).await?;
    for extra in extras {
        perform(&tx, store, extra).await?;
    }
    tx.commit().await?;
    Ok(written.version)
}

/// Projects the events `write` just recorded, in the same transaction.
async fn project_written(
    tx: &deadpool_postgres::Transaction<'_>,
    stream_id: &str,
    events: &[NewEvent],
    meta: &Metadata,
    written: &Written,
) -> Result<(), StoreError> {
    for (e, (version, position)) in events.iter().zip(&written.events) {
        let recorded = RecordedEvent {
            global_position: position.global_position,
            tx_id: position.tx_id,
            stream_id: stream_id.to_owned(),
            version: *version,
            event_id: e.event_id,
            event_type: e.event_type.to_owned(),
            schema_version: e.schema_version,
            data: e.data.clone(),
            metadata: meta.clone(),
            occurred_at: written.occurred_at,
        };
        projection::project(tx, &recorded).await?;
    }
    Ok(())
}

/// [`Store::append_new_streams`]'s transaction: each stream's append and projection run as
/// one future, and the futures run together, so their statements share round trips.
async fn append_batch_in_tx(
    client: &mut deadpool_postgres::Object,
    streams: &[(String, Vec<NewEvent>, Metadata)],
) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    let each = streams.iter().map(|(stream_id, events, meta)| {
        let tx = &tx;
        async move {
            let written = write(tx, stream_id, ExpectedVersion::NoStream, events, meta).await?;
            project_written(tx, stream_id, events, meta, &written).await
        }
    });
    futures::future::try_join_all(each).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs `sql` in `tx`, prepared once per connection: an unprepared statement costs a
/// second round trip every time.
async fn execute_cached(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

/// Waits for the transaction-scoped advisory lock named `key` (held until commit or
/// rollback). Keys are free text; give each use a prefix of its own.
async fn advisory_xact_lock(tx: &deadpool_postgres::Transaction<'_>, key: &str) -> Result<(), StoreError> {
    let sql = "select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1, 7341))";
    execute_cached(tx, sql, &[&key]).await.map(drop)
}

async fn perform(tx: &deadpool_postgres::Transaction<'_>, store: &Store, extra: &Extra) -> Result<(), StoreError> {
    match extra {
        Extra::Secret { id, plaintext } => store.vault_put(tx, id, plaintext).await?,
        Extra::DatabaseQuota { account_id, max } => {
            // Two statements, not one: the count must take its snapshot after the lock is
            // granted, so that it sees what a concurrent create at the limit committed. FOR NO
            // KEY UPDATE, not FOR UPDATE: the new database row's foreign key already holds a
            // KEY SHARE lock on the account, which FOR UPDATE would wait on — two creates at
            // once then deadlock — while FOR NO KEY UPDATE only queues behind the other create.
            execute_cached(tx, "select 1 from accounts where id = $1 for no key update", &[account_id]).await?;
            let count = tx
                .prepare_cached("select count(*) from databases where account_id = $1 and state <> 'deleted'")
                .await?;
            let n: i64 = tx.query_one(&count, &[account_id]).await?.get(0);
            if n > *max {
                return Err(StoreError::QuotaExceeded);
            }
        }
        Extra::SignupRate { source, since, max } => {
            // As for the database quota: the count takes its snapshot after the lock.
            advisory_xact_lock(tx, source).await?;
            let count =
                tx.prepare_cached("select count(*) from accounts where signup_source = $1 and created_at > $2").await?;
            let n: i64 = tx.query_one(&count, &[source, since]).await?.get(0);
            if n > *max {
                return Err(StoreError::QuotaExceeded);
            }
        }
        Extra::HostCapacity { host_id, incoming } => {
            // As for the quotas: the count takes its snapshot after the lock.
            advisory_xact_lock(tx, &format!("host-capacity:{host_id}")).await?;
            let check = tx
                .prepare_cached(
                    "select h.state = 'ready' and count(d.id) + $2 <= h.capacity from hosts h
                     left join databases d on d.host_id = h.id and d.state <> 'deleted'
                     where h.id = $1 group by h.id",
                )
                .await?;
            let fits: Option<bool> = tx.query_opt(&check, &[host_id, incoming]).await?.map(|r| r.get(0));
            if fits != Some(true) {
                return Err(StoreError::HostFull);
            }
        }
        Extra::HostEmpty { host_id } => {
            advisory_xact_lock(tx, &format!("host-capacity:{host_id}")).await?;
            let count =
                tx.prepare_cached("select count(*) from databases where host_id = $1 and state <> 'deleted'").await?;
            let n: i64 = tx.query_one(&count, &[host_id]).await?.get(0);
            if n > 0 {
                return Err(StoreError::Conflict(HOST_NOT_EMPTY.into()));
            }
        }
        Extra::ManualBackupQuota { database_id, since, max } => {
            // An advisory lock of the transaction, keyed on the database, not a row lock on
            // it: the backup's projection has already inserted rows referencing the database
            // (backups, operations, activity), whose foreign keys hold a KEY SHARE lock on its
            // row. A FOR UPDATE there waited for every other request's KEY SHARE while they
            // waited for its own: each pair of racing requests deadlocked, PostgreSQL broke
            // one deadlock per `deadlock_timeout` (1 s), and after five tries the losers got
            // a 409 (issue 21: six racing requests, one 202 and five 409s after 18–29 s). It
            // would also wait for any worker transaction updating the row. This lock is held
            // only by manual backup requests on the same database, from the count to the
            // commit; as for the database quota, the count takes its snapshot after it.
            advisory_xact_lock(tx, &format!("manual-backup-quota:{database_id}")).await?;
            let count = tx
                .prepare_cached(
                    "select count(*) from backups
                     where database_id = $1 and trigger = 'manual' and created_at >= $2",
                )
                .await?;
            let n: i64 = tx.query_one(&count, &[database_id, since]).await?.get(0);
            if n > *max {
                return Err(StoreError::QuotaExceeded);
            }
        }
        Extra::RoleVerifier { database_id, verifier } => {
            let sql = "insert into role_verifiers (database_id, verifier) values ($1, $2)
                       on conflict (database_id) do update set verifier = excluded.verifier";
            execute_cached(tx, sql, &[database_id, verifier]).await?;
        }
        Extra::UserVerifier { role_name, verifier } => {
            let sql = "insert into database_user_verifiers (role_name, verifier) values ($1, $2)
                       on conflict (role_name) do update set verifier = excluded.verifier";
            execute_cached(tx, sql, &[role_name, verifier]).await?;
        }
    }
    Ok(())
}
