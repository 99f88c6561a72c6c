//! Maintenance jobs on a live database: stop, start, restart, password reset. Each step
//! checks before it acts (see `hostctl::lifecycle`), so a re-run converges.

use domain::{DatabaseCommand, DatabaseName, DatabaseState, OperationKind};
use eventstore::queries::DatabaseRow;
use hostctl::{LifecycleStep, TenantEngine};

use crate::jobs::{Job, JobStep, Runner};
use crate::queue::JobError;

/// The steps of each maintenance operation, in order.
pub fn steps(kind: OperationKind) -> &'static [JobStep] {
    use JobStep::{Pgbouncer, Postgres, Record, Role, Verify};
    match kind {
        // PgBouncer first: no new client gets in while PostgreSQL closes the door behind it.
        OperationKind::Stop => &[Pgbouncer, Postgres, Record],
        OperationKind::Start => &[Postgres, Pgbouncer, Record],
        OperationKind::Restart => &[Pgbouncer, Postgres, Record],
        // The role first, then PgBouncer's auth_file: until both agree the new password
        // cannot work, so the API only answers once `verify` logged in with it.
        OperationKind::ResetPassword => &[Role, Pgbouncer, Verify, Record],
        OperationKind::Provision
        | OperationKind::Delete
        | OperationKind::Backup
        | OperationKind::VerifyBackup
        | OperationKind::Move => &[],
    }
}

impl Runner {
    pub(crate) async fn run_maintenance(
        &self,
        job: &Job,
        kind: OperationKind,
        db: &DatabaseRow,
        name: &DatabaseName,
        host: &dyn TenantEngine,
        stop_after: Option<usize>,
    ) -> Result<(), JobError> {
        let id = db.id;
        let operation_id = job.operation_id().ok_or_else(|| JobError::abort("not an operation"))?;
        use JobStep::{Database, Drop, Pgbouncer, Populate, Postgres, Record, Restrict, Role, Secrets, Verify};
        use OperationKind::{Backup, Delete, Move, Provision, ResetPassword, Restart, Start, Stop, VerifyBackup};
        for (i, step) in steps(kind).iter().enumerate() {
            let started = std::time::Instant::now();
            match (kind, *step) {
                (Stop, Pgbouncer) => host.lifecycle(name, LifecycleStep::CloseFrontDoor).await?,
                (Stop, Postgres) => host.lifecycle(name, LifecycleStep::BlockConnections).await?,
                (Start, Postgres) => host.lifecycle(name, LifecycleStep::AllowConnections).await?,
                (Start, Pgbouncer) => host.lifecycle(name, LifecycleStep::OpenFrontDoor).await?,
                (Restart, Pgbouncer) => host.lifecycle(name, LifecycleStep::BounceFrontDoor).await?,
                (Restart, Postgres) => host.lifecycle(name, LifecycleStep::TerminateSessions).await?,
                (ResetPassword, Role) => {
                    let verifier =
                        self.store.role_verifier(id).await.map_err(|e| JobError::retry_from(e.to_string(), e))?;
                    host.set_owner_credential(id, name, &verifier, self.role_limits(db.account_id).await?).await?
                }
                (ResetPassword, Pgbouncer) => crate::hosts::sync_bouncer(&self.store, &self.plans, host).await?,
                // A stopped database refuses every login; the two steps above are the proof.
                // Otherwise log in through PgBouncer's Unix socket: the database's allowlist
                // governs TCP sources, and may well not list the platform's own address.
                // A locked database refuses them too (its pool stays closed through the sync).
                (ResetPassword, Verify) if db.state != DatabaseState::Stopped && db.locked_reason.is_none() => {
                    host.verify_login(name, self.password(id).await?).await?
                }
                (ResetPassword, Verify) => {}
                (Stop | Start | Restart | ResetPassword, Record) => {
                    self.command(job, DatabaseCommand::CompleteMaintenance { operation_id }).await?;
                }
                (Stop | Start | Restart, other @ (Role | Database | Restrict | Populate | Verify | Drop | Secrets))
                | (ResetPassword, other @ (Database | Restrict | Populate | Postgres | Drop | Secrets))
                | (
                    Provision | Delete | Backup | VerifyBackup | Move,
                    other @ (Role | Database | Restrict | Populate | Pgbouncer | Postgres | Verify | Drop | Secrets
                    | Record),
                ) => return Err(JobError::abort(format!("unknown step {other} of {}", kind.as_str()))),
            }
            metrics::histogram!("berth_job_step_seconds", "kind" => kind.as_str(), "step" => step.as_str())
                .record(started.elapsed().as_secs_f64());
            if stop_after == Some(i) {
                return Ok(());
            }
        }
        Ok(())
    }
}
