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
    /// `POST /databases/{id}/sql`: the statement timeout (a request may ask for less).
    pub sql_timeout_secs: u64,
    /// Rows and bytes of JSON one SQL response carries; past them it is `truncated`.
    pub sql_max_rows: usize,
    pub sql_max_bytes: usize,
    /// SQL requests running at once per database, and in this process; more are 429.
    pub sql_per_database: usize,
    pub sql_total: usize,
    /// How long one migration may run (statement, lock wait and whole transaction).
    pub migration_timeout_secs: u64,
    /// How long one dump may stream before pg_dump is stopped.
    pub dump_deadline_secs: u64,
    /// Dumps streaming at once per API process; past it `POST …/dump` is 429 `RATE_LIMITED`.
    pub dumps_at_once: usize,
    /// The data API: one request's statement timeout, and the most rows one read returns
    /// (a larger `limit` or `Range` is cut to it, as PostgREST's `db-max-rows`).
    pub data_api_timeout_secs: u64,
    pub data_api_max_rows: u64,
    /// Live data-API keys (publishable and service) per database.
    pub data_keys_per_database: usize,
    /// Whether an auth config's `jwks_url` may name a loopback, private or link-local address
    /// (off: a tenant must not make the API reach the operator's internal services).
    pub jwks_private_networks: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            api_keys_per_account: 50,
            manual_backups_per_day: 20,
            anonymous_signups_per_hour: 10,
            sql_timeout_secs: 30,
            sql_max_rows: 10_000,
            sql_max_bytes: 10 << 20,
            sql_per_database: 4,
            sql_total: 32,
            migration_timeout_secs: 300,
            dump_deadline_secs: 1800,
            dumps_at_once: 4,
            data_api_timeout_secs: 10,
            data_api_max_rows: 1000,
            data_keys_per_database: 50,
            jwks_private_networks: false,
        }
    }
}
