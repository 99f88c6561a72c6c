//! Berth's persistence: the append-only event log, its read models, the consumers of its
//! global order, and the secrets vault. This crate owns all of the control plane's SQL.
//!
//! Durability: an append commits the events, the stream's new version and the read-model
//! rows they project to in one transaction, so what the API reads back always agrees with
//! the log. Consumers that react to events (job dispatch) are at-least-once and idempotent.

pub mod accounts;
pub mod allowlists;
pub mod api_keys;
mod append;
pub mod audit;
pub mod backups;
mod codec;
pub mod collaborators;
pub mod commit_barrier;
pub mod consumer;
pub mod data_api;
pub mod dbusers;
pub mod drift;
mod error;
pub mod hosts;
pub mod incidents;
pub mod mutex;
mod notifier;
pub use notifier::LocalObserver;
mod notify;
mod projection;
mod projection_accounts;
pub mod queries;
pub mod quota;
mod read;
pub mod samples;
pub mod sql;
mod tables;
pub mod usage;
pub mod users;
pub mod vault;

pub use append::{AppendOutcome, ExpectedVersion, Extra, Metadata, NewEvent, HOST_NOT_EMPTY};
pub use codec::{decode, Decoded, StoredEvent};
pub use error::StoreError;
pub use notify::{AppendSignal, OnAppendSignal, HEARTBEAT_EVERY};
pub use read::{Position, RecordedEvent};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

/// Handle on the control-plane database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    config: tokio_postgres::Config,
    keys: Option<std::sync::Arc<vault::Keys>>,
    notifier: std::sync::Arc<notifier::Notifier>,
}

impl Store {
    /// A pool of `size` connections to the control-plane database at `dsn` (libpq key=value
    /// or URL form). Connects lazily; use [`Store::ping`] to check reachability.
    pub fn connect(dsn: &str, size: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config =
            dsn.parse().map_err(|e| StoreError::Config(format!("control-plane DSN: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(size)
            // The most recently used connection first: a lone caller keeps one warm backend
            // instead of cycling through every idle one.
            .queue_mode(deadpool_postgres::QueueMode::Lifo)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Config(e.to_string()))?;
        Ok(Self { pool, config, keys: None, notifier: Default::default() })
    }

    /// The platform keys used to seal and open secrets, fixed for the life of the store.
    pub fn with_keyring(mut self, keyring: vault::Keyring) -> Self {
        self.keys = Some(std::sync::Arc::new(vault::Keys::new(keyring, None)));
        self
    }

    /// The platform keys, followed as `source` changes (a key rotation by another process):
    /// the store checks the source before sealing and when a row names a key it lacks.
    pub fn with_key_source(mut self, keyring: vault::Keyring, source: std::sync::Arc<dyn vault::KeySource>) -> Self {
        self.keys = Some(std::sync::Arc::new(vault::Keys::new(keyring, Some(source))));
        self
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// A dedicated connection outside the pool (for LISTEN and session advisory locks).
    pub(crate) async fn dedicated(
        &self,
    ) -> Result<
        (tokio_postgres::Client, tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>),
        StoreError,
    > {
        Ok(self.config.connect(tokio_postgres::NoTls).await?)
    }

    /// The store answers and its migrations are applied.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        let client = self.client().await?;
        Ok(schema::is_current(&client).await?)
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        schema::migrate(&mut client).await.map_err(|e| StoreError::Migration(e.to_string()))
    }
}
