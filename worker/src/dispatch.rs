//! Turns events into jobs. The dispatcher is a checkpointed consumer of the global order;
//! each job is pushed under its event's id, so dispatching an event twice (a crash between
//! push and checkpoint, or two dispatchers racing) queues it once.

use std::sync::Arc;

use domain::{AllowlistEvent, BackupEvent, DatabaseEvent, DatabaseUserEvent};
use eventstore::consumer::Handler;
use eventstore::{decode, Decoded, RecordedEvent};

use crate::jobs::Job;

pub const CONSUMER: &str = "job-dispatcher";

pub struct Dispatcher {
    pub queue: crate::Lanes,
}

/// The jobs an event calls for: each with its queue key (derived from the event id) and the
/// time it should run, if not at once.
pub fn jobs_for(event: &RecordedEvent) -> Vec<(uuid::Uuid, Job, Option<std::time::SystemTime>)> {
    if let Ok(Decoded::Allowlist(a)) = decode(event) {
        let database_id = a.database_id();
        let mut jobs = vec![(event.event_id, Job::SyncBouncer { database_id }, None)];
        if let AllowlistEvent::AllowlistRuleAdded { rule_id, expires_at: Some(at), .. } = a {
            // A second job from the same event needs a key of its own: flip the lowest bit
            // (the key's time prefix, which orders the queue, stays the event's).
            let key = uuid::Uuid::from_u128(event.event_id.as_u128() ^ 1);
            jobs.push((key, Job::ExpireRule { database_id, rule_id, expires_at: at }, Some(at.into())));
        }
        return jobs;
    }
    if let Ok(Decoded::DatabaseUser(u)) = decode(event) {
        let (database_id, name) = (u.database_id(), u.name().clone());
        return match u {
            DatabaseUserEvent::DatabaseUserCreated { .. } => {
                vec![(event.event_id, Job::CreateUser { database_id, name }, None)]
            }
            DatabaseUserEvent::DatabaseUserRemovalRequested { .. } => {
                vec![(event.event_id, Job::RemoveUser { database_id, name }, None)]
            }
            _ => vec![],
        };
    }
    job_for(event).map(|j| vec![(event.event_id, j, None)]).unwrap_or_default()
}

/// The job an event about a database calls for, if any.
pub fn job_for(event: &RecordedEvent) -> Option<Job> {
    match decode(event).ok()? {
        Decoded::Database(DatabaseEvent::DatabaseCreationRequested { database_id, operation_id, source, .. }) => {
            Some(Job::Provision { database_id, operation_id, source })
        }
        Decoded::Database(DatabaseEvent::DatabaseDeletionRequested { database_id, operation_id }) => {
            Some(Job::Delete { database_id, operation_id })
        }
        Decoded::Database(DatabaseEvent::DatabaseMoveRequested {
            database_id,
            operation_id,
            from_host_id,
            to_host_id,
        }) => Some(Job::Move { database_id, operation_id, from: from_host_id, to: to_host_id }),
        Decoded::Database(DatabaseEvent::OperationFailed {
            database_id,
            operation_id,
            kind: domain::OperationKind::Move,
            ..
        }) => Some(Job::SettleMove { database_id, operation_id }),
        Decoded::Database(DatabaseEvent::DatabaseLocked { database_id, .. })
        | Decoded::Database(DatabaseEvent::DatabaseUnlocked { database_id }) => Some(Job::ApplyLock { database_id }),
        Decoded::Database(e) => e.requested_maintenance().map(|(operation_id, action)| Job::Maintain {
            database_id: e.database_id(),
            operation_id,
            action,
        }),
        Decoded::Backup(BackupEvent::BackupRequested { backup_id, .. }) => Some(Job::Backup { backup_id }),
        Decoded::Backup(BackupEvent::BackupDeleted { backup_id, object_key: Some(object_key), .. }) => {
            Some(Job::PurgeBackup { backup_id, object_key })
        }
        Decoded::Backup(BackupEvent::BackupVerificationRequested { backup_id, operation_id, .. }) => {
            Some(Job::VerifyBackup { backup_id, operation_id })
        }
        _ => None,
    }
}

#[async_trait::async_trait]
impl Handler for Dispatcher {
    async fn handle(&self, events: &[RecordedEvent]) -> anyhow::Result<()> {
        for event in events {
            for (key, job, run_at) in jobs_for(event) {
                tracing::debug!(event = %event.event_id, job = job.kind(), "dispatching");
                self.queue.push_at(key, job, run_at).await?;
            }
        }
        Ok(())
    }
}

pub fn dispatcher(queue: crate::Lanes) -> Arc<dyn Handler> {
    Arc::new(Dispatcher { queue })
}
