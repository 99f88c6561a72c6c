//! Durable job queues in the control-plane database — the only module in Berth that knows
//! apalis (apalis 1.0.0, apalis-postgres 1.0.0, sqlx 0.9).
//!
//! A [`Queue<J>`] owns a small sqlx pool and stores jobs in the `apalis` schema
//! (`apalis.jobs`, `job_type` = queue name). [`run_worker`] consumes one queue with a
//! [`Handler`] until its shutdown future resolves.
//!
//! # How the apalis traps are handled
//!
//! * **Task ids are ULIDs.** A non-ULID id makes `apalis.get_jobs` rows undecodable, which
//!   kills every worker of the queue. [`Queue::push`] derives the ULID deterministically from
//!   the key: the key's top 48 bits are kept (the millisecond timestamp of a UUIDv7 key, so
//!   ids sort by event time) and the low 80 bits are XORed with a hash of the queue name, so
//!   one event id can key jobs on several queues (`apalis.jobs.id` is unique across queues).
//! * **Duplicate push is success.** The idempotency key is the key's UUID text; apalis has a
//!   unique index on `(job_type, idempotency_key)` and a primary key on `id`, and a second push
//!   fails with `23505 unique_violation`, which [`Queue::push`] maps to `Ok(())`. The key stays
//!   taken after the job finished: a key runs at most once, ever.
//! * **Retries and backoff happen in-process, never in the database.** A tower layer of ours
//!   (`RetryLayer`, between apalis's concurrency limit and its lifecycle layer) re-calls the
//!   handler after `backoff_base * 2^(n-1)` (+0–10 % jitter, capped at `backoff_max`) until
//!   [`WorkerOptions::max_attempts`]. Each re-call goes through apalis's lifecycle layer, so the
//!   attempt counter apalis persists is the real one. `RetryAfterError`/`DeferredError` are
//!   never used (they put the task back to `Pending` with no delay and no attempt cap). A job
//!   that fails for good is finished with `AbortError`, i.e. status `Killed`, which
//!   `get_jobs` never picks up again; the database-level `max_attempts` is set to `i32::MAX`
//!   and is not used as a limit.
//! * **Worker names are unique per run**: `<queue>@<host>:<pid>:<ulid>`. apalis's register
//!   query only re-registers an existing name if it wins `pg_try_advisory_lock`, a
//!   session-level lock that the pooled connection keeps for ever, so a reused name either
//!   fails or leaves the previous run's jobs `Running` with nobody heart-beating them. Every
//!   restart after a backend error therefore uses a fresh name.
//! * **Orphan timeout**: heartbeat every [`HEARTBEAT_INTERVAL`] (10 s), dead after
//!   [`MISSED_HEARTBEATS`] (6) missed, i.e. [`ORPHAN_TIMEOUT`] = 60 s. The apalis default is
//!   30 s × 10 = 5 min (the `Config` docs claim 2 missed beats; `Config::default()` says 10).
//!   Re-enqueueing runs in the heartbeat of any live worker of the same queue, so a job whose
//!   worker died is picked up again 60–70 s later, with one attempt counted for the run that
//!   died. Attempts that ran and failed inside a run that then died are not counted (apalis
//!   persists the counter only when the task completes).
//! * **Pickup latency**: `.with_pubsub()` (LISTEN on `apalis::job::insert`, one connection
//!   per worker) wakes the worker on insert; a notification that arrives while a fetch is in
//!   flight is consumed without a new fetch, so we also poll every
//!   [`WorkerOptions::poll_interval`] (re-enqueued orphans and released jobs are not
//!   notified at all). Without either, a worker only fetches on its heartbeat.
//! * **Heartbeats while draining are ours**: a stopping apalis worker waits for its in-flight
//!   jobs without polling its backend, i.e. without heart-beating, so a job still running
//!   60 s into a graceful shutdown would be re-enqueued and run twice. We keep the worker row
//!   alive (`apalis_postgres::queries::keep_alive`) until the worker has stopped.
//! * **Acks can lag by up to a poll period**: apalis writes the lock/result events only from
//!   the backend's `poll_ready`, and skips that while a fetch is in flight, so an ack can wait
//!   for the next poll tick (another reason for a short `poll_interval`).
//! * **Backend errors** (database unreachable during a heartbeat, fetch or ack) make apalis's
//!   worker stream yield an error and, if dropped, drop in-flight jobs. We instead stop that
//!   worker gracefully (in-flight attempts finish), then start a new one under a new name
//!   after a 1 s → 30 s backoff. [`run_worker`] only returns an error for invalid options.
//!   Never poll the stream again after an error during close: apalis would re-poll a finished
//!   future and panic.
//! * **Payload decoding is ours**: the apalis backend is typed `serde_json::Value` and we
//!   decode `J` inside the handler service. A payload apalis fails to decode is a *backend*
//!   error that stops the worker and leaves the task `Queued` under that worker's name; a
//!   payload *we* fail to decode is logged and the job is killed (`exhausted` cannot be
//!   called without a `J`).
//!
//! # Semantics
//!
//! * At-least-once: a job whose ack was lost (process death, database error while acking)
//!   runs again after the orphan timeout.
//! * Graceful shutdown: no new jobs are fetched; a running attempt finishes; a job waiting for
//!   its backoff is released at once (status `Failed` with its attempt count, which
//!   `get_jobs` picks up again immediately — its next attempt on another worker does not wait
//!   out the remaining backoff).
//! * A job in backoff keeps its concurrency slot (the concurrency limit is outside the retry
//!   layer), so a worker never holds more than `concurrency` jobs.
//! * Handlers run in their own tokio task (parallel on a multi-threaded runtime; a panic is a
//!   transient failure, `JobError::Retry`).

