//! The jobs the platform runs and what each does. A job re-reads what it needs from the
//! control plane, does its side effects idempotently, and records the outcome as an event.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{
    BackupId, Database, DatabaseCommand, DatabaseError, DatabaseId, DatabaseName, DatabaseSource, DatabaseState,
    OperationId, OperationKind, PlanQuotas, RuleId,
};
use eventstore::incidents::IncidentReport;
use eventstore::{Metadata, Store};
use serde::{Deserialize, Serialize};

use crate::queue::{Attempt, Handler, JobError};
use hostctl::{Hosts, RoleLimits, TenantEngine};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    Provision {
        database_id: DatabaseId,
        operation_id: OperationId,
        /// What to fill the new database with (restore, branch); jobs queued before this
        /// existed decode as empty databases.
        #[serde(default)]
        source: Option<DatabaseSource>,
    },
    Delete {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
    /// Stop, start, restart or password reset (`action` is the operation kind).
    Maintain {
        database_id: DatabaseId,
        operation_id: OperationId,
        action: OperationKind,
    },
    /// Re-render and reload the PgBouncer of the database's host (allowlists, users changed).
    SyncBouncer {
        database_id: DatabaseId,
    },
    /// Record the expiry of a rule with a TTL; queued to run at `expires_at`.
    ExpireRule {
        database_id: DatabaseId,
        rule_id: RuleId,
        expires_at: DateTime<Utc>,
    },
    /// Create a database user's role on the host and add it to PgBouncer's logins.
    CreateUser {
        database_id: DatabaseId,
        name: DatabaseName,
    },
    /// Take a database user off PgBouncer and drop its role.
    RemoveUser {
        database_id: DatabaseId,
        name: DatabaseName,
    },
    Backup {
        backup_id: BackupId,
    },
    /// Removes a deleted backup's object from the store.
    PurgeBackup {
        backup_id: BackupId,
        object_key: String,
    },
    VerifyBackup {
        backup_id: BackupId,
        operation_id: OperationId,
    },
    /// Make the host match the database's lock (locked: pool closed, sessions refused;
    /// unlocked: open again). Queued by `DatabaseLocked` and `DatabaseUnlocked`.
    ApplyLock {
        database_id: DatabaseId,
    },
    /// Move the database from host `from` to host `to` (`crate::moves`).
    Move {
        database_id: DatabaseId,
        operation_id: OperationId,
        from: domain::HostId,
        to: domain::HostId,
    },
    /// After move `operation_id` failed (its job out of attempts, or the stuck-operation
    /// reconciler gave up on it): leave both hosts as the database's place says — the old
    /// pooler open, the copy on the host it is not served from dropped. Queued by the
    /// failure's event, so no failure path can leave a pooler closed.
    SettleMove {
        database_id: DatabaseId,
        operation_id: OperationId,
    },
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Provision { .. } => "provision",
            Job::Delete { .. } => "delete",
            Job::Maintain { action, .. } => action.as_str(),
            Job::SyncBouncer { .. } => "sync_bouncer",
            Job::ExpireRule { .. } => "expire_rule",
            Job::CreateUser { .. } => "create_user",
            Job::RemoveUser { .. } => "remove_user",
            Job::Backup { .. } => "backup",
            Job::PurgeBackup { .. } => "purge_backup",
            Job::VerifyBackup { .. } => "verify_backup",
            Job::ApplyLock { .. } => "apply_lock",
            Job::Move { .. } => "move",
            Job::SettleMove { .. } => "settle_move",
        }
    }

    /// What users are told when this job fails for good: clear and stable, never the raw
    /// error (which can hold the host's address, port, superuser name, a tool's stderr or a
    /// PostgreSQL message). Operators get the raw error in the logs and the incident.
    pub fn user_failure(&self) -> &'static str {
        match self {
            Job::Provision { source: Some(DatabaseSource::Backup { .. }), .. } => {
                "the database could not be restored from the backup; the platform operators have been notified"
            }
            Job::Provision { source: Some(DatabaseSource::Branch { .. }), .. } => {
                "the branch could not be created; the platform operators have been notified"
            }
            Job::Provision { .. } => "the database could not be created; the platform operators have been notified",
            Job::Delete { .. } => "the database could not be deleted; the platform operators have been notified",
            Job::Maintain { action: OperationKind::Stop, .. } => {
                "the database could not be stopped; the platform operators have been notified"
            }
            Job::Maintain { action: OperationKind::Start, .. } => {
                "the database could not be started; the platform operators have been notified"
            }
            Job::Maintain { action: OperationKind::Restart, .. } => {
                "the database could not be restarted; the platform operators have been notified"
            }
            Job::Maintain { action: OperationKind::ResetPassword, .. } => {
                "the password could not be reset; the platform operators have been notified"
            }
            Job::Maintain { .. } => "the operation could not be completed; the platform operators have been notified",
            Job::Backup { .. } => "the backup could not be taken; the platform operators have been notified",
            Job::Move { .. } => {
                "the database could not be moved and stays where it was; the platform operators have been notified"
            }
            Job::VerifyBackup { .. } => "the backup could not be verified; the platform operators have been notified",
            Job::SyncBouncer { .. }
            | Job::ExpireRule { .. }
            | Job::CreateUser { .. }
            | Job::RemoveUser { .. }
            | Job::PurgeBackup { .. }
            | Job::ApplyLock { .. }
            | Job::SettleMove { .. } => "the change could not be applied; the platform operators have been notified",
        }
    }

    /// The database a database job acts on; `None` for backup jobs (they name a backup).
    pub fn database_id(&self) -> Option<DatabaseId> {
        match self {
            Job::Provision { database_id, .. }
            | Job::Delete { database_id, .. }
            | Job::Maintain { database_id, .. }
            | Job::SyncBouncer { database_id }
            | Job::ExpireRule { database_id, .. }
            | Job::CreateUser { database_id, .. }
            | Job::RemoveUser { database_id, .. }
            | Job::ApplyLock { database_id }
            | Job::Move { database_id, .. }
            | Job::SettleMove { database_id, .. } => Some(*database_id),
            Job::Backup { .. } | Job::PurgeBackup { .. } | Job::VerifyBackup { .. } => None,
        }
    }

    /// The database operation the job carries out, for jobs that are one.
    pub fn operation_id(&self) -> Option<OperationId> {
        match self {
            Job::Provision { operation_id, .. }
            | Job::Delete { operation_id, .. }
            | Job::Maintain { operation_id, .. }
            | Job::Move { operation_id, .. } => Some(*operation_id),
            Job::SyncBouncer { .. }
            | Job::ExpireRule { .. }
            | Job::CreateUser { .. }
            | Job::RemoveUser { .. }
            | Job::Backup { .. }
            | Job::PurgeBackup { .. }
            | Job::VerifyBackup { .. }
            | Job::ApplyLock { .. }
            | Job::SettleMove { .. } => None,
        }
    }
}

