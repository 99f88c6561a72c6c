//! What a data-API key's spec and an auth config may say. Each error names the field, so the
//! API answers `400 INVALID_REQUEST` with a message a user can act on.

use crate::data_api::{AuthConfig, KeySpec};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("invalid field `allowed_origins`: {0}")]
    Origin(String),
    #[error("invalid field `exposed_schemas`: {0}")]
    Schema(String),
    #[error("invalid field `exposed_tables`: {0}")]
    Table(String),
    /// A `schema.table` whose schema is not exposed: well-formed, but it could never be reached.
    #[error("invalid field `exposed_tables`: {0:?} names a schema that is not among exposed_schemas")]
    TableSchema(String),
    #[error(
        "invalid field `rate_limit`: rps must be above 0 and at most 100000, burst at least 1 and at most 1000000"
    )]
    RateLimit,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("invalid field `byo_jwt`: give exactly one of `jwks_url` and `jwks`")]
    KeySource,
    #[error("invalid field `jwks_url`: {0}")]
    JwksUrl(&'static str),
    #[error("invalid field `jwks`: {0}")]
    Jwks(String),
    #[error("invalid field `{0}`: {1}")]
    Field(&'static str, &'static str),
}

const MAX_ORIGINS: usize = 50;
const MAX_SCHEMAS: usize = 20;
const MAX_TABLES: usize = 200;
const MAX_JWKS_KEYS: usize = 20;
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Members of a JWK that hold private or symmetric key material (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// An origin as browsers send it: `http(s)://host[:port]`, no path, lower case.
fn origin(raw: &str) -> Result<String, SpecError> {
    let o = raw.trim().to_ascii_lowercase();
    let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
    let ok = rest.is_some_and(|host| {
        !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    if !ok {
        return Err(SpecError::Origin(format!("{raw:?} is not an origin like https://app.example.com (no path)")));
    }
    Ok(o)
}

/// A PostgreSQL identifier the data API will quote: letters, digits, `_`, `$`, not starting
/// with a digit, at most 63 bytes; the system schemas are never exposed.
pub fn identifier(s: &str) -> bool {
    let first_ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

fn system_schema(s: &str) -> bool {
    s.starts_with("pg_") || s == "information_schema"
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
}

impl KeySpec {
    /// The spec as stored: origins lower case, duplicates dropped, `public` when no schema is
    /// given; or what is wrong with it.
    pub fn normalized(mut self) -> Result<Self, SpecError> {
        if self.allowed_origins.len() > MAX_ORIGINS {
            return Err(SpecError::Origin(format!("at most {MAX_ORIGINS}")));
        }
        self.allowed_origins = self.allowed_origins.iter().map(|o| origin(o)).collect::<Result<_, _>>()?;
        dedup(&mut self.allowed_origins);
        if self.exposed_schemas.is_empty() {
            self.exposed_schemas = vec!["public".into()];
        }
        if self.exposed_schemas.len() > MAX_SCHEMAS {
            return Err(SpecError::Schema(format!("at most {MAX_SCHEMAS}")));
        }
        for s in &self.exposed_schemas {
            if !identifier(s) || system_schema(s) {
                return Err(SpecError::Schema(format!("{s:?} is not a schema name that can be exposed")));
            }
        }
        dedup(&mut self.exposed_schemas);
        if self.exposed_tables.len() > MAX_TABLES {
            return Err(SpecError::Table(format!("at most {MAX_TABLES}")));
        }
        for t in &self.exposed_tables {
            let ok = match t.split_once('.') {
                Some((schema, table)) => {
                    if identifier(schema) && identifier(table) && !self.exposed_schemas.iter().any(|s| s == schema) {
                        return Err(SpecError::TableSchema(t.clone()));
                    }
                    identifier(schema) && identifier(table)
                }
                None => identifier(t),
            };
            if !ok {
                return Err(SpecError::Table(format!(
                    "{t:?} is not `table` or `schema.table` with the schema among exposed_schemas"
                )));
            }
        }
        dedup(&mut self.exposed_tables);
        if let Some(r) = self.rate_limit {
            let rps_ok = r.rps.is_finite() && r.rps > 0.0 && r.rps <= 100_000.0;
            let burst_ok = r.burst.is_finite() && r.burst >= 1.0 && r.burst <= 1_000_000.0;
            if !rps_ok || !burst_ok {
                return Err(SpecError::RateLimit);
            }
        }
        Ok(self)
    }
}

fn text(field: &'static str, value: &str, max: usize) -> Result<(), AuthConfigError> {
    if value.trim().is_empty() {
        return Err(AuthConfigError::Field(field, "must not be empty"));
    }
    if value.len() > max || value.chars().any(char::is_control) {
        return Err(AuthConfigError::Field(field, "too long, or holds a control character"));
    }
    Ok(())
}

/// `http(s)://host…`, no user info, no whitespace.
fn jwks_url(url: &str) -> Result<(), AuthConfigError> {
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AuthConfigError::JwksUrl("too long, or holds whitespace"));
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match authority {
        None => Err(AuthConfigError::JwksUrl("must be an http:// or https:// URL")),
        Some("") => Err(AuthConfigError::JwksUrl("has no host")),
        Some(a) if a.contains('@') => Err(AuthConfigError::JwksUrl("must not carry user information")),
        Some(_) => Ok(()),
    }
}

/// A JWK Set of public signing keys: `{"keys": [..]}`, each of kty RSA, EC or OKP, none
/// holding private or symmetric key material.
fn jwks(set: &serde_json::Value) -> Result<(), AuthConfigError> {
    let bad = |m: String| AuthConfigError::Jwks(m);
    if set.to_string().len() > MAX_JWKS_BYTES {
        return Err(bad(format!("at most {MAX_JWKS_BYTES} bytes")));
    }
    let keys = set.get("keys").and_then(|k| k.as_array()).ok_or_else(|| bad("a JWK Set: {\"keys\": [...]}".into()))?;
    if keys.is_empty() || keys.len() > MAX_JWKS_KEYS {
        return Err(bad(format!("between 1 and {MAX_JWKS_KEYS} keys")));
    }
    for (i, key) in keys.iter().enumerate() {
        let key = key.as_object().ok_or_else(|| bad(format!("keys[{i}] is not an object")))?;
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| key.contains_key(**m)) {
            return Err(bad(format!("keys[{i}] holds private key material (`{m}`); give public keys only")));
        }
        match key.get("kty").and_then(|k| k.as_str()) {
            Some("RSA" | "EC" | "OKP") => {}
            _ => return Err(bad(format!("keys[{i}]: kty must be RSA, EC or OKP (public signing keys)"))),
        }
    }
    Ok(())
}

impl AuthConfig {
    /// The config as stored, or what is wrong with it.
    pub fn validated(mut self) -> Result<Self, AuthConfigError> {
        match (&self.jwks_url, &self.jwks) {
            (Some(url), None) => jwks_url(url)?,
            (None, Some(set)) => jwks(set)?,
            _ => return Err(AuthConfigError::KeySource),
        }
        text("issuer", &self.issuer, 2048)?;
        text("audience", &self.audience, 2048)?;
        text("subject_claim", &self.subject_claim, 100)?;
        if self.claims_allowlist.len() > 100 {
            return Err(AuthConfigError::Field("claims_allowlist", "at most 100 claims"));
        }
        for c in &self.claims_allowlist {
            text("claims_allowlist", c, 100)?;
        }
        dedup(&mut self.claims_allowlist);
        if !(64..=65_536).contains(&self.claims_max_bytes) {
            return Err(AuthConfigError::Field("claims_max_bytes", "between 64 and 65536"));
        }
        Ok(self)
    }
}
