//! Running apalis workers over a [`Queue`]: unique names, restarts after backend errors,
//! graceful draining with our own heartbeats (see the module docs of `queue`).

use std::{
    future::Future,
    marker::PhantomData,
    sync::Arc,
    time::{Duration, Instant},
};

use apalis::prelude::{BackendExt, Event, WorkerBuilder, WorkerBuilderExt, WorkerContext};
use apalis_postgres::PostgresStorage;
use futures::StreamExt;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use sqlx::postgres::PgPool;
use tokio::sync::watch;

use super::service::{HandlerService, RetryLayer};
use super::{apalis_config, Handler, Queue, HEARTBEAT_INTERVAL, ORPHAN_TIMEOUT};
use crate::supervise::AbortOnDrop;

/// How long a worker stopped by a backend error waits for its in-flight jobs.
const BACKEND_ERROR_DRAIN: Duration = Duration::from_secs(20);
/// Backend-failure restart backoff.
const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(30);

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
    pub(super) fn backoff(&self, number: u32) -> Duration {
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

#[cfg(test)]
mod tests {
    use super::*;

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
