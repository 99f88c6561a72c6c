//! Group commit for the per-query audit. A request's record is still stored before its
//! answer goes out (the request waits for it), but records of requests that finish at the
//! same time share one transaction ([`eventstore::Store::append_new_streams`]): one commit
//! and pipelined statements instead of a transaction each. Under load that was the data
//! API's bottleneck (each request's append waited its turn to commit).
//!
//! A lone record is written at once (a batch of one); records arriving while batches are
//! being written wait for the next batch, at most [`MAX_BATCH`] in one, [`IN_FLIGHT`]
//! batches at a time. The writer task runs on the runtime of the first caller and is started
//! again by the next caller if that runtime went away.

use std::sync::Arc;

use domain::{Aggregate, QueryRecord, QueryRun, StreamId};
use eventstore::{Metadata, NewEvent, Store, StoredEvent};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::Error;

/// Records in one transaction at most.
pub const MAX_BATCH: usize = 64;
/// Batches being written at once.
pub const IN_FLIGHT: usize = 2;
/// Records waiting for a batch at most; past it callers wait to hand theirs over.
const QUEUE: usize = 1024;

struct Pending {
    stream: String,
    events: Vec<NewEvent>,
    meta: Metadata,
    done: oneshot::Sender<Result<(), Failed>>,
}

/// Why a batch was not stored, for each of its waiters (a `StoreError` is not `Clone`).
#[derive(Debug, Clone)]
enum Failed {
    /// The control-plane database did not answer: 503, as for any other write.
    Unavailable,
    Other(String),
}

pub struct AuditWriter {
    store: Store,
    queue: parking_lot::Mutex<Option<mpsc::Sender<Pending>>>,
}

impl AuditWriter {
    pub fn new(store: Store) -> Self {
        Self { store, queue: parking_lot::Mutex::new(None) }
    }

    /// Stores `run` (with `meta`) and returns once it is committed.
    pub async fn record(&self, run: &QueryRun, meta: &Metadata) -> Result<(), Error> {
        let events = QueryRecord::default().decide(run).map_err(|e| Error::internal(anyhow::anyhow!("{e:?}")))?;
        let events: Vec<NewEvent> = events.iter().map(|e| e.to_new()).collect::<Result<_, _>>()?;
        let (done, answer) = oneshot::channel();
        let mut pending =
            Pending { stream: StreamId::query(run.query_id).as_str().to_owned(), events, meta: meta.clone(), done };
        loop {
            let queue = self.queue();
            match queue.send(pending).await {
                Ok(()) => break,
                // The writer's runtime is gone: start another here and hand it over again.
                Err(mpsc::error::SendError(back)) => {
                    pending = back;
                    let mut slot = self.queue.lock();
                    if slot.as_ref().is_some_and(|q| q.same_channel(&queue)) {
                        *slot = None;
                    }
                }
            }
        }
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Failed::Unavailable)) => {
                Err(Error::from(eventstore::StoreError::Unavailable("recording the query".into())))
            }
            Ok(Err(Failed::Other(e))) => Err(Error::internal(anyhow::anyhow!("recording the query: {e}"))),
            Err(_) => Err(Error::internal(anyhow::anyhow!("recording the query: the audit writer stopped"))),
        }
    }

    fn queue(&self) -> mpsc::Sender<Pending> {
        let mut slot = self.queue.lock();
        if let Some(q) = slot.as_ref().filter(|q| !q.is_closed()) {
            return q.clone();
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(self.store.clone(), rx));
        *slot = Some(tx.clone());
        tx
    }
}

async fn write_batches(store: Store, mut rx: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let store = store.clone();
        tokio::spawn(async move {
            let mut streams = Vec::with_capacity(batch.len());
            let mut waiters = Vec::with_capacity(batch.len());
            for p in batch {
                streams.push((p.stream, p.events, p.meta));
                waiters.push(p.done);
            }
            let result = store.append_new_streams(&streams).await.map_err(|e| match e {
                eventstore::StoreError::Unavailable(_) => Failed::Unavailable,
                other => Failed::Other(other.to_string()),
            });
            metrics::histogram!("berth_query_audit_batch_size").record(streams.len() as f64);
            for w in waiters {
                let _ = w.send(result.clone());
            }
            drop(permit);
        });
    }
}
