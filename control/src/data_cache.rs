//! What every data-API request reads from the control plane — its key by prefix (with its
//! database's state), the database, its host, its SQL settings and its auth config — kept
//! in memory under the rules of `listened` (and `keycache`): served only while the append
//! listener is up, forgotten when an append may have changed it.
//!
//! Which appends forget what:
//! - `database-<id>`: that database's row and its keys (their database's state);
//! - `dataapi-<id>`: that database's keys and auth config;
//! - `approvals-<id>`: that database's SQL settings;
//! - `host-…`: every host and database row (a row carries its host's address);
//! - streams that change none of these (queries, sessions, backups, allowlists, users,
//!   collaborators, tenant SQL records, accounts) nothing; anything else everything.
//!
//! The process that appends forgets at once, before its append returns
//! (`Store::observe_local_appends`); other processes when the NOTIFY arrives (normally
//! milliseconds), as for API keys. A revoked key is therefore refused on the very next
//! request by the process that revoked it, and within that window by the others.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use domain::{AuthConfig, DatabaseId, HostId, SqlSettings, StreamId, TenantHost};
use eventstore::data_api::DataKeyLookup;
use eventstore::queries::DatabaseRow;
use eventstore::{AppendSignal, StoreError};

use crate::listened::{stream_parts, Listened, Lookup};
use crate::Control;

/// Rows kept at most, per kind.
pub const CAPACITY: usize = 10_000;

/// Streams whose appends change nothing kept here.
const UNRELATED_STREAMS: &[&str] = &[
    StreamId::QUERY,
    StreamId::SESSION,
    StreamId::BACKUP,
    StreamId::ALLOWLIST,
    StreamId::DATABASE_USERS,
    StreamId::COLLABORATORS,
    StreamId::TENANT_SQL,
    StreamId::ACCOUNT,
];

pub struct DataCache {
    keys: Listened<String, DataKeyLookup>,
    databases: Listened<DatabaseId, DatabaseRow>,
    hosts: Listened<HostId, TenantHost>,
    settings: Listened<DatabaseId, SqlSettings>,
    auth: Listened<DatabaseId, Option<AuthConfig>>,
}

impl Default for DataCache {
    fn default() -> Self {
        Self {
            keys: Listened::with_capacity(CAPACITY),
            databases: Listened::with_capacity(CAPACITY),
            hosts: Listened::with_capacity(CAPACITY),
            settings: Listened::with_capacity(CAPACITY),
            auth: Listened::with_capacity(CAPACITY),
        }
    }
}

/// `map[key]`, read with `read` on a miss (and kept if nothing was forgotten meanwhile).
async fn cached<K, V, F>(map: &Listened<K, V>, key: K, read: F) -> Result<Arc<V>, StoreError>
where
    K: Eq + Hash + Clone,
    F: Future<Output = Result<V, StoreError>>,
{
    match map.lookup(&key) {
        Lookup::Hit(v) => Ok(v),
        Lookup::Miss(fill) => {
            let v = read.await?;
            match fill {
                Some(fill) => Ok(map.fill(fill, &key, v)),
                None => Ok(Arc::new(v)),
            }
        }
    }
}

impl DataCache {
    /// Follows the append listener, and this process's own appends (see the module).
    pub fn observe(&self, signal: AppendSignal<'_>) {
        match signal {
            AppendSignal::Append(stream) => self.appended(stream),
            health => {
                self.keys.observe_health(&health);
                self.databases.observe_health(&health);
                self.hosts.observe_health(&health);
                self.settings.observe_health(&health);
                self.auth.observe_health(&health);
            }
        }
    }