pub use crate::lanes::JobLimits;
pub use crate::maintenance::steps as maintenance_steps;
pub use crate::steps::{JobStep, DELETE_STEPS, PROVISION_STEPS};

#[derive(Clone)]
pub struct Runner {
    pub store: Store,
    pub hosts: Hosts,
    /// Quotas per plan; a role's `CONNECTION LIMIT` comes from its account's plan.
    pub plans: PlanQuotas,
    /// Object store and client tools for backups, restores and branches; `None` when this
    /// worker is not configured for them (their jobs then abort).
    pub backups: Option<crate::backups::BackupRuntime>,
    /// Deadlines of attempts, and the data lane's fair share of running slots.
    pub limits: JobLimits,
}

fn store_err(e: eventstore::StoreError) -> JobError {
    JobError::retry_from(format!("control plane: {e}"), e)
}

/// Which of the two step lists a database job runs, with what its steps need of the job.
#[derive(Clone, Copy)]
enum Run<'a> {
    Provision { source: &'a Option<DatabaseSource> },
    Delete,
}

/// What a provisioning job reads before its first step: the role's SCRAM verifier and
/// limits, and the password its verification login uses.
struct RoleInputs {
    verifier: String,
    limits: RoleLimits,
    password: String,
}

/// Milliseconds with a fraction, for step timings in the logs.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn system_meta(job: &Job) -> Metadata {
    Metadata { causation_id: job.operation_id().map(|o| o.uuid()), ..Metadata::default() }
}

