//! `last_used_at` of API keys without a write per request: uses are noted in memory and
//! flushed in one statement every few seconds, so the figure lags by at most that.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::ApiKeyId;
use eventstore::Store;
use parking_lot::Mutex;

#[derive(Default)]
pub struct KeyUsage {
    pending: Mutex<HashMap<ApiKeyId, DateTime<Utc>>>,
}

pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

impl KeyUsage {
    pub fn record(&self, key: ApiKeyId) {
        self.pending.lock().insert(key, Utc::now());
    }

    pub async fn flush(&self, store: &Store) {
        let batch: Vec<(ApiKeyId, DateTime<Utc>)> = self.pending.lock().drain().collect();
        if let Err(e) = store.touch_api_keys(&batch).await {
            tracing::warn!(error = %e, keys = batch.len(), "could not record API key use");
        }
    }
}