//!
//! # Layout
//!
//! This module holds the queue itself (connecting, pushing, task ids) and the types a handler
//! sees (`error`: [`JobError`], which keeps the error underneath a failure); `worker` runs apalis workers over a queue (restarts, draining, heartbeats), and
//! `service` holds the tower services inside each worker (`HandlerService`, `RetryLayer`).

use std::{marker::PhantomData, str::FromStr, sync::Arc, time::Duration};

use anyhow::Context as _;
use apalis::prelude::{TaskBuilder, TaskId, TaskSink, TaskSinkError};
use apalis_postgres::{Config, PostgresStorage};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::watch;

mod error;
mod service;
mod worker;

pub use error::{Cause, JobError, Source};
pub use worker::{run_worker, WorkerOptions};

/// Connections in a queue's own pool: a worker uses one for `LISTEN` and one at a time for
/// its fetch/heartbeat/ack transactions; pushes and `depth` share the rest.
pub const POOL_SIZE: u32 = 5;
/// How often a worker heart-beats (and re-enqueues orphans of dead workers).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// Heartbeats a worker may miss before its jobs are re-enqueued.
pub const MISSED_HEARTBEATS: usize = 6;
/// `HEARTBEAT_INTERVAL × MISSED_HEARTBEATS`: after this long without a heartbeat, a worker's
/// `Queued`/`Running` jobs go back to `Pending` (checked on the next heartbeat of a live worker).
pub const ORPHAN_TIMEOUT: Duration = Duration::from_secs(60);
const _: () = assert!(HEARTBEAT_INTERVAL.as_secs() * MISSED_HEARTBEATS as u64 == ORPHAN_TIMEOUT.as_secs());

/// `apalis.jobs.max_attempts` of every job: the database never decides a job is exhausted
/// (our retry layer does), so a job released as `Failed` at shutdown is always picked up again.
const DB_MAX_ATTEMPTS: usize = i32::MAX as usize;

/// Jobs not finished: waiting, fetched, running, or released at shutdown (`Failed` below the
/// database attempt cap). `Done` and `Killed` are final.
const DEPTH_SQL: &str = "SELECT count(*) FROM apalis.jobs WHERE job_type = $1 \
     AND (status IN ('Pending', 'Queued', 'Running') \
          OR (status = 'Failed' AND attempts < max_attempts))";

/// A durable queue of jobs of type `J` in the control-plane database (apalis-postgres, own
/// sqlx pool, own `apalis` schema).
pub struct Queue<J> {
    pool: PgPool,
    name: Arc<str>,
    storage: PostgresStorage<Value>,
    /// Moves after every push through this handle (or a clone) of a job due now: workers of
    /// this process fetch at once instead of waiting for apalis's NOTIFY to come back.
    pushed: Arc<watch::Sender<u64>>,
    _job: PhantomData<fn() -> J>,
}

