//! Caps on what one account or client may make, beyond the plan's quotas. Configurable
//! (`[limits]` in the config file); refusals are 403 `QUOTA_EXCEEDED`, or 429 `RATE_LIMITED`
//! with `retry-after` for the sign-up rate.

use serde::{Deserialize, Serialize};

/// Databases one selected-databases API key may list (`database_ids`): longer lists are 400.
pub const MAX_SELECTED_DATABASES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Live API keys per account (revoked keys do not count).
    pub api_keys_per_account: usize,
    /// Manual backups per database per UTC day (scheduled ones do not count).
    pub manual_backups_per_day: i64,
    /// Anonymous sign-ups per client address per hour, counted in the control plane so every
    /// API process agrees.
    pub anonymous_signups_per_hour: i64,
    /// How long one migration may run (statement, lock wait and whole transaction).
    pub migration_timeout_secs: u64,
    /// How long one dump may stream before pg_dump is stopped.
    pub dump_deadline_secs: u64,
    /// Dumps streaming at once per API process; past it `POST …/dump` is 429 `RATE_LIMITED`.
    pub dumps_at_once: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            api_keys_per_account: 50,
            manual_backups_per_day: 20,
            anonymous_signups_per_hour: 10,
            migration_timeout_secs: 300,
            dump_deadline_secs: 1800,
            dumps_at_once: 4,
        }
    }
}
