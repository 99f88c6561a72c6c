//! The data API's keys and auth config, per database: publishable keys (browsers: allowed
//! origins, exposed schemas and tables, a rate limit), service keys (servers: bypass RLS),
//! and the auth config that says which JWTs make a request `authenticated`. One stream per
//! database (`dataapi-<uuid>`).
//!
//! A key is `brth_pk_<prefix>_<secret>` or `brth_sk_<prefix>_<secret>`; events carry its
//! public prefix and the keyed hash of its secret (as `ApiKeyCreated` does), never the secret.
//! The auth config holds only public material: a JWKS URL or a JWK Set of public keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Activity, Aggregate};
pub use crate::data_api_rules::{AuthConfigError, SpecError};
use crate::{DataKeyId, DatabaseId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKeyKind {
    /// For browsers: `anon`, or `authenticated` with a verified JWT.
    Publishable,
    /// For servers: the database's `service` role, which bypasses RLS.
    Service,
}

impl DataKeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publishable => "publishable",
            Self::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Publishable, Self::Service].into_iter().find(|k| k.as_str() == s)
    }

    /// The tag in the key's text: `brth_pk_…`, `brth_sk_…`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Publishable => "pk",
            Self::Service => "sk",
        }
    }
}

/// A token bucket: `rps` requests per second on average, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KeyRateLimit {
    pub rps: f64,
    pub burst: f64,
}

/// What a key may reach. Service keys have the defaults (any origin, `public`, every table,
/// no rate limit of their own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySpec {
    /// `scheme://host[:port]`, lower case; empty admits any origin.
    pub allowed_origins: Vec<String>,
    /// Never empty (default `["public"]`).
    pub exposed_schemas: Vec<String>,
    /// `table` or `schema.table`; empty exposes every table of the exposed schemas.
    pub exposed_tables: Vec<String>,
    pub rate_limit: Option<KeyRateLimit>,
}

impl Default for KeySpec {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            exposed_schemas: vec!["public".into()],
            exposed_tables: Vec::new(),
            rate_limit: None,
        }
    }
}

/// How bearer JWTs are verified (`auth_mode: "byo_jwt"`, the one mode there is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthConfig {
    /// Exactly one of `jwks_url` and `jwks`.
    pub jwks_url: Option<String>,
    /// A JWK Set of public keys.
    pub jwks: Option<serde_json::Value>,
    pub issuer: String,
    pub audience: String,
    pub subject_claim: String,
    /// The claims passed on to SQL (`request.jwt.claims`); others are dropped.
    pub claims_allowlist: Vec<String>,
    /// The filtered claims' JSON may be at most this long; a longer token is refused.
    pub claims_max_bytes: u32,
}