impl<J> Clone for Queue<J> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            name: self.name.clone(),
            storage: self.storage.clone(),
            pushed: self.pushed.clone(),
            _job: PhantomData,
        }
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Queue<std::rc::Rc<()>>>();
};

impl<J> std::fmt::Debug for Queue<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("name", &self.name).finish()
    }
}

fn apalis_config(queue_name: &str) -> Config {
    Config::default()
        .queue(queue_name)
        // One task per fetch: a worker never hoards `Queued` tasks other replicas could run,
        // and nothing is left in its buffer to re-enqueue (with attempts + 1) at shutdown.
        .batch_size(1)
        .heartbeat_interval(HEARTBEAT_INTERVAL)
        .missed_heartbeats(MISSED_HEARTBEATS)
        // Both are required: without results a finished task stays `Running` for ever.
        .lock_tasks(true)
        .persist_results(true)
}

impl<J: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static> Queue<J> {
    /// Connects (sqlx pool of [`POOL_SIZE`]) and runs apalis-postgres migrations (idempotent,
    /// and safe when several processes start at once: sqlx takes a database-wide advisory lock
    /// before creating the `apalis` schema and applying anything).
    ///
    /// The migrations run `CREATE EXTENSION IF NOT EXISTS` for `pgcrypto` and `hstore` (into
    /// the first schema of the `search_path`, normally `public`): the role must be allowed to
    /// (both are trusted extensions: the database owner can), and hstore's schema must stay on
    /// the role's `search_path` (apalis casts to an unqualified `hstore[]`).
    pub async fn connect(database_url: &str, queue_name: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !queue_name.is_empty() && queue_name.len() <= 512,
            "queue name must be 1 to 512 bytes, got {queue_name:?}"
        );
        let options = PgConnectOptions::from_str(database_url)
            .context("parsing the queue database URL")?
            .application_name("berth-queue");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("connecting to the queue database")?;
        // On failure the pool is dropped, which closes the connection that may still hold
        // sqlx's migration advisory lock.
        PostgresStorage::<()>::setup(&pool).await.context("running apalis-postgres migrations")?;
        let storage = PostgresStorage::new(&pool).with_config(apalis_config(queue_name));
        let pushed = Arc::new(watch::channel(0).0);
        Ok(Self { pool, name: queue_name.into(), storage, pushed, _job: PhantomData })
    }

    /// The queue's name (`apalis.jobs.job_type`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Enqueue `job` with task id = ULID derived deterministically from `key` (and the queue
    /// name, see the module docs) and idempotency key = `key`. Pushing the same key twice is a
    /// no-op returning `Ok` (the unique violation is success), even after the first job ran.
    pub async fn push(&self, key: uuid::Uuid, job: J) -> anyhow::Result<()> {
        self.push_at(key, job, None).await
    }

    /// [`Queue::push`], not to be picked up before `run_at` (apalis schedules by the second).
    pub async fn push_at(&self, key: uuid::Uuid, job: J, run_at: Option<std::time::SystemTime>) -> anyhow::Result<()> {
        let args = serde_json::to_value(&job).context("serializing job")?;
        let mut builder = TaskBuilder::new(args)
            .task_id(task_id(&self.name, key)?)
            .idempotency_key(key.to_string())
            .max_attempts(DB_MAX_ATTEMPTS);
        if let Some(at) = run_at {
            builder = builder.run_at_time(at);
        }
        let task = builder.build();
        let mut storage = self.storage.clone();
        match storage.push_task(task).await {
            Ok(()) => {
                if run_at.is_none_or(|at| at <= std::time::SystemTime::now()) {
                    self.pushed.send_modify(|n| *n = n.wrapping_add(1));
                }
                Ok(())
            }
            Err(e) if is_unique_violation(&e) => {
                tracing::debug!(queue = %self.name, %key, "job already enqueued");
                Ok(())
            }
            Err(e) => Err(anyhow::Error::new(e)).with_context(|| format!("pushing job {key} onto queue {}", self.name)),
        }
    }

    /// The jobs of this queue pushed under any of `keys`, whatever became of them.
    pub async fn jobs_by_key(&self, keys: &[uuid::Uuid]) -> anyhow::Result<Vec<PushedJob>> {
        let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let rows: Vec<(String, bool, f64)> = sqlx::query_as(PUSHED_SQL)
            .bind(&*self.name)
            .bind(&keys)
            .fetch_all(&self.pool)
            .await
            .with_context(|| format!("reading jobs of queue {}", self.name))?;
        rows.into_iter()
            .map(|(key, live, idle)| {
                Ok(PushedJob {
                    key: key.parse().context("a job key that is not a UUID")?,
                    live,
                    idle: Duration::from_secs_f64(idle.max(0.0)),
                })
            })
            .collect()
    }

    /// Jobs not yet finished (pending, running, or released for another attempt) — for tests
    /// and metrics (queue depth).
    pub async fn depth(&self) -> anyhow::Result<i64> {
        sqlx::query_scalar::<_, i64>(DEPTH_SQL)
            .bind(&*self.name)
            .fetch_one(&self.pool)
            .await
            .with_context(|| format!("counting jobs of queue {}", self.name))
    }
}

