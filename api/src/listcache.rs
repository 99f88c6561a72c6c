//! Database listings (`GET /databases`, the route dashboards and scripts poll) answered
//! without running the listing query when nothing has committed since it last ran.
//!
//! Every request first takes a read barrier: a commit snapshot of the control-plane cluster
//! taken after the request arrived ([`eventstore::commit_barrier`]). A listing cached with the
//! snapshot taken before it was read is served only if no transaction at all completed
//! between that snapshot and the barrier's, so the answer is exactly what the query would
//! return now — whichever process wrote (the worker, another API replica, an operator). A
//! client that saw an operation succeed can never list the database in its old state.
//!
//! Concurrent requests share one barrier query: each waits for the first snapshot query
//! *sent* after it arrived, so under load one round trip serves a whole batch, and the
//! heavier listing query runs only after something changed. Any write in the cluster
//! (including unrelated ones) invalidates: correctness never depends on knowing what a write
//! touched.
//!
//! Each thread has its own barrier with its own connection, driven on that thread: an actix
//! worker's requests, their snapshot query and its answer never wake another thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use domain::{AccountId, DatabaseId, UserId};
use eventstore::commit_barrier::{CommitSnapshot, SnapshotConnection};
use eventstore::queries::DatabaseRow;
use eventstore::{Store, StoreError};
use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Listings kept at most; past this the cache starts over (each entry is one page).
pub const CAPACITY: usize = 10_000;

pub type Listing = Arc<Page>;

/// One listing page: its rows and, once rendered, its response body. The body depends only
/// on the rows and the [`ListKey`] they were listed for (the caller's role on each database
/// follows from the account), so it is rendered once per cached page.
pub struct Page {
    pub rows: Vec<(DatabaseRow, Option<String>)>,
    body: std::sync::OnceLock<actix_web::web::Bytes>,
}

impl Page {
    /// The rendered body, rendering it with `render` the first time.
    pub fn body<E>(
        &self,
        render: impl FnOnce(&[(DatabaseRow, Option<String>)]) -> Result<actix_web::web::Bytes, E>,
    ) -> Result<actix_web::web::Bytes, E> {
        if let Some(body) = self.body.get() {
            return Ok(body.clone());
        }
        let body = render(&self.rows)?;
        Ok(self.body.get_or_init(|| body).clone())
    }
}

/// Everything `Store::visible_databases` depends on besides the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey {
    pub account: AccountId,
    pub user: UserId,
    pub only: Option<Vec<DatabaseId>>,
    /// The key's `ro` databases: the roles the page shows depend on them.
    pub read_only: Vec<DatabaseId>,
    pub after: Option<DatabaseId>,
    pub limit: i64,
}

pub struct ListCache {
    /// Tells this cache's barriers from other caches' in the threads' registries.
    id: u64,
    entries: Mutex<HashMap<ListKey, (CommitSnapshot, Listing)>>,
}

impl Default for ListCache {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        ListCache { id: NEXT.fetch_add(1, Ordering::Relaxed), entries: Mutex::default() }
    }
}

thread_local! {
    /// This thread's barrier of each list cache.
    static BARRIERS: RefCell<Vec<(u64, Arc<Barrier>)>> = const { RefCell::new(Vec::new()) };
}

impl ListCache {
    /// The calling thread's barrier.
    fn barrier(&self) -> Arc<Barrier> {
        BARRIERS.with(|all| {
            let mut all = all.borrow_mut();
            match all.iter().find(|(id, _)| *id == self.id) {
                Some((_, barrier)) => barrier.clone(),
                None => {
                    let barrier = Arc::new(Barrier::default());
                    all.push((self.id, barrier.clone()));
                    barrier
                }
            }
        })
    }