impl Runner {
    pub fn new(
        store: Store,
        hosts: Hosts,
        plans: PlanQuotas,
        backups: Option<crate::backups::BackupRuntime>,
        limits: JobLimits,
    ) -> Self {
        Self { store, hosts, plans, backups, limits }
    }

    /// The deadline of one attempt of `job`.
    pub fn deadline(&self, job: &Job) -> Duration {
        match job.lane() {
            crate::lanes::Lane::Control => self.limits.control_deadline,
            crate::lanes::Lane::Data => self.limits.data_deadline,
        }
    }

    /// The database a job acts on (a backup job's through its backup).
    async fn database_of(&self, job: &Job) -> Result<Option<eventstore::queries::DatabaseRow>, JobError> {
        let database = match job {
            Job::Backup { backup_id } | Job::VerifyBackup { backup_id, .. } => {
                self.store.backup(*backup_id).await.map_err(store_err)?.database_id
            }
            Job::PurgeBackup { .. } => return Ok(None),
            other => other.database_id().ok_or_else(|| JobError::abort("not a database job"))?,
        };
        Ok(Some(self.store.database(database).await.map_err(store_err)?))
    }

    /// Waits (up to `limits.host_wait`) until the host's PostgreSQL answers, so that an outage that heals (a server restarted by its supervisor)
    /// delays a job instead of using up its attempts and failing it for good. Past the wait
    /// the attempt runs anyway and fails as it must.
    async fn wait_for_host(&self, host: domain::HostId) {
        let deadline = tokio::time::Instant::now() + self.limits.host_wait;
        let mut logged = false;
        loop {
            let probe = async {
                let conn = crate::hosts::engine(&self.hosts, &self.store, host).await?;
                // The server only, not the front door: PgBouncer's console is one connection
                // shared by every task (a probe per job would queue behind syncs), and
                // PgBouncer comes back within a second of a restart.
                conn.ping().await?;
                Ok::<_, crate::hosts::TenantHostError>(())
            };
            match tokio::time::timeout(Duration::from_secs(5), probe).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) if !logged => {
                    tracing::warn!(host = %host, error = %e, "the host does not answer; the job waits for it");
                    logged = true;
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// One attempt of `job` within its deadline; a data-lane job first waits for its account's
    /// share of the lane's running slots (the deadline counts from when it starts running).
    pub async fn run_attempt(&self, job: &Job, attempt: u32) -> Result<(), JobError> {
        // A job whose rows cannot be read runs as before (its steps say why it cannot go on).
        let db = self.database_of(job).await.ok().flatten();
        let _slot = match (job.lane(), &db) {
            (crate::lanes::Lane::Data, Some(db)) => Some(self.limits.fair.acquire(db.account_id.uuid()).await),
            _ => None,
        };
        if let Some(db) = &db {
            self.wait_for_host(db.host_id).await;
        }
        let deadline = self.deadline(job);
        let run = async {
            self.run_steps(job, attempt, None).await?;
            // Poolers that forward a moved database's old connection strings serve its
            // logins, allowlist and state too: whatever the job changed, they follow.
            // (A move renders both of its hosts itself.)
            match job {
                Job::Move { .. } | Job::SettleMove { .. } => Ok(()),
                _ => match job.database_id() {
                    Some(id) => self.sync_forwarders(id).await,
                    None => Ok(()),
                },
            }
        };
        match tokio::time::timeout(deadline, run).await {
            Ok(outcome) => outcome,
            Err(_) => {
                metrics::counter!("berth_job_deadlines_total", "kind" => job.kind()).increment(1);
                Err(JobError::retry(format!(
                    "the attempt did not finish within its deadline ({}s)",
                    deadline.as_secs()
                )))
            }
        }
    }

    /// What the roles of an account's databases may use, from its plan.
    pub async fn role_limits(&self, account: domain::AccountId) -> Result<RoleLimits, JobError> {
        let plan = self.store.account_plan(account).await.map_err(store_err)?;
        Ok(RoleLimits::of(&self.plans.of(plan)))
    }

    pub(crate) async fn command(&self, job: &Job, command: DatabaseCommand) -> Result<bool, JobError> {
        match self
            .store
            .execute::<Database>(
                domain::StreamId::database(job.database_id().ok_or_else(|| JobError::abort("not a database job"))?)
                    .as_str(),
                &command,
                &system_meta(job),
                &[],
            )
            .await
        {
            Ok(Ok(_)) => Ok(true),
            // The operation was already completed (a re-run after the outcome was recorded).
            Ok(Err(DatabaseError::StaleOperation | DatabaseError::WrongState { .. })) => Ok(false),
            Ok(Err(e)) => Err(JobError::abort_from(e.to_string(), e)),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Runs `job`, stopping after step `stop_after` (by index) when given.
    pub async fn run_steps(&self, job: &Job, attempt: u32, stop_after: Option<usize>) -> Result<(), JobError> {
        match job {
            Job::Backup { backup_id } => return self.run_backup(*backup_id, attempt).await,
            Job::PurgeBackup { object_key, .. } => return self.purge_backup(object_key).await,
            Job::VerifyBackup { backup_id, operation_id } => {
                return self.verify_backup(*backup_id, *operation_id).await
            }
            Job::ApplyLock { database_id } => return self.apply_lock(*database_id).await,
            Job::Move { database_id, operation_id, from, to } => {
                return self.run_move(job, (*database_id, *operation_id), (*from, *to), attempt).await
            }
            Job::SettleMove { database_id, operation_id } => {
                return self.settle_move(*database_id, *operation_id).await
            }
            _ => {}
        }
        let Some(operation_id) = job.operation_id() else {
            return self.run_front_door_job(job).await;
        };
        let id = job.database_id().ok_or_else(|| JobError::abort("not a database job"))?;
        let begun = std::time::Instant::now();
        let db = self.store.database(id).await.map_err(store_err)?;
        let wanted = match job {
            Job::Provision { .. } => Some(DatabaseState::Provisioning),
            Job::Delete { .. } => Some(DatabaseState::Deleting),
            _ => None,
        };
        if wanted.is_some_and(|w| db.state != w) || db.operation_id != Some(operation_id) {
            tracing::info!(database = %id, state = %db.state, "nothing to do: operation already finished");
            return Ok(());
        }
        let name = db.name.clone();
        // The attempt is recorded before any side effect; the reads the steps need (host
        // credentials, the role's verifier, connection limit and password) have none, so they
        // run alongside it instead of one after another.
        let role_inputs = async {
            match job {
                Job::Provision { .. } => {
                    let verifier = async { self.store.role_verifier(id).await.map_err(store_err) };
                    let (verifier, limits, password) =
                        tokio::try_join!(verifier, self.role_limits(db.account_id), self.password(id))?;
                    Ok(Some(RoleInputs { verifier, limits, password }))
                }
                _ => Ok(None),
            }
        };
        let (started, conn, role_inputs) = tokio::try_join!(
            self.command(job, DatabaseCommand::StartAttempt { operation_id, attempt }),
            async { Ok::<_, JobError>(crate::hosts::engine(&self.hosts, &self.store, db.host_id).await?) },
            role_inputs,
        )?;
        if !started {
            return Ok(());
        }
        let host: &dyn TenantEngine = &*conn;
        // Loading the row, StartAttempt and the host connection, before the first step.
        tracing::debug!(job = job.kind(), database = %id, step = "start", ms = ms(begun.elapsed()), "job step done");
        let (steps, run) = match job {
            Job::Provision { source, .. } => (PROVISION_STEPS, Run::Provision { source }),
            Job::Delete { .. } => (DELETE_STEPS, Run::Delete),
            Job::Maintain { action, .. } => {
                return self.run_maintenance(job, *action, &db, &name, host, stop_after).await;
            }
            _ => return self.run_front_door_job(job).await,
        };
        // PgBouncer's render reads only the control plane (the pool and the verifier were
        // recorded with the request), so it need not wait for the database: it starts once
        // the role exists and runs while the database is created (the longest step); the
        // "pgbouncer" step waits for it. Started any earlier, it competes with the role step
        // for the machine and slows it down. A pool whose database does not exist yet only
        // fails logins, and any other database's sync on this host renders the pool just as
        // early. If this run ends first (a failed step), the sync still runs to its end, like
        // any other sync under the host lock: aborting it could leave a half-written config
        // file behind a later sync's RELOAD.
        let mut early_sync = None;
        for (i, step) in steps.iter().enumerate() {
            let started = std::time::Instant::now();
            match (run, *step) {
                (Run::Provision { source }, JobStep::Role) => {
                    let inputs = role_inputs.as_ref().ok_or_else(|| JobError::abort("no role inputs"))?;
                    host.create_owner(id, &name, &inputs.verifier, inputs.limits).await?;
                    // A restore or branch keeps its pool unrendered until it is filled (by
                    // this job), in the "pgbouncer" step.
                    if source.is_none() {
                        let (host, store, plans) = (conn.clone(), self.store.clone(), self.plans.clone());
                        early_sync = Some(tokio::spawn(async move {
                            let started = std::time::Instant::now();
                            crate::hosts::sync_bouncer(&store, &plans, &*host).await.map(|()| started.elapsed())
                        }));
                    }
                }
                (Run::Provision { .. }, JobStep::Database) => host.create_database(&name).await?,
                (Run::Provision { .. }, JobStep::Restrict) => host.restrict_database(&name).await?,
                (Run::Provision { source: Some(source) }, JobStep::Populate) => {
                    self.populate(host, id, &name, source).await?
                }
                (Run::Provision { source: None }, JobStep::Populate) => {}
                (Run::Provision { source: None }, JobStep::Pgbouncer) => match early_sync.take() {
                    Some(sync) => {
                        let took =
                            sync.await.map_err(|e| JobError::retry_from(format!("pgbouncer sync: {e}"), e))??;
                        tracing::debug!(database = %id, ms = ms(took), "pgbouncer sync (run alongside) took");
                    }
                    None => crate::hosts::sync_bouncer(&self.store, &self.plans, host).await?,
                },
                (Run::Provision { source: Some(_) }, JobStep::Pgbouncer) => {
                    crate::hosts::sync_bouncer(&self.store, &self.plans, host).await?
                }
                (Run::Delete, JobStep::Pgbouncer) => {
                    host.disconnect_clients(&name).await?;
                    crate::hosts::sync_bouncer(&self.store, &self.plans, host).await?
                }
                (Run::Provision { .. }, JobStep::Verify) => {
                    let inputs = role_inputs.as_ref().ok_or_else(|| JobError::abort("no role inputs"))?;
                    host.verify_login(&name, inputs.password.clone()).await?
                }
                (Run::Provision { .. }, JobStep::Record) => {
                    self.command(job, DatabaseCommand::MarkProvisioned { operation_id }).await?;
                }
                (Run::Delete, JobStep::Drop) => host.drop_database(id, &name).await?,
                (Run::Delete, JobStep::Secrets) => self.store.forget_database_secrets(id).await.map_err(store_err)?,
                (Run::Delete, JobStep::Record) => {
                    self.command(job, DatabaseCommand::MarkDeleted { operation_id }).await?;
                }
                (Run::Provision { .. }, other @ (JobStep::Postgres | JobStep::Drop | JobStep::Secrets))
                | (
                    Run::Delete,
                    other @ (JobStep::Role
                    | JobStep::Database
                    | JobStep::Restrict
                    | JobStep::Populate
                    | JobStep::Postgres
                    | JobStep::Verify),
                ) => return Err(JobError::abort(format!("unknown step {other}"))),
            }
            let took = started.elapsed();
            metrics::histogram!("berth_job_step_seconds", "kind" => job.kind(), "step" => step.as_str())
                .record(took.as_secs_f64());
            tracing::debug!(job = job.kind(), database = %id, step = step.as_str(), ms = ms(took), "job step done");
            if stop_after == Some(i) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Drops what a failed provisioning made on its host (only what carries its marker) and
    /// renders PgBouncer without its pool (failed databases have none).
    async fn remove_failed(&self, id: DatabaseId) -> Result<(), JobError> {
        let db = self.store.database(id).await.map_err(store_err)?;
        let name = db.name.clone();
        let conn = crate::hosts::engine(&self.hosts, &self.store, db.host_id).await?;
        let host: &dyn TenantEngine = &*conn;
        host.disconnect_clients(&name).await?;
        crate::hosts::sync_bouncer(&self.store, &self.plans, host).await?;
        host.drop_database(id, &name).await?;
        Ok(())
    }

    /// The database role's password, from the vault.
    pub(crate) async fn password(&self, id: DatabaseId) -> Result<String, JobError> {
        let secret = domain::password_secret_id(id);
        let password = self.store.get_secret(&secret).await.map_err(|e| JobError::abort_from(e.to_string(), e))?;
        // No source: the UTF-8 error carries the password's bytes.
        String::from_utf8(password).map_err(|_| JobError::abort("password is not text"))
    }
}

#[async_trait::async_trait]
impl Handler<Job> for Runner {
    async fn run(&self, job: Job, attempt: Attempt) -> Result<(), JobError> {
        let started = std::time::Instant::now();
        let result = self.run_attempt(&job, attempt.number).await;
        let outcome = match &result {
            Ok(()) => "succeeded",
            Err(JobError::Retry(_)) => "retry",
            Err(JobError::Abort(_)) => "aborted",
        };
        if let Err(e) = &result {
            tracing::warn!(job = job.kind(), attempt = attempt.number, error = %e, "job attempt failed");
        }
        metrics::counter!("berth_jobs_total", "kind" => job.kind(), "outcome" => outcome).increment(1);
        metrics::histogram!("berth_job_seconds", "kind" => job.kind()).record(started.elapsed().as_secs_f64());
        result
    }

    /// A job out of attempts. `error` is the raw cause: it goes to the log and the incident
    /// (operators); what is recorded for users (operations, backups, verification details)
    /// is [`Job::user_failure`].
    async fn exhausted(&self, job: Job, error: String) {
        let shown = job.user_failure();
        match &job {
            Job::Backup { backup_id } => return self.backup_exhausted(*backup_id, shown, &error).await,
            Job::PurgeBackup { object_key, .. } => {
                return tracing::error!(key = %object_key, error = %error, "could not remove a deleted backup's object")
            }
            Job::VerifyBackup { backup_id, operation_id } => {
                tracing::error!(backup = %backup_id, error = %error, "backup verification failed for good");
                self.drop_verification_scratch(*backup_id).await;
                let details = serde_json::json!({ "tables": 0, "problems": [shown] });
                let command =
                    domain::BackupCommand::RecordVerification { operation_id: Some(*operation_id), ok: false, details };
                if let Err(e) = self.backup_command(*backup_id, command).await {
                    tracing::error!(error = %e, "could not record the failed verification");
                }
                return;
            }
            _ => {}
        }
        let Some(id) = job.database_id() else { return };
        tracing::error!(job = job.kind(), database = %id, error = %error, "job failed for good");
        if let Some(operation_id) = job.operation_id() {
            let failed = DatabaseCommand::MarkFailed { operation_id, error: shown.to_owned() };
            if let Err(e) = self.command(&job, failed).await {
                tracing::error!(error = %e, "could not record the failure");
            }
        }
        // A failed provisioning (create, restore or branch) leaves nothing on the host: its
        // role, database and pool go. If that fails too, the incident says so, and deleting
        // the failed database (its Delete job retries) removes them.
        // (A failed move's hosts are settled by the job its failure's event queues.)
        let mut error = error;
        if let Job::Provision { .. } = job {
            if let Err(e) = self.remove_failed(id).await {
                tracing::error!(database = %id, error = %e, "could not remove a failed provisioning's leftovers");
                error = format!("{error}; its leftovers on the host could not be removed yet: {e}");
            }
        }
        let kind = match job {
            Job::Provision { .. } => "provisioning_failed",
            Job::SyncBouncer { .. } | Job::ExpireRule { .. } | Job::CreateUser { .. } | Job::RemoveUser { .. } => {
                "access_sync_failed"
            }
            Job::Delete { .. }
            | Job::Maintain { .. }
            | Job::Move { .. }
            | Job::SettleMove { .. }
            | Job::Backup { .. }
            | Job::PurgeBackup { .. }
            | Job::VerifyBackup { .. } => "job_failed",
            Job::ApplyLock { .. } => "quota_lock_failed",
        };
        let resource = id.to_string();
        let summary = format!("{} of database {resource} failed: {error}", job.kind());
        let report = IncidentReport {
            kind,
            severity: "error",
            resource_type: "database",
            resource_id: &resource,
            summary: &summary,
        };
        if let Err(e) = self.store.report_incident(&report).await {
            tracing::error!(error = %e, "could not open an incident");
        }
    }
}
