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

use std::{
    future::Future,
    marker::PhantomData,
    str::FromStr,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use apalis::prelude::{
    AbortError, BackendExt, BoxDynError, Event, Layer, Service, Task, TaskBuilder, TaskId, TaskSink, TaskSinkError,
    WorkerBuilder, WorkerBuilderExt, WorkerContext,
};
use apalis_postgres::{Config, PostgresStorage};
use futures::{future::BoxFuture, FutureExt, StreamExt};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::watch;

use crate::supervise::{panic_text, AbortOnDrop};

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
/// How long a worker stopped by a backend error waits for its in-flight jobs.
const BACKEND_ERROR_DRAIN: Duration = Duration::from_secs(20);
/// Backend-failure restart backoff.
const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(30);

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

/// Why a job attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Transient: try again after a backoff, unless this was the last attempt.
    #[error("retryable: {0}")]
    Retry(String),
    /// Permanent: do not try again.
    #[error("aborted: {0}")]
    Abort(String),
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

/// How a worker runs a queue.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Jobs run at once by this worker (including jobs waiting for their retry backoff).
    pub concurrency: usize,
    /// Attempts per job, the first included (≥ 1).
    pub max_attempts: u32,
    /// Delay after the first failed attempt; doubles after each further one.
    pub backoff_base: Duration,
    /// Cap on the delay between attempts.
    pub backoff_max: Duration,
    /// Poll period on top of LISTEN/NOTIFY (picks up re-enqueued and released jobs, and
    /// inserts whose notification raced a fetch).
    pub poll_interval: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            poll_interval: Duration::from_millis(50),
        }
    }
}

impl WorkerOptions {
    /// Delay before the attempt after failed attempt `number` (1-based).
    fn backoff(&self, number: u32) -> Duration {
        let doublings = number.saturating_sub(1).min(30);
        let delay = self.backoff_base.saturating_mul(1 << doublings).min(self.backoff_max);
        // 0–10 % jitter from the random bits of a fresh ULID (no extra RNG dependency).
        let per_mille = (ulid::Ulid::new().random() % 101) as u32;
        delay.saturating_add(delay.saturating_mul(per_mille) / 1000).min(self.backoff_max)
    }
}

/// A unique worker name: `<queue>@<host>:<pid>:<ulid>`.
fn worker_name(queue: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{queue}@{host}:{}:{}", std::process::id(), ulid::Ulid::new())
}

/// Runs workers until `shutdown` resolves; graceful (in-flight attempts finish, jobs waiting
/// for a retry backoff are released). A worker whose database connection fails is stopped
/// gracefully and replaced by a new one (new name) after a backoff; only invalid options make
/// this return an error.
pub async fn run_worker<J, H: Handler<J>>(
    queue: Queue<J>,
    handler: Arc<H>,
    opts: WorkerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()>
where
    J: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
{
    anyhow::ensure!(opts.concurrency >= 1, "concurrency must be at least 1");
    anyhow::ensure!(opts.max_attempts >= 1, "max_attempts must be at least 1");
    anyhow::ensure!(!opts.poll_interval.is_zero(), "poll_interval must be positive");

    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    let _shutdown_task = AbortOnDrop(tokio::spawn(async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    }));

    let mut restart_delay = RESTART_MIN;
    loop {
        let started = Instant::now();
        let failure = run_one_worker(&queue, &handler, &opts, &mut shutdown_rx).await;
        if *shutdown_rx.borrow() {
            return Ok(());
        }
        if started.elapsed() > ORPHAN_TIMEOUT {
            restart_delay = RESTART_MIN;
        }
        tracing::error!(
            queue = queue.name(),
            error = failure.as_deref().unwrap_or("worker stream ended"),
            "queue worker failed; restarting in {restart_delay:?}"
        );
        tokio::select! {
            _ = tokio::time::sleep(restart_delay) => {}
            _ = shutdown_rx.wait_for(|stop| *stop) => return Ok(()),
        }
        restart_delay = (restart_delay * 2).min(RESTART_MAX);
    }
}

/// Yields after each push of a due job through this process's queue handle: a wake-up for
/// the worker's fetch (apalis's NOTIFY of the insert still wakes workers of other processes).
fn pushed_here(rx: watch::Receiver<u64>) -> futures::stream::BoxStream<'static, ()> {
    futures::stream::unfold(rx, |mut rx| async move { rx.changed().await.ok().map(|()| ((), rx)) }).boxed()
}

