//! The data API's keys and auth config (API.md, "Data API (PostgREST-compatible) and browser
//! keys").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A per-key token bucket: `rps` requests per second on average, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitBody {
    #[schema(exclusive_minimum = 0, maximum = 100000)]
    pub rps: f64,
    #[schema(minimum = 1, maximum = 1000000)]
    pub burst: f64,
}

/// `POST /databases/{id}/publishable-keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePublishableKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Origins (`https://app.example.com`) browsers may call from; absent or empty: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// Schemas the key reaches (default `["public"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_schemas: Option<Vec<String>>,
    /// `table` or `schema.table`; absent or empty: every table of the exposed schemas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_tables: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitBody>,
    /// The key stops working this many days from now (1 to 3650); absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::numbers::opt_u64")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u64>,
}

/// `POST /databases/{id}/service-keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::numbers::opt_u64")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u64>,
}

/// A publishable key's metadata (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PublishableKeyView {
    pub id: String,
    pub name: String,
    /// The key's public part: `brth_pk_<prefix>_…`.
    pub prefix: String,
    pub allowed_origins: Vec<String>,
    pub exposed_schemas: Vec<String>,
    pub exposed_tables: Vec<String>,
    pub rate_limit: Option<RateLimitBody>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Returned by create: the only time `publishable_key` is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublishableKeyCreated {
    #[serde(flatten)]
    pub meta: PublishableKeyView,
    pub publishable_key: String,
}

/// A service key's metadata (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceKeyView {
    pub id: String,
    pub name: String,
    /// The key's public part: `brth_sk_<prefix>_…`.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Returned by create: the only time `service_key` is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceKeyCreated {
    #[serde(flatten)]
    pub meta: ServiceKeyView,
    pub service_key: String,
}

/// How bearer JWTs are verified: exactly one of `jwks_url` and `jwks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ByoJwtBody {
    /// An `http(s)://` URL serving the issuer's JWK Set (fetched with a 5 s deadline, at
    /// most 256 KiB; refreshed every 5 minutes and on an unknown `kid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// A JWK Set `{"keys": [...]}` of public keys (RSA, EC, OKP); private members are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Must equal the token's `iss`.
    pub issuer: String,
    /// Must be among the token's `aud`.
    pub audience: String,
    /// The claim naming the user; must be a non-empty string (default `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_claim: Option<String>,
    /// The claims passed on to SQL in `request.jwt.claims` (default `sub`, `role`, `email`,
    /// `aud`, `exp`); others are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims_allowlist: Option<Vec<String>>,
    /// The passed-on claims' JSON may be at most this long (default 4096); longer: refused.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::numbers::opt_u64")]
    #[schema(minimum = 64, maximum = 65536)]
    pub claims_max_bytes: Option<u64>,
}

/// `PUT /databases/{id}/auth-config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthConfigBody {
    /// `byo_jwt`: the one mode.
    pub auth_mode: String,
    pub byo_jwt: ByoJwtBody,
}

/// A database's auth config, with every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ByoJwtView {
    pub jwks_url: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    pub issuer: String,
    pub audience: String,
    pub subject_claim: String,
    pub claims_allowlist: Vec<String>,
    pub claims_max_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthConfigView {
    pub auth_mode: String,
    pub byo_jwt: ByoJwtView,
}