    /// The databases `key` lists, exactly as of a moment after this call began.
    pub async fn visible_databases(&self, store: &Store, key: ListKey) -> Result<Listing, StoreError> {
        let now = self.barrier().snapshot(store).await?;
        let cached = self.entries.lock().get(&key).cloned();
        if let Some((at, rows)) = cached {
            if at.unchanged_until(&now) {
                metrics::counter!("berth_list_cache_total", "outcome" => "hit").increment(1);
                return Ok(rows);
            }
        }
        metrics::counter!("berth_list_cache_total", "outcome" => "miss").increment(1);
        let rows = store.visible_databases(key.account, key.user, key.only.as_deref(), key.after, key.limit).await?;
        let rows: Listing = Arc::new(Page { rows, body: std::sync::OnceLock::new() });
        // `now` was taken before the query read: a commit in between makes the entry fail
        // its next check, never serve something older than it claims.
        let mut entries = self.entries.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, (now, rows.clone()));
        Ok(rows)
    }
}

/// Batches snapshot queries: at most one in flight; callers that arrive meanwhile get the
/// next one, which is sent after they arrived.
#[derive(Default)]
struct Barrier {
    state: Mutex<BarrierState>,
}

type Reply = oneshot::Sender<Result<CommitSnapshot, String>>;

#[derive(Default)]
struct BarrierState {
    waiting: Vec<Reply>,
    running: bool,
    /// Kept between batches; opened by the first batch, again if it closed.
    connection: Option<Arc<SnapshotConnection>>,
}

impl Barrier {
    async fn snapshot(self: &Arc<Self>, store: &Store) -> Result<CommitSnapshot, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = self.state.lock();
            state.waiting.push(reply);
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            // Built before the spawn: if the runtime drops the task, even unpolled, the
            // guard fails the waiting callers instead of leaving them waiting forever.
            let server = Server { barrier: self.clone(), done: false };
            tokio::spawn(server.serve(store.clone()));
        }
        match answer.await {
            Ok(result) => result.map_err(StoreError::Unavailable),
            Err(_) => Err(StoreError::Unavailable("the read barrier was dropped".into())),
        }
    }
}

/// The running barrier query loop. Dropped before it found no one waiting (its runtime shut
/// down), it drops the waiters' replies (they fail with `Unavailable`) and marks the barrier
/// idle, so the next caller starts another.
struct Server {
    barrier: Arc<Barrier>,
    done: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.done {
            let mut state = self.barrier.state.lock();
            state.waiting.clear();
            state.running = false;
        }
    }
}

impl Server {
    async fn take_snapshot(&self, store: &Store) -> Result<CommitSnapshot, StoreError> {
        let kept = self.barrier.state.lock().connection.clone();
        let connection = match kept {
            Some(c) if !c.is_closed() => c,
            _ => {
                let c = Arc::new(store.snapshot_connection().await?);
                self.barrier.state.lock().connection = Some(c.clone());
                c
            }
        };
        connection.take().await
    }

    async fn serve(mut self, store: Store) {
        loop {
            let batch = {
                let mut state = self.barrier.state.lock();
                if state.waiting.is_empty() {
                    state.running = false;
                    self.done = true;
                    return;
                }
                std::mem::take(&mut state.waiting)
            };
            let result = self.take_snapshot(&store).await.map_err(|e| e.to_string());
            for reply in batch {
                // A caller that went away (client disconnected) no longer listens.
                let _ = reply.send(result.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A barrier task dropped by its runtime must not leave callers waiting forever, nor
    /// keep later callers from starting a new one.
    #[test]
    fn a_dropped_barrier_task_fails_its_waiters_and_lets_the_next_caller_start_one() {
        let barrier = Arc::new(Barrier::default());
        let (reply, mut answer) = oneshot::channel();
        {
            let mut state = barrier.state.lock();
            state.waiting.push(reply);
            state.running = true;
        }
        drop(Server { barrier: barrier.clone(), done: false });
        assert!(answer.try_recv().is_err(), "the waiter is told, not left waiting");
        let state = barrier.state.lock();
        assert!(!state.running && state.waiting.is_empty());
    }
}
