//! A map of read-model rows kept in memory and served only while the append listener is
//! known to be up — the rules `keycache` documents, for any key and row:
//! - entries are forgotten by the owner of the map when the listener reports an append
//!   that may change them (the owner decides which: [`Listened::forget_where`]);
//! - the map is served only while the LISTEN connection answered a heartbeat within
//!   `keycache::LIVE_FOR`: a lost connection empties it and turns it off until it is back;
//! - a row read from the store after a miss is kept only if no invalidation happened since
//!   the miss (a generation counter), else it may predate the change just invalidated;
//! - at most `capacity` rows; past it an arbitrary row makes room.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use eventstore::AppendSignal;
use parking_lot::Mutex;

use crate::keycache::LIVE_FOR;

pub struct Listened<K, V> {
    capacity: usize,
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    rows: HashMap<K, Arc<V>>,
    generation: u64,
    live_until: Option<Instant>,
}

impl<K, V> Inner<K, V> {
    fn live(&self, now: Instant) -> bool {
        self.live_until.is_some_and(|t| now < t)
    }

    fn forget_all(&mut self) {
        self.generation += 1;
        self.rows.clear();
    }
}

/// The outcome of [`Listened::lookup`].
pub enum Lookup<V> {
    Hit(Arc<V>),
    /// Read the store; `Some` means the row read may be kept with [`Listened::fill`].
    Miss(Option<Fill>),
}

/// Permission to store a row read after the lookup that issued it.
pub struct Fill {
    generation: u64,
}

impl<K: Eq + Hash + Clone, V> Listened<K, V> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { capacity, inner: Mutex::new(Inner { rows: HashMap::new(), generation: 0, live_until: None }) }
    }

    pub fn lookup(&self, key: &K) -> Lookup<V> {
        let inner = self.inner.lock();
        if !inner.live(Instant::now()) {
            return Lookup::Miss(None);
        }
        match inner.rows.get(key) {
            Some(row) => Lookup::Hit(row.clone()),
            None => Lookup::Miss(Some(Fill { generation: inner.generation })),
        }
    }

    /// Keeps `row` (read from the store for `key` after `fill` was issued) unless the map was
    /// invalidated or went off meanwhile.
    pub fn fill(&self, fill: Fill, key: &K, row: V) -> Arc<V> {
        let row = Arc::new(row);
        let mut inner = self.inner.lock();
        if inner.generation == fill.generation && inner.live(Instant::now()) {
            if inner.rows.len() >= self.capacity && !inner.rows.contains_key(key) {
                let evict = inner.rows.keys().next().cloned();
                if let Some(k) = evict {
                    inner.rows.remove(&k);
                }
            }
            inner.rows.insert(key.clone(), row.clone());
        }
        row
    }

    /// Forgets the rows `stale` says may have changed (and any row being read now).
    pub fn forget_where(&self, stale: impl Fn(&K, &V) -> bool) {
        let mut inner = self.inner.lock();
        inner.generation += 1;
        inner.rows.retain(|k, v| !stale(k, v));
    }

    pub fn forget_all(&self) {
        self.inner.lock().forget_all();
    }

    /// Follows the listener's health (`Alive`, `Lost`); appends are the owner's to read.
    pub fn observe_health(&self, signal: &AppendSignal<'_>) {
        match signal {
            AppendSignal::Append(_) => {}
            AppendSignal::Alive(sent) => {
                let mut inner = self.inner.lock();
                if !inner.live(Instant::now()) {
                    // Off or expired: appends may have gone unreported meanwhile.
                    inner.forget_all();
                }
                let until = *sent + LIVE_FOR;
                inner.live_until = Some(inner.live_until.map_or(until, |t| t.max(until)));
            }
            AppendSignal::Lost => {
                let mut inner = self.inner.lock();
                inner.forget_all();
                inner.live_until = None;
            }
        }
    }

    /// Ends the liveness window now (tests of what an expired heartbeat does).
    #[cfg(test)]
    pub(crate) fn expire_now(&self) {
        self.inner.lock().live_until = Some(Instant::now());
    }

    pub fn len(&self) -> usize {
        self.inner.lock().rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `(family, id)` of a stream named in an append notification, if it has that shape.
pub fn stream_parts(stream: &str) -> Option<(&str, uuid::Uuid)> {
    let (family, id) = stream.split_once('-')?;
    Some((family, uuid::Uuid::parse_str(id).ok()?))
}