    pub fn appended(&self, stream: &str) {
        match stream_parts(stream) {
            Some((family, _)) if UNRELATED_STREAMS.contains(&family) => {}
            Some((StreamId::DATABASE, id)) => {
                let id = DatabaseId(id);
                self.keys.forget_where(|_, k| k.key.database_id == id);
                self.databases.forget_where(|d, _| *d == id);
            }
            Some((StreamId::DATA_API, id)) => {
                let id = DatabaseId(id);
                self.keys.forget_where(|_, k| k.key.database_id == id);
                self.auth.forget_where(|d, _| *d == id);
            }
            Some((StreamId::APPROVALS, id)) => self.settings.forget_where(|d, _| d.uuid() == id),
            Some((StreamId::HOST, _)) => {
                self.hosts.forget_all();
                self.databases.forget_all();
            }
            _ => {
                self.keys.forget_all();
                self.databases.forget_all();
                self.hosts.forget_all();
                self.settings.forget_all();
                self.auth.forget_all();
            }
        }
    }
}

/// The data key with `prefix` and its database's state; unknown prefixes are not kept.
pub async fn key(ctx: &Control, prefix: &str) -> Result<Option<Arc<DataKeyLookup>>, StoreError> {
    let map = &ctx.data_cache.keys;
    let key = prefix.to_owned();
    match map.lookup(&key) {
        Lookup::Hit(v) => Ok(Some(v)),
        Lookup::Miss(fill) => {
            let Some(found) = ctx.store.data_key_by_prefix(prefix).await? else { return Ok(None) };
            Ok(Some(match fill {
                Some(fill) => map.fill(fill, &key, found),
                None => Arc::new(found),
            }))
        }
    }
}

pub async fn database(ctx: &Control, id: DatabaseId) -> Result<Arc<DatabaseRow>, StoreError> {
    cached(&ctx.data_cache.databases, id, ctx.store.database(id)).await
}

pub async fn host(ctx: &Control, id: HostId) -> Result<Arc<TenantHost>, StoreError> {
    cached(&ctx.data_cache.hosts, id, ctx.store.host(id)).await
}

pub async fn sql_settings(ctx: &Control, db: DatabaseId) -> Result<Arc<SqlSettings>, StoreError> {
    cached(&ctx.data_cache.settings, db, ctx.store.sql_settings(db)).await
}

pub async fn auth_config(ctx: &Control, db: DatabaseId) -> Result<Arc<Option<AuthConfig>>, StoreError> {
    cached(&ctx.data_cache.auth, db, ctx.store.data_auth_config(db)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn live() -> DataCache {
        let c = DataCache::default();
        c.observe(AppendSignal::Alive(Instant::now()));
        c
    }

    fn fill_settings(c: &DataCache, db: DatabaseId) {
        match c.settings.lookup(&db) {
            Lookup::Miss(Some(f)) => {
                c.settings.fill(f, &db, SqlSettings::default());
            }
            _ => panic!("expected a miss that may fill"),
        }
    }

    fn has_settings(c: &DataCache, db: DatabaseId) -> bool {
        matches!(c.settings.lookup(&db), Lookup::Hit(_))
    }

    #[test]
    fn appends_forget_what_they_may_change_and_nothing_else() {
        let c = live();
        let (a, b) = (DatabaseId::new(), DatabaseId::new());
        fill_settings(&c, a);
        fill_settings(&c, b);
        c.observe(AppendSignal::Append(StreamId::query(domain::QueryId::new()).as_str()));
        c.observe(AppendSignal::Append(StreamId::database(a).as_str()));
        assert!(has_settings(&c, a) && has_settings(&c, b), "queries and database rows leave settings");
        c.observe(AppendSignal::Append(StreamId::approvals(a).as_str()));
        assert!(!has_settings(&c, a) && has_settings(&c, b), "a's settings only");
        for unknown in ["", "mystery-stream", "newfamily-6f1c0a6e-65c4-4f5e-9a8e-0d6d1f1d1d1d"] {
            fill_settings(&c, a);
            c.observe(AppendSignal::Append(unknown));
            assert!(!has_settings(&c, a) && !has_settings(&c, b), "{unknown:?} forgets everything");
            fill_settings(&c, b);
        }
    }

    #[test]
    fn a_lost_listener_turns_the_cache_off() {
        let c = live();
        let a = DatabaseId::new();
        fill_settings(&c, a);
        c.observe(AppendSignal::Lost);
        assert!(matches!(c.settings.lookup(&a), Lookup::Miss(None)));
    }
}
