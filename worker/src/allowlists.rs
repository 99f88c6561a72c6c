//! Allowlist jobs: re-render a host's PgBouncer when a database's allowlist (or its
//! users) change, and expire rules with a TTL — at their time, by a job queued to run then,
//! and by a sweeper that catches any whose job did not run (the platform was down, the job
//! was lost).

use std::time::Duration;

use chrono::Utc;
use domain::{Allowlist, AllowlistCommand, AllowlistError, DatabaseId, RuleId, StreamId};
use eventstore::{Metadata, Store, StoreError};

use crate::jobs::{Job, Runner};
use crate::queue::JobError;

/// How long an expiry job that was picked up a little early waits for its time, rather than
/// going round the retry backoff (the queue schedules by the second).
const EARLY_WAIT_MAX: Duration = Duration::from_secs(5);

/// Records the expiry of `rule_id` if it is due. `Ok(true)` if this call recorded it,
/// `Ok(false)` if it was gone already; `Err(NotExpired)` if it is not due.
pub async fn expire_rule(store: &Store, database: DatabaseId, rule_id: RuleId) -> Result<bool, ExpireError> {
    let command = AllowlistCommand::Expire { rule_id, now: Utc::now() };
    match store
        .execute::<Allowlist>(StreamId::allowlist(database).as_str(), &command, &Metadata::default(), &[])
        .await?
    {
        Ok(_) => Ok(true),
        Err(AllowlistError::RuleNotFound) => Ok(false),
        Err(AllowlistError::NotExpired) => Err(ExpireError::NotDue),
        Err(e) => Err(ExpireError::Store(StoreError::Codec(e.to_string()))),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExpireError {
    #[error("the rule is not due to expire yet")]
    NotDue,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Expires every overdue rule; returns how many expiries this call recorded.
pub async fn sweep_expired(store: &Store) -> Result<usize, StoreError> {
    let mut recorded = 0;
    loop {
        let overdue = store.overdue_rules(100).await?;
        let batch = overdue.len();
        for rule in overdue {
            match expire_rule(store, rule.database_id, rule.id).await {
                Ok(true) => recorded += 1,
                Ok(false) | Err(ExpireError::NotDue) => {}
                Err(ExpireError::Store(e)) => return Err(e),
            }
        }
        if batch < 100 {
            return Ok(recorded);
        }
    }
}

/// Runs [`sweep_expired`] every `every` until `shutdown` turns true.
pub async fn run_sweeper(store: Store, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        match sweep_expired(&store).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "sweeper expired overdue allowlist rules"),
            Err(e) => tracing::warn!(error = %e, "allowlist sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

impl Runner {
    /// The front door's jobs (what PgBouncer admits): a sync, a rule's expiry, a database
    /// user's login.
    pub(crate) async fn run_front_door_job(&self, job: &Job) -> Result<(), JobError> {
        let retry = |e: StoreError| JobError::retry_from(format!("control plane: {e}"), e);
        match job {
            Job::SyncBouncer { database_id } => {
                let db = match self.store.database(*database_id).await {
                    Ok(db) => db,
                    Err(StoreError::NotFound) => return Ok(()),
                    Err(e) => return Err(retry(e)),
                };
                let host = crate::hosts::engine(&self.hosts, &self.store, db.host_id).await?;
                crate::hosts::sync_bouncer(&self.store, &self.plans, &*host).await?;
                Ok(())
            }
            Job::ExpireRule { database_id, rule_id, expires_at } => {
                let early = (*expires_at - Utc::now()).to_std().unwrap_or_default();
                if early > EARLY_WAIT_MAX {
                    return Err(JobError::retry(format!("rule {rule_id} expires at {expires_at}")));
                }
                tokio::time::sleep(early).await;
                match expire_rule(&self.store, *database_id, *rule_id).await {
                    Ok(_) => Ok(()),
                    Err(ExpireError::NotDue) => Err(JobError::retry(format!("rule {rule_id} is not due yet"))),
                    Err(ExpireError::Store(e)) => Err(retry(e)),
                }
            }
            Job::CreateUser { database_id, name } | Job::RemoveUser { database_id, name } => {
                self.run_user(job, *database_id, name).await
            }
            other => Err(JobError::abort(format!("{} is not a front-door job", other.kind()))),
        }
    }
}
