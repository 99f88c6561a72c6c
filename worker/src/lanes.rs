//! Two queues, so that no tenant's data can hold up anyone's control-plane work.
//!
//! Jobs that run inside a tenant's database for as long as its data takes — backups,
//! verifications, restores and branches — go to the **data** lane; everything else (creating
//! and deleting databases, lifecycle, PgBouncer syncs, users, locks) goes to the **control**
//! lane, which they can never fill: four backups of a hostile tenant stalled on its own locks
//! once kept another account's new database `provisioning` for as long as they waited. Inside
//! the data lane, [`crate::fair::FairGate`] gives each account at most its share of the
//! running slots, and each attempt has a deadline.
//!
//! Jobs pushed before the lanes existed sit in the control queue under its old name; its
//! workers run every kind of job, so they still run.

use std::time::Duration;

use crate::jobs::Job;
use crate::queue::{PushedJob, Queue};

/// The control lane's queue name (the one queue of earlier versions).
pub const CONTROL: &str = "berth-jobs";
/// The data lane's queue name.
pub const DATA: &str = "berth-data";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Control,
    Data,
}

impl Job {
    /// Which lane the job runs in.
    pub fn lane(&self) -> Lane {
        match self {
            Job::Backup { .. }
            | Job::VerifyBackup { .. }
            | Job::Provision { source: Some(_), .. }
            | Job::Move { .. }
            | Job::SettleMove { .. } => Lane::Data,
            _ => Lane::Control,
        }
    }
}

/// Both queues, each job pushed to its lane's.
#[derive(Debug, Clone)]
pub struct Lanes {
    pub control: Queue<Job>,
    pub data: Queue<Job>,
}

impl Lanes {
    pub async fn connect(database_url: &str) -> anyhow::Result<Self> {
        Self::connect_named(database_url, CONTROL, DATA).await
    }

    /// Lanes under other queue names (tests that must not share the platform's queues).
    pub async fn connect_named(database_url: &str, control: &str, data: &str) -> anyhow::Result<Self> {
        let (control, data) =
            tokio::try_join!(Queue::connect(database_url, control), Queue::connect(database_url, data))?;
        Ok(Self { control, data })
    }

    fn of(&self, job: &Job) -> &Queue<Job> {
        match job.lane() {
            Lane::Control => &self.control,
            Lane::Data => &self.data,
        }
    }

    /// [`Queue::push`] onto the job's lane.
    pub async fn push(&self, key: uuid::Uuid, job: Job) -> anyhow::Result<()> {
        self.of(&job).push(key, job).await
    }

    /// [`Queue::push_at`] onto the job's lane.
    pub async fn push_at(
        &self,
        key: uuid::Uuid,
        job: Job,
        run_at: Option<std::time::SystemTime>,
    ) -> anyhow::Result<()> {
        self.of(&job).push_at(key, job, run_at).await
    }

    /// The jobs pushed under any of `keys`, in either lane.
    pub async fn jobs_by_key(&self, keys: &[uuid::Uuid]) -> anyhow::Result<Vec<PushedJob>> {
        let (mut control, data) = tokio::try_join!(self.control.jobs_by_key(keys), self.data.jobs_by_key(keys))?;
        control.extend(data);
        Ok(control)
    }

    pub fn all(&self) -> [&Queue<Job>; 2] {
        [&self.control, &self.data]
    }
}

/// How long an attempt may run, and how the data lane's running slots are shared (see
/// this module and `fair`).
#[derive(Clone)]
pub struct JobLimits {
    /// An attempt of a control-lane job (DDL on roles and databases, PgBouncer).
    pub control_deadline: Duration,
    /// An attempt of a data-lane job (backup, verification, restore, branch): it is cancelled
    /// when this passes — its child processes killed, its sessions closed (the server stops
    /// their statements within a second) — and counts as a failed attempt.
    pub data_deadline: Duration,
    pub fair: std::sync::Arc<crate::fair::FairGate>,
    /// How long an attempt waits for its host to answer before it runs anyway (an outage
    /// that heals delays jobs instead of failing them for good).
    pub host_wait: Duration,
}

impl JobLimits {
    pub fn new(control_deadline: Duration, data_deadline: Duration, data_running: usize, per_account: usize) -> Self {
        Self {
            control_deadline,
            data_deadline,
            fair: crate::fair::FairGate::new(data_running, per_account),
            host_wait: Duration::from_secs(120),
        }
    }
}

impl Default for JobLimits {
    fn default() -> Self {
        Self::new(Duration::from_secs(300), Duration::from_secs(3600), 4, 1)
    }
}
