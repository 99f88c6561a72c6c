//! The reconciler of stuck operations: every operation ends. Every `interval` it looks for
//! operations still pending or running past `deadline` with no live job in the queue (the
//! job was lost: a crash between the request and its dispatch, a row removed by hand, a
//! job that finished without recording the outcome) and settles each one:
//!
//! * still the database's current operation: its job is queued again, at most
//!   [`MAX_REQUEUES`] times (each under a key of its own, derived from the request event's
//!   id and the requeue number: a job key runs at most once); after that, or if the job
//!   cannot be rebuilt, the operation is failed (`MarkFailed`, [`STUCK_ERROR`]) and an
//!   `operation_stuck` incident is opened;
//! * no longer current (nothing can finish it any more): `OperationAbandoned` ends it as
//!   failed, with the same incident.
//!
//! Every worker process with the dispatcher runs one; settling goes through the aggregate
//! and pushes are idempotent, so two reconcilers racing settle an operation once.

use std::time::Duration;

use domain::{Database, DatabaseCommand, DatabaseError, OperationId, StreamId};
use eventstore::incidents::{kinds, IncidentReport};
use eventstore::queries::OperationRow;
use eventstore::{Metadata, Store};
use tokio::sync::watch;
use uuid::Uuid;

/// How many times a stuck operation's job is queued again before the operation is failed.
pub const MAX_REQUEUES: u32 = 2;

/// What users read on an operation the platform gave up on.
pub const STUCK_ERROR: &str = "the operation did not finish in time; the platform operators have been notified";

/// Operations looked at per round, oldest first.
const BATCH: i64 = 100;

#[derive(Debug, Clone, Copy)]
pub struct StuckOptions {
    /// How often to look.
    pub interval: Duration,
    /// How long an operation may stay unfinished with no job (and its last job idle) before
    /// it is settled.
    pub deadline: Duration,
}

impl Default for StuckOptions {
    fn default() -> Self {
        Self { interval: Duration::from_secs(60), deadline: Duration::from_secs(600) }
    }
}

/// What became of one stuck operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// A job of it is live or ran recently: nothing to do yet.
    Waiting,
    Requeued(u32),
    Failed,
    Abandoned,
}

pub async fn run(store: Store, queue: crate::Lanes, opts: StuckOptions, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(opts.interval) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        if let Err(e) = reconcile(&store, &queue, opts.deadline).await {
            tracing::warn!(error = %e, "the reconciler of stuck operations could not finish a round");
        }
    }
}

/// One round: settles every stuck operation it finds.
pub async fn reconcile(store: &Store, queue: &crate::Lanes, deadline: Duration) -> anyhow::Result<()> {
    let before = chrono::Utc::now() - chrono::Duration::from_std(deadline)?;
    for op in store.unfinished_operations(before, BATCH).await? {
        match settle(store, queue, &op, deadline).await {
            Ok(Settled::Waiting) => {}
            Ok(outcome) => {
                tracing::warn!(operation = %op.id, kind = %op.kind, ?outcome, "settled a stuck operation");
                metrics::counter!("berth_stuck_operations_total", "outcome" => outcome.label()).increment(1);
            }
            Err(e) => tracing::warn!(operation = %op.id, error = %e, "could not settle a stuck operation"),
        }
    }
    Ok(())
}

impl Settled {
    fn label(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Requeued(_) => "requeued",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
        }
    }
}

/// The key of the `n`th requeue of the job first pushed under `key` (`n` = 0: the key
/// itself). The time prefix stays the request's; the flipped bits are above the lowest,
/// which the dispatcher flips for an event's second job.
pub fn requeue_key(key: Uuid, n: u32) -> Uuid {
    Uuid::from_u128(key.as_u128() ^ (u128::from(n) << 8))
}