/// One apalis worker, under a fresh name, until shutdown or a backend error (returned).
async fn run_one_worker<J, H>(
    queue: &Queue<J>,
    handler: &Arc<H>,
    opts: &WorkerOptions,
    shutdown_rx: &mut watch::Receiver<bool>,
) -> Option<String>
where
    J: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static,
    H: Handler<J>,
{
    let name = worker_name(queue.name());
    let ctx = WorkerContext::new(&name);
    // Set (before `ctx.stop()`) when this worker stops, so that jobs waiting for a retry
    // backoff are released instead of waiting on a service that is no longer ready.
    let (stopping_tx, stopping_rx) = watch::channel(false);

    let backend = PostgresStorage::<Value>::new(&queue.pool)
        .with_config(apalis_config(queue.name()))
        .with_pubsub()
        .poll_with_interval(opts.poll_interval)
        .poll_with_stream(pushed_here(queue.pushed.subscribe()));
    let worker = WorkerBuilder::new(&ctx)
        .backend(backend)
        // Added first = outermost: a job keeps its slot while it waits for a retry.
        .concurrency(opts.concurrency)
        .layer(RetryLayer { opts: opts.clone(), stopping: stopping_rx })
        .build(HandlerService {
            handler: handler.clone(),
            queue: queue.name.clone(),
            max_attempts: opts.max_attempts,
            _job: PhantomData::<fn() -> J>,
        });
    tracing::info!(queue = queue.name(), worker = %name, "queue worker starting");

    let mut events = worker.stream().boxed();
    let mut failure: Option<String> = None;
    // After a backend error the worker drains its in-flight jobs for at most this long, then
    // is dropped (their rows go back to the queue after the orphan timeout): a job that does
    // not end — one stuck on a connection the restarted control plane will never answer —
    // must not keep the whole lane from fetching again.
    let mut drain_until: Option<tokio::time::Instant> = None;
    let mut draining_heartbeat: Option<AbortOnDrop<()>> = None;
    let mut stop = |reason: &str| {
        if stopping_tx.send_replace(true) {
            return; // already stopping
        }
        tracing::info!(queue = queue.name(), worker = %name, "stopping queue worker: {reason}");
        if let Err(e) = ctx.stop() {
            tracing::warn!(worker = %name, error = %e, "stopping apalis worker");
        }
        // apalis sends no heartbeats while a stopping worker waits for its in-flight jobs;
        // without ours, a job running past the orphan timeout would be run a second time.
        draining_heartbeat = Some(AbortOnDrop(tokio::spawn(keep_alive_while_draining(
            queue.pool.clone(),
            queue.name.clone(),
            ctx.clone(),
        ))));
    };
    loop {
        tokio::select! {
            biased;
            event = events.next() => match event {
                None => break,
                Some(Ok(Event::Error(e))) => tracing::debug!(worker = %name, error = %e, "job attempt failed"),
                Some(Ok(event)) => tracing::trace!(worker = %name, ?event, "worker event"),
                Some(Err(e)) => {
                    let during_close = ctx.is_shutting_down();
                    tracing::warn!(worker = %name, error = %e, "queue backend error");
                    failure.get_or_insert_with(|| e.to_string());
                    if during_close {
                        // apalis leaves the failed close future in place; polling again panics.
                        break;
                    }
                    stop("backend error");
                    drain_until.get_or_insert(tokio::time::Instant::now() + BACKEND_ERROR_DRAIN);
                }
            },
            _ = shutdown_rx.wait_for(|stop| *stop), if !*stopping_tx.borrow() => stop("shutdown requested"),
            _ = tokio::time::sleep_until(drain_until.unwrap_or_else(tokio::time::Instant::now)), if drain_until.is_some() => {
                tracing::warn!(queue = queue.name(), worker = %name, "in-flight jobs did not end after a backend error; leaving them to the orphan timeout");
                break;
            }
        }
    }
    drop(draining_heartbeat);
    tracing::info!(queue = queue.name(), worker = %name, "queue worker stopped");
    failure
}

async fn keep_alive_while_draining(pool: PgPool, queue: Arc<str>, ctx: WorkerContext) {
    let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let beat = async {
            let mut conn = pool.acquire().await?;
            apalis_postgres::queries::keep_alive(&mut *conn, &queue, &ctx).await
        };
        if let Err(e) = beat.await {
            tracing::warn!(worker = ctx.name(), error = %e, "heartbeat while draining failed");
        }
    }
}

/// Runs `fut` in its own task; a panic becomes `Err(message)`.
async fn spawn_catching<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Result<T, String> {
    let mut guard = AbortOnDrop(tokio::spawn(fut));
    match (&mut guard.0).await {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => {
            let message = panic_text(&*e.into_panic()).unwrap_or_else(|| "non-string panic payload".to_owned());
            Err(format!("panicked: {message}"))
        }
        Err(e) => Err(format!("task failed: {e}")),
    }
}

/// A failed attempt that may be retried (the attempt was not the last).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RetryableError(String);

/// The innermost service (inside apalis's lifecycle layer, which counts the attempt and maps
/// `AbortError` to `Killed`, other errors to `Failed`): decodes the job, runs one attempt,
/// calls `exhausted` when the job fails for good.
struct HandlerService<J, H> {
    handler: Arc<H>,
    queue: Arc<str>,
    max_attempts: u32,
    _job: PhantomData<fn() -> J>,
}

impl<J, H> Clone for HandlerService<J, H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            queue: self.queue.clone(),
            max_attempts: self.max_attempts,
            _job: PhantomData,
        }
    }
}

fn abort(message: String) -> BoxDynError {
    Box::new(AbortError::new(message))
}

