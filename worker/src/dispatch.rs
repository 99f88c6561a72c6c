//! Turns events into jobs. The dispatcher is a checkpointed consumer of the global order;
//! each job is pushed under its event's id, so dispatching an event twice (a crash between
//! push and checkpoint, or two dispatchers racing) queues it once.

use std::sync::Arc;

use domain::{BackupEvent, DatabaseEvent};
use eventstore::consumer::Handler;
use eventstore::{decode, Decoded, RecordedEvent};

use crate::jobs::Job;
use crate::queue::Queue;

pub const CONSUMER: &str = "job-dispatcher";

pub struct Dispatcher {
    pub queue: Queue<Job>,
}

/// The job an event calls for, if any.
pub fn job_for(event: &RecordedEvent) -> Option<Job> {
    match decode(event).ok()? {
        Decoded::Database(DatabaseEvent::DatabaseCreationRequested { database_id, operation_id, source, .. }) => {
            Some(Job::Provision { database_id, operation_id, source })
        }
        Decoded::Database(DatabaseEvent::DatabaseDeletionRequested { database_id, operation_id }) => {
            Some(Job::Delete { database_id, operation_id })
        }
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
            if let Some(job) = job_for(event) {
                tracing::debug!(event = %event.event_id, job = job.kind(), "dispatching");
                self.queue.push(event.event_id, job).await?;
            }
        }
        Ok(())
    }
}

pub fn dispatcher(queue: Queue<Job>) -> Arc<dyn Handler> {
    Arc::new(Dispatcher { queue })
}