/// Live as in [`DEPTH_SQL`]; idle since its last change (pushed, due, locked or finished).
const PUSHED_SQL: &str = "SELECT idempotency_key, \
       (status IN ('Pending', 'Queued', 'Running') OR (status = 'Failed' AND attempts < max_attempts)), \
       extract(epoch FROM now() - greatest(run_at, lock_at, done_at))::float8 \
     FROM apalis.jobs WHERE job_type = $1 AND idempotency_key = ANY($2)";

/// A job found under a key by [`Queue::jobs_by_key`].
#[derive(Debug, Clone, PartialEq)]
pub struct PushedJob {
    pub key: uuid::Uuid,
    /// Not finished: waiting, running, or released for another attempt.
    pub live: bool,
    /// How long since it was pushed, became due, was picked up or finished, whichever is last.
    pub idle: Duration,
}

fn is_unique_violation(e: &TaskSinkError<apalis_postgres::Error>) -> bool {
    matches!(
        e,
        TaskSinkError::PushError(apalis_postgres::Error::Database(sqlx::Error::Database(db)))
            if db.is_unique_violation()
    )
}

/// FNV-1a, 128 bits: stable across Rust versions (unlike `DefaultHasher`).
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET, |h, b| (h ^ u128::from(*b)).wrapping_mul(PRIME))
}

/// The task ULID for `key` on `queue`: the key's top 48 bits (a UUIDv7's millisecond
/// timestamp) unchanged, the low 80 bits XORed with the queue name's hash. A bijection for a
/// fixed queue, so distinct keys never collide within a queue.
fn task_ulid(queue: &str, key: uuid::Uuid) -> ulid::Ulid {
    const LOW_80: u128 = (1 << 80) - 1;
    ulid::Ulid(key.as_u128() ^ (fnv1a_128(queue.as_bytes()) & LOW_80))
}

fn task_id(queue: &str, key: uuid::Uuid) -> anyhow::Result<TaskId> {
    // apalis-core uses ulid 3, we use ulid 1: go through the canonical text form.
    let text = task_ulid(queue, key).to_string();
    let id = TaskId::from_str(&text).context("building task id")?;
    anyhow::ensure!(id.as_ulid().is_some(), "task id {text} did not parse as a ULID");
    Ok(id)
}

/// Which attempt this is (1-based) out of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub number: u32,
    pub max: u32,
}

impl Attempt {
    /// Whether a `Retry` from this attempt ends the job.
    pub fn is_last(&self) -> bool {
        self.number >= self.max
    }
}

/// Runs the jobs of one queue.
#[async_trait::async_trait]
pub trait Handler<J>: Send + Sync + 'static {
    async fn run(&self, job: J, attempt: Attempt) -> Result<(), JobError>;
    /// Called once when a job fails for good (Abort, or Retry on its last attempt), before
    /// the task is marked failed.
    async fn exhausted(&self, job: J, error: String);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_deterministic_ulids_namespaced_by_queue() {
        let key = uuid::Uuid::now_v7();
        let a = task_id("a", key).expect("ulid");
        assert_eq!(a, task_id("a", key).expect("ulid"));
        assert_ne!(a, task_id("b", key).expect("ulid"));
        // The UUIDv7 timestamp survives, so ids sort by event time.
        let ulid = task_ulid("a", key);
        assert_eq!(ulid.0 >> 80, key.as_u128() >> 80);
        assert_eq!(a.to_string().len(), 26);
    }
}
