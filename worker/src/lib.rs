//! Background work: the dispatcher that turns events into jobs, the jobs themselves (which act on
//! tenant hosts through `hostctl`). apalis stays inside `queue`.

pub mod allowlists;
pub mod backups;
pub mod dispatch;
pub mod drift;
pub mod fair;
pub mod hosts;
pub mod jobs;
pub mod lanes;
pub mod lock_table;
mod maintenance;
mod moves;
pub mod observe;
pub mod queue;
pub mod quota;
pub mod scheduler;
mod steps;
pub mod stuck;
pub mod supervise;
pub mod usage;
mod users;
pub mod watchdog;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventstore::consumer::ConsumerOptions;
use eventstore::Store;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use jobs::{Job, JobLimits, Runner};
pub use lanes::Lanes;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// URL form of the control-plane DSN (apalis uses sqlx).
    pub database_url: String,
    /// Control-lane jobs run at once by this worker. They mostly wait — for the host's
    /// PgBouncer sync turn, its admin console, its few superuser connections — so a slot costs
    /// little; with 4, PgBouncer syncs of a burst of allowlist changes held every slot while
    /// creates and lifecycle operations of other databases queued behind them.
    pub concurrency: usize,
    /// Data-lane jobs (backups, verifications, restores, branches) running at once, and at
    /// most this many of one account's (see `fair`).
    pub data_running: usize,
    pub data_per_account: usize,
    /// Data-lane jobs this worker takes from the queue at once, running or waiting for their
    /// account's share: waiting costs nothing but a row and a task.
    pub data_taken: usize,
    /// Deadlines of one attempt of a control-lane and of a data-lane job.
    pub control_deadline: Duration,
    pub data_deadline: Duration,
    /// How long a job waits for an unreachable host before its attempt runs anyway.
    pub host_wait: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Quotas per plan (connection limit of tenant roles).
    pub plans: domain::PlanQuotas,
    /// How often the storage of tenant databases is measured (and storage quotas enforced:
    /// databases of an account over its quota are locked, and unlocked once it is under).
    pub usage_interval: Duration,
    /// How often each tenant database's statistics are sampled for its history, and how long
    /// the samples are kept.
    pub metrics_interval: Duration,
    pub metrics_retention: Duration,
    /// Run the event dispatcher and the audit consumer in this process (each is a
    /// fleet-wide singleton anyway).
    pub dispatcher: bool,
    /// How often the watchdog probes tenant hosts and refreshes gauges.
    pub watchdog_interval: Duration,
    /// How often the lock watchdog reads each host's lock table and terminates the sessions
    /// of a database over its share (see `lock_table`); zero turns it off.
    pub lock_table_interval: Duration,
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
            concurrency: 16,
            data_running: 4,
            data_per_account: 1,
            data_taken: 64,
            control_deadline: Duration::from_secs(300),
            data_deadline: Duration::from_secs(3600),
            host_wait: Duration::from_secs(120),
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            plans: domain::PlanQuotas::default(),
            usage_interval: Duration::from_secs(60),
            metrics_interval: Duration::from_secs(60),
            // A full day to chart, and the minute before it to take the first rate from.
            metrics_retention: Duration::from_secs(25 * 3600),
            dispatcher: true,
            watchdog_interval: Duration::from_secs(15),
            lock_table_interval: Duration::from_secs(5),
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

/// What the background loops run with; each (re)start of a loop gets a clone.
#[derive(Clone)]
struct Loops {
    store: Store,
    queue: Lanes,
    hosts: hostctl::Hosts,
    plans: domain::PlanQuotas,
    shutdown: watch::Receiver<bool>,
}

/// Runs a background loop under a supervisor (see `supervise`): one loop's panic never ends
/// the others.
fn spawn_loop<F, Fut>(tasks: &mut JoinSet<anyhow::Result<()>>, name: &'static str, ctx: &Loops, make: F)
where
    F: Fn(Loops) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (store, shutdown, ctx) = (ctx.store.clone(), ctx.shutdown.clone(), ctx.clone());
    tasks.spawn(supervise::supervised(name, store, shutdown, move || make(ctx.clone())));
}

