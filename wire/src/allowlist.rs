//! A database's network allowlist: the rules PgBouncer admits clients by.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /databases/{id}/allowlist`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    /// An IPv4/IPv6 network (`203.0.113.0/24`) or a single address. `0.0.0.0/0` is allowed
    /// and recorded as open to all.
    pub cidr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The rule expires by itself after this many seconds (1 to 2592000).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::numbers::opt_u64")]
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    pub id: String,
    pub cidr: String,
    pub label: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub open_to_all: bool,
    pub created_at: DateTime<Utc>,
}
