//! API-key lookups without a query per request: what the `api_keys` row of a prefix says
//! (HMAC of the secret, account, user, platform role, scope, revoked), kept in memory. The
//! secret is not: every request still verifies its secret against the cached HMAC.
//!
//! Staleness rules (a replaced or revoked key fails on the very next request, API.md):
//! - The process that appends to an account stream (replace, revoke, …) forgets that
//!   account's keys synchronously, after the append and before it answers
//!   ([`crate::accounts::execute`]).
//! - Other processes (API replicas) learn of appends from the NOTIFY on `berth_events`
//!   ([`eventstore::Store::listen_appends_with`]): a payload naming an `account-<uuid>`
//!   stream forgets that account's keys; a stream that cannot change a key row (a database,
//!   backup, … stream) changes nothing; an empty or unknown payload forgets everything. So
//!   across replicas a revoked key can be accepted for as long as the NOTIFY takes to arrive
//!   (normally milliseconds).
//! - The cache is served only while the LISTEN connection is known to be up: it answered a
//!   heartbeat within [`LIVE_FOR`]. A lost connection empties the cache and turns it off
//!   until the connection is back, so a silently dead connection extends the window above to
//!   at most [`LIVE_FOR`] (3 s), never more.
//! - A lookup that raced with an invalidation is not stored: every invalidation bumps a
//!   generation, and a row read from the store is kept only if the generation it was read
//!   under is still current (else it may predate the change that was just invalidated).
//!
//! Unknown prefixes are never stored (a probe cannot fill memory with them), and the cache
//! holds at most [`CAPACITY`] rows, each one a real key.

use std::sync::Arc;
use std::time::Duration;

use domain::{AccountId, StreamId};
use eventstore::queries::ApiKeyRow;
use eventstore::AppendSignal;

use crate::listened::Listened;
pub use crate::listened::{Fill, Lookup as Found};

/// Rows kept at most; past it, an arbitrary row makes room.
pub const CAPACITY: usize = 10_000;

/// How long after the LISTEN connection last answered the cache may still be served.
pub const LIVE_FOR: Duration = Duration::from_secs(3);

/// Streams whose events never change an `api_keys` or `users` row.
const UNRELATED_STREAMS: &[&str] = &[
    StreamId::DATABASE,
    StreamId::BACKUP,
    StreamId::ALLOWLIST,
    StreamId::DATABASE_USERS,
    StreamId::COLLABORATORS,
    StreamId::HOST,
    StreamId::TENANT_SQL,
    StreamId::DATA_API,
];

pub struct KeyCache {
    rows: Listened<String, ApiKeyRow>,
}

/// The outcome of [`KeyCache::lookup`].
pub type Lookup = Found<ApiKeyRow>;

impl Default for KeyCache {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl KeyCache {
    pub fn with_capacity(capacity: usize) -> Self {
        Self { rows: Listened::with_capacity(capacity) }
    }

    pub fn lookup(&self, prefix: &str) -> Lookup {
        self.rows.lookup(&prefix.to_owned())
    }

    /// Keeps `row` (read from the store for `prefix` after `fill` was issued) unless the
    /// cache was invalidated or went off meanwhile.
    pub fn fill(&self, fill: Fill, prefix: &str, row: ApiKeyRow) -> Arc<ApiKeyRow> {
        self.rows.fill(fill, &prefix.to_owned(), row)
    }

    /// Forgets the keys of `account` (after an append to its stream).
    pub fn forget_account(&self, account: AccountId) {
        self.rows.forget_where(|_, row| row.account_id == account);
    }

    pub fn forget_all(&self) {
        self.rows.forget_all();
    }

    /// Follows the append listener (see the module's rules).
    pub fn observe(&self, signal: AppendSignal<'_>) {
        match signal {
            AppendSignal::Append(stream) => self.appended(stream),
            health => self.rows.observe_health(&health),
        }
    }

    fn appended(&self, stream: &str) {
        match stream.split_once('-') {
            Some((StreamId::ACCOUNT, id)) => match uuid::Uuid::parse_str(id) {
                Ok(id) => self.forget_account(AccountId(id)),
                Err(_) => self.forget_all(),
            },
            Some((kind, _)) if UNRELATED_STREAMS.contains(&kind) => {}
            _ => self.forget_all(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
#[path = "keycache_tests.rs"]
mod tests;
