//! Background work: the dispatcher that turns events into jobs, the jobs themselves (which act on
//! tenant hosts through `hostctl`). apalis stays inside `queue`.

pub mod access;
pub mod backups;
pub mod dispatch;
pub mod drift;
pub mod jobs;
mod maintenance;
pub mod queue;
pub mod quota;
pub mod scheduler;
pub mod stuck;
pub mod supervise;
pub mod usage;
mod users;
pub mod watchdog;

use std::sync::Arc;
use std::time::Duration;

use eventstore::consumer::ConsumerOptions;
use eventstore::Store;
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::watch;

pub use jobs::{Job, Runner};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// URL form of the control-plane DSN (apalis uses sqlx).
    pub database_url: String,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Quotas per plan (connection limit of tenant roles).
    pub plans: domain::PlanQuotas,
    /// How often the storage of tenant databases is measured (and storage quotas enforced:
    /// databases of an account over its quota are locked, and unlocked once it is under).
    pub usage_interval: Duration,
    /// Run the event dispatcher in this process (it is a fleet-wide singleton anyway).
    /// Run the event dispatcher and the audit consumer in this process (each is a
    /// fleet-wide singleton anyway).
    pub dispatcher: bool,
    /// How often the watchdog probes tenant hosts and refreshes gauges.
    pub watchdog_interval: Duration,
    /// How often the sweeper looks for allowlist rules whose expiry job did not run.
    pub sweep_interval: Duration,
    /// Where backups go; `None`: this worker takes no backups (their jobs abort).
    pub backups: Option<hostctl::objects::ObjectStoreConfig>,
    /// At start, temporary files of unfinished backup writes (a filesystem store's `.tmp/`)
    /// at least this old are removed: left by killed attempts. Younger ones may belong to
    /// another worker process sharing the store; `berth up`, which owns its store, uses 0.
    pub stale_tmp_grace: Duration,
    pub schedule: scheduler::BackupSchedule,
    /// Run the backup scheduler (request daily backups, retention, stale watchdog) here.
    pub scheduler: bool,
    /// How often, and after how long, operations left unfinished with no job are settled
    /// (with the dispatcher).
    pub stuck: stuck::StuckOptions,
    /// How often, and after how long a grace, the orphan reconciler compares the hosts and
    /// the backup store with the control plane (with the dispatcher).
    pub drift: drift::DriftOptions,
}

impl WorkerConfig {
    pub fn new(database_url: String) -> Self {
        Self {
            database_url,
            concurrency: 4,
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            plans: domain::PlanQuotas::default(),
            usage_interval: Duration::from_secs(60),
            dispatcher: true,
            watchdog_interval: Duration::from_secs(15),
            sweep_interval: Duration::from_secs(30),
            backups: None,
            stale_tmp_grace: Duration::from_secs(3600),
            schedule: scheduler::BackupSchedule::default(),
            scheduler: true,
            stuck: stuck::StuckOptions::default(),
            drift: drift::DriftOptions::default(),
        }
    }
}

/// Makes a background loop's future, once per (re)start.
type LoopMaker = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

pub const QUEUE: &str = "berth-jobs";