impl<J, H> Service<Task<Value>> for HandlerService<J, H>
where
    J: DeserializeOwned + Send + 'static,
    H: Handler<J>,
{
    type Response = ();
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<(), BoxDynError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, task: Task<Value>) -> Self::Future {
        let handler = self.handler.clone();
        let queue = self.queue.clone();
        let max = self.max_attempts;
        let task_id = task.task_id().map(ToString::to_string).unwrap_or_default();
        // Read inside the future: the lifecycle layer increments the counter on first poll.
        let counter = task.raw_attempt().clone();
        let args = task.args;
        async move {
            let number = u32::try_from(counter.current()).unwrap_or(u32::MAX);
            let decode = || serde_json::from_value::<J>(args.clone());
            let job = match decode() {
                Ok(job) => job,
                Err(e) => {
                    tracing::error!(%queue, task = %task_id, error = %e, "undecodable job payload; dropping it");
                    return Err(abort(format!("undecodable job payload: {e}")));
                }
            };
            let give_up = |error: String| {
                let handler = handler.clone();
                let queue = queue.clone();
                let task_id = task_id.clone();
                let job = decode();
                async move {
                    tracing::error!(%queue, task = %task_id, attempt = number, max, %error, "job failed for good");
                    if let Ok(job) = job {
                        if let Err(p) = spawn_catching(async move { handler.exhausted(job, error.clone()).await }).await {
                            tracing::error!(%queue, task = %task_id, "exhausted() {p}");
                        }
                    }
                }
            };
            if number > max {
                // Earlier runs died mid-attempt (each orphan re-enqueue counts one attempt), or
                // `max_attempts` was lowered while the job was released.
                let error = format!(
                    "{} attempts already used (max {max}); the last did not complete",
                    number - 1
                );
                give_up(error.clone()).await;
                return Err(abort(error));
            }
            let attempt = Attempt { number, max };
            let handler_run = handler.clone();
            let outcome = spawn_catching(async move { handler_run.run(job, attempt).await })
                .await
                .unwrap_or_else(|p| Err(JobError::Retry(format!("handler {p}"))));
            match outcome {
                Ok(()) => Ok(()),
                Err(JobError::Abort(error)) => {
                    give_up(error.clone()).await;
                    Err(abort(error))
                }
                Err(JobError::Retry(error)) if attempt.is_last() => {
                    give_up(error.clone()).await;
                    Err(abort(error))
                }
                Err(JobError::Retry(error)) => {
                    tracing::warn!(%queue, task = %task_id, attempt = number, max, %error, "job attempt failed; will retry");
                    Err(Box::new(RetryableError(error)) as BoxDynError)
                }
            }
        }
        .boxed()
    }
}

/// Re-calls the inner service (apalis lifecycle + [`HandlerService`]) after a backoff while
/// it fails with [`RetryableError`]. Sits inside the concurrency limit and outside apalis's
/// lifecycle layer.
#[derive(Clone)]
struct RetryLayer {
    opts: WorkerOptions,
    stopping: watch::Receiver<bool>,
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService { inner, opts: self.opts.clone(), stopping: self.stopping.clone() }
    }
}

#[derive(Clone)]
struct RetryService<S> {
    inner: S,
    opts: WorkerOptions,
    stopping: watch::Receiver<bool>,
}

impl<S> Service<Task<Value>> for RetryService<S>
where
    S: Service<Task<Value>, Error = BoxDynError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<S::Response, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, task: Task<Value>) -> Self::Future {
        // Tower: call the instance that was polled ready, keep a fresh clone for later calls.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let opts = self.opts.clone();
        let mut stopping = self.stopping.clone();
        let first = inner.call(task.clone());
        async move {
            let mut result = first.await;
            loop {
                let error = match result {
                    Ok(response) => return Ok(response),
                    Err(e) if e.is::<RetryableError>() => e,
                    Err(e) => return Err(e),
                };
                let number = u32::try_from(task.attempt()).unwrap_or(u32::MAX);
                let delay = opts.backoff(number);
                // Released: apalis records `Failed` with the attempt count, and the job is
                // fetched again (the database attempt cap is never reached).
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopping.wait_for(|s| *s) => return Err(error),
                }
                tokio::select! {
                    ready = futures::future::poll_fn(|cx| inner.poll_ready(cx)) => ready?,
                    _ = stopping.wait_for(|s| *s) => return Err(error),
                }
                result = inner.call(task.clone()).await;
            }
        }
        .boxed()
    }
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

    #[test]
    fn backoff_doubles_and_is_capped() {
        let opts = WorkerOptions {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            ..WorkerOptions::default()
        };
        let within = |d: Duration, lo: u64, hi: u64| d >= Duration::from_millis(lo) && d <= Duration::from_millis(hi);
        assert!(within(opts.backoff(1), 100, 110));
        assert!(within(opts.backoff(2), 200, 220));
        assert!(within(opts.backoff(3), 400, 440));
        assert!(within(opts.backoff(10), 1000, 1000));
        assert!(within(opts.backoff(u32::MAX), 1000, 1000));
    }
}
