//! The wake-up NOTIFY of ordinary appends, sent after commit and coalesced.
//!
//! Every NOTIFY on `berth_events` wakes each listening connection (the API's listener, the
//! dispatch and audit consumers), and each woken consumer reads the log and saves its
//! checkpoint. One NOTIFY per append therefore made every append cost several statements of
//! consumer work, and PostgreSQL serialises committers that notify. So an append that only
//! needs to wake consumers does not notify itself: it hands its stream id to this notifier,
//! which sends at once when idle (a lone append wakes consumers as fast as before) and at
//! most once per [`MIN_GAP`] during a burst, naming every stream appended to since.
//!
//! The cost is that the wake-up is no longer atomic with the commit: if the process dies in
//! between, consumers find the events at their next poll instead. Appends whose NOTIFY is
//! an invalidation for caches in other processes (API keys live on account streams) keep
//! theirs inside the append statement, sent if and only if the append commits.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::Store;

/// The shortest interval between two coalesced notifications of one process.
pub const MIN_GAP: Duration = Duration::from_millis(5);

/// Payloads stay well under PostgreSQL's 8000-byte limit; past this the payload is empty,
/// which listeners read as "anything may have changed".
const MAX_PAYLOAD: usize = 7000;

pub(crate) struct Notifier {
    pending: Mutex<Pending>,
    /// Moves at once after every append committed through this store (and its clones):
    /// waiters and consumers in this process need not wait for the NOTIFY's round trip
    /// through PostgreSQL (`berth up` runs the API, the worker and the consumers in one
    /// process). Other processes still learn of the append by the NOTIFY.
    local: tokio::sync::watch::Sender<u64>,
    /// Told of each committed append in this process, synchronously, before the append
    /// returns (caches of read models forget what it may change). Held weakly: an observer
    /// lives as long as its owner keeps it.
    observers: Mutex<Vec<std::sync::Weak<LocalObserver>>>,
}

/// See [`crate::Store::observe_local_appends`].
pub type LocalObserver = dyn Fn(&str) + Send + Sync;

impl Default for Notifier {
    fn default() -> Self {
        Notifier { pending: Mutex::default(), local: tokio::sync::watch::channel(0).0, observers: Mutex::default() }
    }
}

#[derive(Default)]
struct Pending {
    streams: Vec<String>,
    overflow: bool,
    /// A task is sending or waiting out the gap; it takes whatever is pending next.
    running: bool,
}

impl Pending {
    /// Adds `stream_id`; true if no task is running yet and the caller must start one.
    fn add(&mut self, stream_id: &str) -> bool {
        if !self.overflow && !self.streams.iter().any(|s| s == stream_id) {
            let len: usize = self.streams.iter().map(|s| s.len() + 1).sum();
            if len + stream_id.len() > MAX_PAYLOAD || stream_id.contains(',') {
                self.overflow = true;
                self.streams.clear();
            } else {
                self.streams.push(stream_id.to_owned());
            }
        }
        !std::mem::replace(&mut self.running, true)
    }

    /// The next payload to send, or `None` (and the task ends) when nothing is pending.
    fn take_payload(&mut self) -> Option<String> {
        if self.streams.is_empty() && !self.overflow {
            self.running = false;
            return None;
        }
        let payload = if self.overflow { String::new() } else { self.streams.join(",") };
        self.streams.clear();
        self.overflow = false;
        Some(payload)
    }
}

impl Notifier {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn observe(&self, observer: &std::sync::Arc<LocalObserver>) {
        let mut all = self.observers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        all.retain(|o| o.strong_count() > 0);
        all.push(std::sync::Arc::downgrade(observer));
    }

    /// A receiver that moves after every append committed in this process.
    pub(crate) fn local(&self) -> tokio::sync::watch::Receiver<u64> {
        self.local.subscribe()
    }

    /// Records a committed append: tells this process's waiters at once, and, unless the
    /// append notified by itself (`notified`), makes sure a notification naming `stream_id`
    /// will be sent.
    pub(crate) fn appended(&self, store: &Store, stream_id: &str, notified: bool) {
        let observers: Vec<_> = {
            let mut all = self.observers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            all.retain(|o| o.strong_count() > 0);
            all.iter().filter_map(std::sync::Weak::upgrade).collect()
        };
        for observe in observers {
            observe(stream_id);
        }
        self.local.send_modify(|n| *n = n.wrapping_add(1));
        if !notified && self.lock().add(stream_id) {
            // Built before the spawn: if the runtime drops the task, even unpolled, the
            // guard lets the next append start a sender again.
            let sender = Sender { store: store.clone(), done: false };
            tokio::spawn(sender.send_while_pending());
        }
    }
}

/// The running sender. Dropped before it found nothing pending (its runtime shut down), it
/// marks the notifier idle so that the next append starts another.
struct Sender {
    store: Store,
    done: bool,
}

impl Drop for Sender {
    fn drop(&mut self) {
        if !self.done {
            self.store.notifier.lock().running = false;
        }
    }
}

impl Sender {
    async fn send_while_pending(mut self) {
        let notifier = Arc::clone(&self.store.notifier);
        loop {
            let Some(payload) = notifier.lock().take_payload() else {
                self.done = true;
                return;
            };
            if let Err(e) = send(&self.store, &payload).await {
                // Consumers still poll; they find the events then.
                tracing::warn!(error = %e, "cannot send the append wake-up");
            }
            tokio::time::sleep(MIN_GAP).await;
        }
    }
}

async fn send(store: &Store, payload: &str) -> Result<(), crate::StoreError> {
    let client = store.client().await?;
    let statement = client.prepare_cached("select pg_notify('berth_events', $1)").await?;
    client.query(&statement, &[&payload]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_becomes_one_payload_naming_each_stream_once() {
        let mut p = Pending::default();
        assert!(p.add("database-a"), "the first append starts the sender");
        assert!(!p.add("database-b"), "later ones join the running sender");
        assert!(!p.add("database-a"));
        assert_eq!(p.take_payload().as_deref(), Some("database-a,database-b"));
        assert_eq!(p.take_payload(), None);
        assert!(p.add("database-c"), "after the sender ended, the next append starts one");
    }

    /// A sender dropped by its runtime (even before it ran) must let the next append start
    /// another, or this store would never wake consumers again.
    #[test]
    fn a_dropped_sender_lets_the_next_append_start_one() {
        let store = Store::connect("host=127.0.0.1 port=1 user=nobody", 1).expect("a lazy pool");
        assert!(store.notifier.lock().add("database-a"));
        drop(Sender { store: store.clone(), done: false });
        assert!(store.notifier.lock().add("database-b"), "the next append starts a sender");
        assert_eq!(store.notifier.lock().take_payload().as_deref(), Some("database-a,database-b"));
    }

    #[test]
    fn too_many_streams_become_an_empty_payload() {
        let mut p = Pending::default();
        for i in 0..MAX_PAYLOAD / 10 {
            p.add(&format!("database-{i:040}"));
        }
        assert_eq!(p.take_payload().as_deref(), Some(""), "empty: anything may have changed");
        assert_eq!(p.take_payload(), None);
    }
}
