//! Berth's application layer: every use case, once, for every surface — the HTTP API and
//! the dashboard's routes, ops (`berth up`'s bootstrap and host registration), the worker's
//! scheduler (nightly backups, retention) and the tests call these functions. (The worker's
//! jobs record what they did on a host — provisioned, failed, backed up — through the
//! aggregates themselves: that is the job system's own outcome, not a use case.)
//!
//! A use case takes a [`Control`] (data and handles: the store, plans, limits, the wait
//! budget, the session signer, the key cache) and a [`Caller`], never an HTTP type; it
//! checks who may do what ([`authz`]), turns input into domain types, has an aggregate decide
//! (every event comes from an aggregate's `decide`, appended by `Store::execute` with its
//! side effects as [`eventstore::Extra`]s in the same transaction), waits up to the budget for
//! the job it asked for, and answers read models or an [`Error`] with a code from API.md.
//!
//! One module per family: [`databases`] (create, delete, restore/branch targets),
//! [`lifecycle`] (stop/start/restart, password reset, credentials), [`allowlists`],
//! [`database_users`], [`collaborators`], [`backups`], [`migrations`] and [`dumps`] (SQL
//! run in a tenant database on a user's request, as its owner role), [`api_keys`], [`accounts`]
//! (sign-up, identities, anonymous accounts and claims, plans), [`sessions`] (sign-in and
//! logout, and authenticating a credential), [`hosts`] (registration), [`sql`] (SQL over
//! HTTP: the tenant's own SQL, its audit and approvals), [`data_keys`] and [`data_auth`] (the data
//! API's keys and auth config, and the checks its request path makes with them). The platform's own work in a tenant
//! database is not here: the worker does it through `hostctl`'s `TenantEngine`, asked by
//! events these functions append.

pub mod accounts;
pub mod allowlists;
pub mod api_keys;
pub mod authz;
pub mod backups;
pub mod caller;
pub mod collaborators;
pub mod data_api;
pub mod data_auth;
pub mod data_cache;
pub mod data_keys;
pub mod database_users;
pub mod databases;
pub mod dumps;
pub mod error;
pub mod hosts;
pub mod inspect;
pub mod jwks;
pub mod key_usage;
pub mod keycache;
pub mod keys;
pub mod lifecycle;
pub mod limits;
pub mod listened;
pub mod migrations;
pub mod moves;
pub mod observability;
mod owner_login;
pub mod reads;
pub mod session_tokens;
pub mod sessions;
pub mod sql;
mod tenant_sql;

use std::sync::Arc;
use std::time::Duration;

pub use caller::Caller;
pub use error::{Error, OrInternal};
pub use eventstore::Metadata;
use eventstore::Store;

/// What the use cases read their rules from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a mutation waits for the job it asked for before answering "accepted".
    pub wait: Duration,
    pub plans: domain::PlanQuotas,
    /// Caps on keys, manual backups and anonymous sign-ups.
    pub limits: limits::Limits,
    /// How long a session token lives.
    pub session_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(10),
            plans: domain::PlanQuotas::default(),
            limits: limits::Limits::default(),
            session_ttl: Duration::from_secs(3600),
        }
    }
}

/// The application's context: one per process, shared by every request and task.
pub struct Control {
    pub store: Store,
    pub settings: Settings,
    /// Signs and verifies session tokens.
    pub sessions: session_tokens::Sessions,
    /// API key uses, noted in memory and flushed in batches (`key_usage::FLUSH_EVERY`).
    pub key_usage: key_usage::KeyUsage,
    /// API-key rows by prefix, kept fresh by the append listener (see `keycache`).
    pub key_cache: Arc<keycache::KeyCache>,
    /// Changes after every append (see `Store::listen_appends`): waiters wake on it.
    pub appends: tokio::sync::watch::Receiver<u64>,
    /// Superuser connections to tenant hosts, for what only a superuser does (the explorer
    /// role of read-only SQL).
    pub hosts: hostctl::Hosts,
    /// Databases whose explorer role this process has made sure of.
    pub explorers: parking_lot::Mutex<std::collections::HashSet<domain::DatabaseId>>,
    /// Held while an explorer role is made.
    pub explorer_turn: tokio::sync::Mutex<()>,
    /// SQL requests running now, per database and in all.
    pub sql_slots: sql::SqlSlots,
    /// Slots for dumps streaming at once (`limits.dumps_at_once`).
    pub dumps: Arc<tokio::sync::Semaphore>,
    /// What data-API requests read from the control plane, kept fresh like `key_cache`.
    pub data_cache: Arc<data_cache::DataCache>,
    /// Tells the caches of this process's own appends (kept alive here: held weakly by the
    /// store).
    _local_appends: Arc<eventstore::LocalObserver>,
    /// The per-query audit's group commit.
    pub audit: sql::audit_writer::AuditWriter,
    /// The data API's roles made and schema caches read by this process.
    pub data_api: data_api::DataApiState,
    /// The data API's JWK Sets per database, fetched from auth configs' `jwks_url`s.
    pub jwks: jwks::JwksCache,
}

impl Control {
    /// The context for `store` (starts the append listener that keeps the key cache fresh).
    pub fn new(store: Store, settings: Settings) -> anyhow::Result<Self> {
        let ttl = chrono::Duration::from_std(settings.session_ttl).unwrap_or(chrono::Duration::hours(1));
        let sessions = session_tokens::Sessions::new(&store.keyring()?.hash_key, ttl);
        let key_cache = Arc::new(keycache::KeyCache::default());
        let data_cache = Arc::new(data_cache::DataCache::default());
        let (keys, data) = (key_cache.clone(), data_cache.clone());
        let appends = store.listen_appends_with(Arc::new(move |s: eventstore::AppendSignal<'_>| {
            data.observe(s);
            keys.observe(s);
        }));
        let data = data_cache.clone();
        let local_appends: Arc<eventstore::LocalObserver> = Arc::new(move |stream: &str| data.appended(stream));
        store.observe_local_appends(&local_appends);
        Ok(Self {
            appends,
            key_cache,
            data_cache,
            _local_appends: local_appends,
            sessions,
            key_usage: key_usage::KeyUsage::default(),
            hosts: hostctl::Hosts::default(),
            explorers: Default::default(),
            explorer_turn: Default::default(),
            sql_slots: sql::SqlSlots::new(settings.limits.sql_per_database, settings.limits.sql_total),
            dumps: Arc::new(tokio::sync::Semaphore::new(settings.limits.dumps_at_once)),
            data_api: Default::default(),
            audit: sql::audit_writer::AuditWriter::new(store.clone()),
            jwks: jwks::JwksCache::new(settings.limits.jwks_private_networks)?,
            store,
            settings,
        })
    }
}