/// Runs the dispatcher and the job workers until `shutdown` turns true.
pub async fn run(store: Store, config: WorkerConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let queue = queue::Queue::<Job>::connect(&config.database_url, QUEUE).await?;
    let hosts = hostctl::Hosts::default();
    let backups = config.backups.as_ref().map(backups::BackupRuntime::new).transpose()?;
    if let Some(store) = &config.backups {
        match store.remove_stale_tmp(config.stale_tmp_grace) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed temporary files of unfinished backup writes"),
            Err(e) => tracing::warn!(error = %e, "could not remove stale temporary backup files"),
        }
    }
    let runner = Arc::new(Runner { store: store.clone(), hosts: hosts.clone(), plans: config.plans.clone(), backups });
    let mut tasks = tokio::task::JoinSet::new();
    // Each loop under a supervisor (see `supervise`): one loop's panic never ends the others.
    let mut spawn = |name: &'static str, make: LoopMaker| {
        let (store, shutdown) = (store.clone(), shutdown.clone());
        tasks.spawn(supervise::supervised(name, store, shutdown, move || {
            let fut = make();
            async move {
                fut.await;
                Ok(())
            }
        }));
    };
    if config.scheduler && config.backups.is_some() {
        let (store, schedule, shutdown) = (store.clone(), config.schedule.clone(), shutdown.clone());
        spawn(
            "scheduler",
            Box::new(move || {
                let scheduler = scheduler::Scheduler { store: store.clone(), schedule: schedule.clone() };
                scheduler.run(shutdown.clone()).boxed()
            }),
        );
    }
    if config.dispatcher {
        let (audit_store, audit_shutdown) = (store.clone(), shutdown.clone());
        spawn(
            "audit",
            Box::new(move || {
                let (store, shutdown) = (audit_store.clone(), audit_shutdown.clone());
                async move {
                    let handler = eventstore::audit::consumer(store.clone());
                    store
                        .run_consumer(eventstore::audit::CONSUMER, handler, ConsumerOptions::default(), shutdown)
                        .await;
                }
                .boxed()
            }),
        );
        let (stuck_store, stuck_queue, stuck_shutdown) = (store.clone(), queue.clone(), shutdown.clone());
        let stuck_options = config.stuck;
        spawn(
            "stuck",
            Box::new(move || {
                stuck::run(stuck_store.clone(), stuck_queue.clone(), stuck_options, stuck_shutdown.clone()).boxed()
            }),
        );
        // Off when its interval is 0.
        if !config.drift.interval.is_zero() {
            let objects = config.backups.as_ref().map(|b| b.operator()).transpose()?;
            let (drift_store, drift_hosts, plans) = (store.clone(), hosts.clone(), config.plans.clone());
            let (options, drift_shutdown) = (config.drift, shutdown.clone());
            spawn(
                "drift",
                Box::new(move || {
                    let reconciler = drift::Reconciler::new(
                        drift_store.clone(),
                        drift_hosts.clone(),
                        plans.clone(),
                        objects.clone(),
                        options.grace,
                    );
                    drift::run(reconciler, options.interval, drift_shutdown.clone()).boxed()
                }),
            );
        }
        let (dispatch_store, dispatch_queue, dispatch_shutdown) = (store.clone(), queue.clone(), shutdown.clone());
        spawn(
            "dispatcher",
            Box::new(move || {
                let (store, queue, shutdown) =
                    (dispatch_store.clone(), dispatch_queue.clone(), dispatch_shutdown.clone());
                async move {
                    let handler = dispatch::dispatcher(queue);
                    store.run_consumer(dispatch::CONSUMER, handler, ConsumerOptions::default(), shutdown).await;
                }
                .boxed()
            }),
        );
    }
    {
        let (usage_store, usage_hosts, every, usage_shutdown) =
            (store.clone(), hosts.clone(), config.usage_interval, shutdown.clone());
        let plans = config.plans.clone();
        spawn(
            "usage",
            Box::new(move || {
                usage::run(usage_store.clone(), usage_hosts.clone(), plans.clone(), every, usage_shutdown.clone())
                    .boxed()
            }),
        );
    }
    {
        let (watch_store, watch_queue, watch_shutdown) = (store.clone(), queue.clone(), shutdown.clone());
        let interval = config.watchdog_interval;
        spawn(
            "watchdog",
            Box::new(move || {
                let (store, queue, shutdown) = (watch_store.clone(), watch_queue.clone(), watch_shutdown.clone());
                async move { watchdog::run(store, Default::default(), queue, interval, shutdown).await }.boxed()
            }),
        );
    }
    {
        let (sweep_store, every, sweep_shutdown) = (store.clone(), config.sweep_interval, shutdown.clone());
        spawn(
            "sweeper",
            Box::new(move || access::run_sweeper(sweep_store.clone(), every, sweep_shutdown.clone()).boxed()),
        );
    }
    let opts = queue::WorkerOptions {
        concurrency: config.concurrency,
        max_attempts: config.max_attempts,
        backoff_base: config.backoff_base,
        backoff_max: config.backoff_max,
        ..queue::WorkerOptions::default()
    };
    let mut stop = shutdown.clone();
    tasks.spawn(queue::run_worker(queue, runner, opts, async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
