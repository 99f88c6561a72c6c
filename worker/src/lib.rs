//! Background work: the dispatcher that turns events into jobs, the jobs themselves (which act on
//! tenant hosts through `hostctl`). apalis stays inside `queue`.

pub mod backups;
pub mod dispatch;
pub mod jobs;
pub mod queue;
pub mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use eventstore::consumer::ConsumerOptions;
use eventstore::Store;
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
    /// `CONNECTION LIMIT` of tenant roles (plans refine it).
    pub connection_limit: i32,
    /// Run the event dispatcher in this process (it is a fleet-wide singleton anyway).
    pub dispatcher: bool,
    /// Where backups go; `None`: this worker takes no backups (their jobs abort).
    pub backups: Option<hostctl::objects::ObjectStoreConfig>,
    pub schedule: scheduler::BackupSchedule,
    /// Run the backup scheduler (request daily backups, retention, stale watchdog) here.
    pub scheduler: bool,
}

impl WorkerConfig {
    pub fn new(database_url: String) -> Self {
        Self {
            database_url,
            concurrency: 4,
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            connection_limit: 20,
            dispatcher: true,
            backups: None,
            schedule: scheduler::BackupSchedule::default(),
            scheduler: true,
        }
    }
}

pub const QUEUE: &str = "berth-jobs";

/// Runs the dispatcher and the job workers until `shutdown` turns true.
pub async fn run(store: Store, config: WorkerConfig, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let queue = queue::Queue::<Job>::connect(&config.database_url, QUEUE).await?;
    let backups = config.backups.as_ref().map(backups::BackupRuntime::new).transpose()?;
    let runner = Arc::new(Runner {
        store: store.clone(),
        hosts: Default::default(),
        connection_limit: config.connection_limit,
        backups,
    });
    let mut tasks = tokio::task::JoinSet::new();
    if config.scheduler && config.backups.is_some() {
        let scheduler = scheduler::Scheduler { store: store.clone(), schedule: config.schedule.clone() };
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            scheduler.run(shutdown).await;
            Ok(())
        });
    }
    if config.dispatcher {
        let (store, queue, shutdown) = (store.clone(), queue.clone(), shutdown.clone());
        tasks.spawn(async move {
            store
                .run_consumer(dispatch::CONSUMER, dispatch::dispatcher(queue), ConsumerOptions::default(), shutdown)
                .await;
            Ok(())
        });
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