impl AuthConfig {
    pub const DEFAULT_SUBJECT_CLAIM: &'static str = "sub";
    pub const DEFAULT_CLAIMS_ALLOWLIST: [&'static str; 5] = ["sub", "role", "email", "aud", "exp"];
    pub const DEFAULT_CLAIMS_MAX_BYTES: u32 = 4096;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DataApiEvent {
    DataKeyCreated {
        database_id: DatabaseId,
        key_id: DataKeyId,
        kind: DataKeyKind,
        name: String,
        /// The public part of the key, by which it is looked up.
        prefix: String,
        /// HMAC of the secret under the platform's hash key.
        hash: String,
        spec: KeySpec,
        expires_at: Option<DateTime<Utc>>,
    },
    DataKeyRevoked {
        database_id: DatabaseId,
        key_id: DataKeyId,
        kind: DataKeyKind,
    },
    AuthConfigChanged {
        database_id: DatabaseId,
        config: AuthConfig,
    },
}

impl DataApiEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::DataKeyCreated { .. } => "DataKeyCreated",
            Self::DataKeyRevoked { .. } => "DataKeyRevoked",
            Self::AuthConfigChanged { .. } => "AuthConfigChanged",
        }
    }

    pub fn database_id(&self) -> DatabaseId {
        match self {
            Self::DataKeyCreated { database_id, .. }
            | Self::DataKeyRevoked { database_id, .. }
            | Self::AuthConfigChanged { database_id, .. } => *database_id,
        }
    }

    /// Never the key's hash; the key's public prefix, so a user can tell keys apart.
    pub fn activity(&self) -> Option<Activity> {
        use serde_json::json;
        let (action, details) = match self {
            Self::DataKeyCreated { key_id, kind, name, prefix, spec, expires_at, .. } => {
                let action = match kind {
                    DataKeyKind::Publishable => "publishable_key.create",
                    DataKeyKind::Service => "service_key.create",
                };
                let mut details = json!({ "key_id": key_id.to_string(), "name": name, "prefix": prefix,
                    "expires_at": expires_at });
                if *kind == DataKeyKind::Publishable {
                    details["allowed_origins"] = json!(spec.allowed_origins);
                    details["exposed_schemas"] = json!(spec.exposed_schemas);
                    details["exposed_tables"] = json!(spec.exposed_tables);
                    details["rate_limit"] = json!(spec.rate_limit);
                }
                (action, details)
            }
            Self::DataKeyRevoked { key_id, kind, .. } => {
                let action = match kind {
                    DataKeyKind::Publishable => "publishable_key.revoke",
                    DataKeyKind::Service => "service_key.revoke",
                };
                (action, json!({ "key_id": key_id.to_string() }))
            }
            Self::AuthConfigChanged { config, .. } => (
                "auth_config.update",
                json!({ "auth_mode": "byo_jwt", "issuer": config.issuer, "audience": config.audience,
                        "jwks_url": config.jwks_url, "inline_jwks": config.jwks.is_some(),
                        "subject_claim": config.subject_claim, "claims_allowlist": config.claims_allowlist,
                        "claims_max_bytes": config.claims_max_bytes }),
            ),
        };
        Some(Activity { action, details })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum DataApiCommand {
    CreateKey {
        database_id: DatabaseId,
        key_id: DataKeyId,
        kind: DataKeyKind,
        name: String,
        prefix: String,
        hash: String,
        spec: KeySpec,
        expires_at: Option<DateTime<Utc>>,
        /// Live keys (of both kinds, neither revoked nor expired) the database may hold.
        max_keys: usize,
        now: DateTime<Utc>,
    },
    RevokeKey {
        key_id: DataKeyId,
    },
    Configure {
        database_id: DatabaseId,
        config: AuthConfig,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataApiError {
    #[error("no such key")]
    KeyNotFound,
    #[error("the database holds {0} live data-API keys, its limit; revoke one first")]
    TooManyKeys(usize),
    #[error("invalid field `name`: at most 100 characters")]
    BadName,
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    AuthConfig(#[from] AuthConfigError),
}

/// A key as the aggregate keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub id: DataKeyId,
    pub kind: DataKeyKind,
    pub revoked: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

impl KeyState {
    fn live_at(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expires_at.is_none_or(|t| now < t)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataApi {
    pub database_id: Option<DatabaseId>,
    pub keys: Vec<KeyState>,
    pub auth_config: Option<AuthConfig>,
}

impl Aggregate for DataApi {
    type Command = DataApiCommand;
    type Event = DataApiEvent;
    type Error = DataApiError;

    fn decide(&self, command: &DataApiCommand) -> Result<Vec<DataApiEvent>, DataApiError> {
        use DataApiCommand as C;
        use DataApiEvent as E;
        match command {
            C::CreateKey { database_id, key_id, kind, name, prefix, hash, spec, expires_at, max_keys, now } => {
                if name.chars().count() > 100 {
                    return Err(DataApiError::BadName);
                }
                let spec = spec.clone().normalized()?;
                let live = self.keys.iter().filter(|k| k.live_at(*now)).count();
                if live >= *max_keys {
                    return Err(DataApiError::TooManyKeys(*max_keys));
                }
                Ok(vec![E::DataKeyCreated {
                    database_id: *database_id,
                    key_id: *key_id,
                    kind: *kind,
                    name: name.trim().to_owned(),
                    prefix: prefix.clone(),
                    hash: hash.clone(),
                    spec,
                    expires_at: *expires_at,
                }])
            }
            C::RevokeKey { key_id } => {
                let key = self.keys.iter().find(|k| k.id == *key_id && !k.revoked).ok_or(DataApiError::KeyNotFound)?;
                let database_id = self.database_id.ok_or(DataApiError::KeyNotFound)?;
                Ok(vec![E::DataKeyRevoked { database_id, key_id: key.id, kind: key.kind }])
            }
            C::Configure { database_id, config } => {
                let config = config.clone().validated()?;
                if self.auth_config.as_ref() == Some(&config) {
                    return Ok(vec![]);
                }
                Ok(vec![E::AuthConfigChanged { database_id: *database_id, config }])
            }
        }
    }

    fn apply(&mut self, event: &DataApiEvent) {
        use DataApiEvent as E;
        self.database_id = Some(event.database_id());
        match event {
            E::DataKeyCreated { key_id, kind, expires_at, .. } => {
                self.keys.push(KeyState { id: *key_id, kind: *kind, revoked: false, expires_at: *expires_at })
            }
            E::DataKeyRevoked { key_id, .. } => {
                if let Some(k) = self.keys.iter_mut().find(|k| k.id == *key_id) {
                    k.revoked = true;
                }
            }
            E::AuthConfigChanged { config, .. } => self.auth_config = Some(config.clone()),
        }
    }
}

#[cfg(test)]
#[path = "data_api_tests.rs"]
mod tests;