/// Renders and reloads every host's PgBouncer from the store once, retrying each host every
/// two seconds until it answers (or shutdown).
async fn resync_hosts(
    store: Store,
    hosts: hostctl::Hosts,
    plans: domain::PlanQuotas,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let rows = loop {
        match store.hosts().await {
            Ok(rows) => break rows,
            Err(e) => tracing::warn!(error = %e, "cannot list hosts to re-render PgBouncer"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
        }
    };
    // Each host on its own (one that does not answer must not hold up the others), for ten
    // minutes at most: past that the orphan reconciler finds the stale files and reports them.
    let one = |row: domain::TenantHost| {
        let (store, hosts, plans, mut shutdown) = (store.clone(), hosts.clone(), plans.clone(), shutdown.clone());
        async move {
            let give_up = tokio::time::Instant::now() + Duration::from_secs(600);
            loop {
                let synced = async {
                    if row.engine == domain::Engine::Postgres {
                        let conn = crate::hosts::open(&hosts, &store, row.id).await?;
                        // A host prepared by an older Berth (see `hostctl::observe`).
                        if let Err(e) = conn.allow_untracked_sessions().await {
                            // PgBouncer is rendered regardless: a host that cannot grant it
                            // (before PostgreSQL 15) must not stay cut off; its platform
                            // sessions will say why.
                            tracing::warn!(host = %row.name, error = %e, "cannot let tenant roles set pg_stat_statements.track");
                        }
                    }
                    let conn = crate::hosts::engine(&hosts, &store, row.id).await?;
                    crate::hosts::sync_bouncer(&store, &plans, &*conn).await
                };
                match synced.await {
                    Ok(()) => return tracing::info!(host = %row.name, "PgBouncer rendered from the store at start"),
                    Err(e) => tracing::warn!(host = %row.name, error = %e, "re-rendering PgBouncer at start failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(give_up) => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        }
    };
    futures::future::join_all(rows.into_iter().map(one)).await;
    Ok(())
}

/// The control lane's queue (see `lanes`).
pub const QUEUE: &str = lanes::CONTROL;

/// Runs the dispatcher and the job workers until `shutdown` turns true.
pub async fn run(store: Store, config: WorkerConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let queue = Lanes::connect(&config.database_url).await?;
    let hosts = hostctl::Hosts::default();
    let backups = config.backups.as_ref().map(backups::BackupRuntime::new).transpose()?;
    if let Some(store) = &config.backups {
        match store.remove_stale_tmp(config.stale_tmp_grace) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed temporary files of unfinished backup writes"),
            Err(e) => tracing::warn!(error = %e, "could not remove stale temporary backup files"),
        }
    }
    let limits = JobLimits {
        host_wait: config.host_wait,
        ..JobLimits::new(config.control_deadline, config.data_deadline, config.data_running, config.data_per_account)
    };
    let runner = Arc::new(Runner::new(store.clone(), hosts.clone(), config.plans.clone(), backups, limits));
    let mut tasks = JoinSet::new();
    let ctx = Loops {
        store: store.clone(),
        queue: queue.clone(),
        hosts: hosts.clone(),
        plans: config.plans.clone(),
        shutdown: shutdown.clone(),
    };
    // What each host's PgBouncer serves is rendered again from the store at every start: a
    // host set up by an older Berth may route pools or check logins in a way this one does
    // not (once: pools over TCP that the new pg_hba.conf refused, every tenant cut off until
    // the next create happened to re-render). Retried until it succeeds or the worker stops.
    tasks.spawn(resync_hosts(store.clone(), hosts.clone(), config.plans.clone(), shutdown.clone()));
    if config.scheduler && config.backups.is_some() {
        let schedule = config.schedule.clone();
        spawn_loop(&mut tasks, "scheduler", &ctx, move |c| {
            scheduler::Scheduler { store: c.store, schedule: schedule.clone() }.run(c.shutdown)
        });
    }
    if config.dispatcher {
        spawn_loop(&mut tasks, "audit", &ctx, |c| async move {
            let handler = eventstore::audit::consumer(c.store.clone());
            c.store.run_consumer(eventstore::audit::CONSUMER, handler, ConsumerOptions::default(), c.shutdown).await;
        });
        let stuck_options = config.stuck;
        spawn_loop(&mut tasks, "stuck", &ctx, move |c| stuck::run(c.store, c.queue, stuck_options, c.shutdown));
        // Off when its interval is 0.
        if !config.drift.interval.is_zero() {
            let objects = config.backups.as_ref().map(|b| b.operator()).transpose()?;
            let options = config.drift;
            spawn_loop(&mut tasks, "drift", &ctx, move |c| {
                let reconciler = drift::Reconciler::new(c.store, c.hosts, c.plans, objects.clone(), options.grace);
                drift::run(reconciler, options.interval, c.shutdown)
            });
        }
        // With the dispatcher: one sampler in the fleet, so each interval has one sample.
        let (every, keep) = (config.metrics_interval, config.metrics_retention);
        spawn_loop(&mut tasks, "observe", &ctx, move |c| observe::run(c.store, c.hosts, every, keep, c.shutdown));
        spawn_loop(&mut tasks, "dispatcher", &ctx, |c| async move {
            let handler = dispatch::dispatcher(c.queue);
            c.store.run_consumer(dispatch::CONSUMER, handler, ConsumerOptions::default(), c.shutdown).await;
        });
    }
    let every = config.usage_interval;
    spawn_loop(&mut tasks, "usage", &ctx, move |c| usage::run(c.store, c.hosts, c.plans, every, c.shutdown));
    let interval = config.watchdog_interval;
    spawn_loop(&mut tasks, "watchdog", &ctx, move |c| {
        watchdog::run(c.store, Default::default(), c.queue, interval, c.shutdown)
    });
    if !config.lock_table_interval.is_zero() {
        let every = config.lock_table_interval;
        // "locks": the loop's name in metrics and incidents, older than the module's.
        spawn_loop(&mut tasks, "locks", &ctx, move |c| lock_table::run(c.store, c.hosts, c.plans, every, c.shutdown));
    }
    let every = config.sweep_interval;
    spawn_loop(&mut tasks, "sweeper", &ctx, move |c| allowlists::run_sweeper(c.store, every, c.shutdown));
    let opts = queue::WorkerOptions {
        concurrency: config.concurrency,
        max_attempts: config.max_attempts,
        backoff_base: config.backoff_base,
        backoff_max: config.backoff_max,
        ..queue::WorkerOptions::default()
    };
    let data_opts = queue::WorkerOptions { concurrency: config.data_taken.max(1), ..opts.clone() };
    for (lane, opts) in [(queue.control.clone(), opts), (queue.data.clone(), data_opts)] {
        let mut stop = shutdown.clone();
        tasks.spawn(queue::run_worker(lane, runner.clone(), opts, async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