async fn settle(store: &Store, queue: &crate::Lanes, op: &OperationRow, deadline: Duration) -> anyhow::Result<Settled> {
    let stream = StreamId::database(op.database_id);
    let events = store.read_stream(stream.as_str()).await?;
    // The event that requested the operation, and the job it called for.
    let request = events
        .iter()
        .find_map(|e| crate::dispatch::job_for(e).filter(|j| j.operation_id() == Some(op.id)).map(|j| (e.event_id, j)));
    let (state, _) = store.load::<Database>(stream.as_str()).await?;
    let current = state.operation.is_some_and(|(current, _)| current == op.id);
    if !current {
        return abandon(store, stream.as_str(), op).await;
    }
    let Some((key, job)) = request else {
        return fail(store, stream.as_str(), op, "its request event calls for no job").await;
    };
    let keys: Vec<Uuid> = (0..=MAX_REQUEUES).map(|n| requeue_key(key, n)).collect();
    let pushed = queue.jobs_by_key(&keys).await?;
    if pushed.iter().any(|j| j.live || j.idle < deadline) {
        return Ok(Settled::Waiting);
    }
    // The request's own key may be missing (never dispatched, or its row removed): that
    // counts as the first try all the same.
    let next = (1..=MAX_REQUEUES).find(|n| !pushed.iter().any(|j| j.key == keys[*n as usize]));
    match next {
        Some(n) => {
            // The event first: a push that then fails is retried by a later round (under the
            // same key), so the log may name a requeue twice but never misses one.
            let command = DatabaseCommand::RequeueOperation { operation_id: op.id, requeue: n };
            match store.execute::<Database>(stream.as_str(), &command, &meta(op.id), &[]).await? {
                Ok(_) => {}
                Err(DatabaseError::StaleOperation) => return Ok(Settled::Waiting),
                Err(e) => return Err(e.into()),
            }
            queue.push(keys[n as usize], job).await?;
            Ok(Settled::Requeued(n))
        }
        None => fail(store, stream.as_str(), op, "its job was queued again and still did not finish").await,
    }
}

fn meta(op: OperationId) -> Metadata {
    Metadata { causation_id: Some(op.uuid()), ..Metadata::default() }
}

async fn fail(store: &Store, stream: &str, op: &OperationRow, why: &str) -> anyhow::Result<Settled> {
    let command = DatabaseCommand::MarkFailed { operation_id: op.id, error: STUCK_ERROR.into() };
    match store.execute::<Database>(stream, &command, &meta(op.id), &[]).await? {
        Ok(_) => {
            incident(store, op, why).await?;
            Ok(Settled::Failed)
        }
        // Finished or overtaken since we looked: the next round sees which.
        Err(DatabaseError::StaleOperation | DatabaseError::WrongState { .. }) => Ok(Settled::Waiting),
        Err(e) => Err(e.into()),
    }
}

async fn abandon(store: &Store, stream: &str, op: &OperationRow) -> anyhow::Result<Settled> {
    let command = DatabaseCommand::AbandonOperation { operation_id: op.id, reason: STUCK_ERROR.into() };
    match store.execute::<Database>(stream, &command, &meta(op.id), &[]).await? {
        Ok(_) => {
            incident(store, op, "it is no longer the database's operation and nothing can finish it").await?;
            Ok(Settled::Abandoned)
        }
        // It became current again? Only a new request can be current; the next round sees it.
        Err(DatabaseError::Busy(_)) => Ok(Settled::Waiting),
        Err(e) => Err(e.into()),
    }
}

async fn incident(store: &Store, op: &OperationRow, why: &str) -> anyhow::Result<()> {
    let resource = op.id.to_string();
    let summary = format!(
        "{} operation {resource} of database {} was {} since {} with no job: {why}; it was failed",
        op.kind, op.database_id, op.state, op.created_at
    );
    let report = IncidentReport {
        kind: kinds::OPERATION_STUCK,
        severity: "error",
        resource_type: "operation",
        resource_id: &resource,
        summary: &summary,
    };
    store.report_incident(&report).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::requeue_key;

    #[test]
    fn requeue_keys_differ_from_the_request_and_the_second_job_and_keep_the_time() {
        let key = Uuid::now_v7();
        let keys: Vec<_> = (0..=super::MAX_REQUEUES).map(|n| requeue_key(key, n)).collect();
        assert_eq!(keys[0], key);
        let second = Uuid::from_u128(key.as_u128() ^ 1);
        for (i, k) in keys.iter().enumerate() {
            assert_ne!(*k, second);
            assert_eq!(k.as_u128() >> 80, key.as_u128() >> 80, "the time prefix orders the queue");
            assert!(keys[i + 1..].iter().all(|other| other != k));
        }
    }
}
