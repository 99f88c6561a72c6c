//! A database's data-API auth config (`GET`/`PUT /databases/{id}/auth-config`, owners and
//! admins) and [`verify_jwt`], which the data API's request path calls with a bearer JWT.
//!
//! Decisions: only `byo_jwt`; only asymmetric signatures (RS/PS 256–512, ES256/384, EdDSA),
//! the key's type must fit the token's `alg` (and the key's own `alg`, if it names one), so a
//! public key can never be used as an HMAC secret; `iss`, `aud` and `exp` are required, `nbf`
//! checked when present, 30 s of clock leeway; the subject claim must be a non-empty string;
//! the claims passed on are exactly those of `claims_allowlist` that the token has, and their
//! JSON must fit `claims_max_bytes`. Tokens over 16 KiB are refused unread.

use std::sync::Arc;

use domain::{AuthConfig, DataApiCommand, DatabaseId};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::authz::Action;
use crate::caller::Caller;
use crate::data_keys::execute;
use crate::databases::load_authorized;
use crate::error::Error;
use crate::{jwks, Control, Metadata};

/// What `PUT /auth-config` says under `byo_jwt`; what is left out takes the default.
#[derive(Debug, Clone, Default)]
pub struct ByoJwtInput {
    pub jwks_url: Option<String>,
    pub jwks: Option<Value>,
    pub issuer: String,
    pub audience: String,
    pub subject_claim: Option<String>,
    pub claims_allowlist: Option<Vec<String>>,
    pub claims_max_bytes: Option<u32>,
}

/// Why a bearer JWT was not accepted. The message names the check, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtRejected {
    #[error("the database has no auth config; a JWT cannot be verified")]
    NoAuthConfig,
    #[error("the JWT is malformed")]
    Malformed,
    #[error("the JWT's algorithm is not accepted (RS256/384/512, PS256/384/512, ES256/384, EdDSA)")]
    Algorithm,
    #[error("no key of the auth config's JWKS signed this JWT (unknown `kid`)")]
    UnknownKey,
    #[error("the JWT's signature is not valid")]
    Signature,
    #[error("the JWT has expired")]
    Expired,
    #[error("the JWT is not valid yet (`nbf`)")]
    NotYetValid,
    #[error("the JWT's issuer is not the auth config's")]
    Issuer,
    #[error("the JWT's audience is not the auth config's")]
    Audience,
    #[error("the JWT lacks a required claim: {0}")]
    MissingClaim(String),
    #[error("the JWT's claims are over {0} bytes")]
    ClaimsTooLarge(u32),
    /// The issuer's JWKS could not be fetched (answer 503, not 401).
    #[error("the auth config's JWKS could not be fetched")]
    JwksUnavailable,
    /// The control-plane store did not answer (answer 503).
    #[error("the control-plane database is unavailable")]
    Unavailable,
}

impl JwtRejected {
    /// Whether the failure is ours or the issuer's, not the token's (503 rather than 401).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::JwksUnavailable | Self::Unavailable)
    }
}

const MAX_TOKEN_BYTES: usize = 16 * 1024;
const LEEWAY_SECS: u64 = 30;
const ACCEPTED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// `GET /databases/{id}/auth-config`: `NOT_FOUND` until one is set.
pub async fn get(ctx: &Control, caller: &Caller, id: &str) -> Result<AuthConfig, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "the data API")?;
    ctx.store.data_auth_config(db.id).await?.ok_or(Error::NotFound("auth config"))
}

/// Every key of an inline set must be one we can verify with: a set of the right shape whose
/// keys are not usable (an RSA key without its modulus, a curve point off its curve) is 422,
/// valid JSON that cannot work.
fn check_inline(set: &Value) -> Result<(), Error> {
    let bad = |m: String| Error::Unprocessable(format!("invalid field `jwks`: {m}"));
    let keys = jwks::parse(set.to_string().as_bytes()).map_err(|e| bad(e.to_string()))?;
    for (i, k) in keys.keys.iter().enumerate() {
        DecodingKey::from_jwk(k).map_err(|_| bad(format!("keys[{i}] is not a usable public key")))?;
    }
    Ok(())
}

/// `PUT /databases/{id}/auth-config`: replaces the config. Takes effect on the next request.
pub async fn put(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    auth_mode: &str,
    input: ByoJwtInput,
    meta: Metadata,
) -> Result<AuthConfig, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "the data API")?;
    if auth_mode != "byo_jwt" {
        return Err(Error::InvalidRequest("invalid field `auth_mode`: `byo_jwt` is the one mode".into()));
    }
    if let Some(set) = &input.jwks {
        // The domain's rules first: they name private members, which parsing would ignore.
        let probe = AuthConfig { jwks: Some(set.clone()), jwks_url: None, ..defaults(&input) };
        probe.validated().map_err(|e| Error::InvalidRequest(e.to_string()))?;
        check_inline(set)?;
    }
    let config = AuthConfig { jwks_url: input.jwks_url.clone(), jwks: input.jwks.clone(), ..defaults(&input) };
    execute(ctx, db.id, &DataApiCommand::Configure { database_id: db.id, config }, &meta).await?;
    ctx.jwks.forget(db.id);
    ctx.store.data_auth_config(db.id).await?.ok_or(Error::NotFound("auth config"))
}

fn defaults(input: &ByoJwtInput) -> AuthConfig {
    AuthConfig {
        jwks_url: None,
        jwks: None,
        issuer: input.issuer.clone(),
        audience: input.audience.clone(),
        subject_claim: input.subject_claim.clone().unwrap_or_else(|| AuthConfig::DEFAULT_SUBJECT_CLAIM.into()),
        claims_allowlist: input
            .claims_allowlist
            .clone()
            .unwrap_or_else(|| AuthConfig::DEFAULT_CLAIMS_ALLOWLIST.iter().map(|c| (*c).to_owned()).collect()),
        claims_max_bytes: input.claims_max_bytes.unwrap_or(AuthConfig::DEFAULT_CLAIMS_MAX_BYTES),
    }
}

/// Whether `jwk` may verify a token signed with `alg`.
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::AlgorithmFamily as F;
    let family_ok = matches!(
        (&jwk.algorithm, alg.family()),
        (AlgorithmParameters::RSA(_), F::Rsa)
            | (AlgorithmParameters::EllipticCurve(_), F::Ec)
            | (AlgorithmParameters::OctetKeyPair(_), F::Ed)
    );
    let own_alg_ok = jwk.common.key_algorithm.is_none_or(|ka| Algorithm::try_from(ka).ok() == Some(alg));
    family_ok && own_alg_ok
}

fn pick<'a>(keys: &'a JwkSet, kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
}

fn rejected(e: &jsonwebtoken::errors::Error) -> JwtRejected {
    match e.kind() {
        ErrorKind::ExpiredSignature => JwtRejected::Expired,
        ErrorKind::ImmatureSignature => JwtRejected::NotYetValid,
        ErrorKind::InvalidIssuer => JwtRejected::Issuer,
        ErrorKind::InvalidAudience => JwtRejected::Audience,
        ErrorKind::MissingRequiredClaim(c) => JwtRejected::MissingClaim(c.clone()),
        ErrorKind::InvalidSignature => JwtRejected::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => JwtRejected::Algorithm,
        _ => JwtRejected::Malformed,
    }
}

/// A verified JWT: its claims (filtered by the allowlist) and its subject (the per-query
/// audit's identity of a data-API request, whether or not the allowlist keeps it).
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub claims: Value,
    pub subject: String,
}

/// The token's claims, checked against `config` and filtered by its allowlist and cap.
pub fn check_claims(config: &AuthConfig, token: &str, keys: &JwkSet) -> Result<Value, JwtRejected> {
    check(config, token, keys).map(|v| v.claims)
}

/// [`check_claims`], with the subject.
pub fn check(config: &AuthConfig, token: &str, keys: &JwkSet) -> Result<Verified, JwtRejected> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtRejected::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtRejected::Malformed)?;
    if !ACCEPTED.contains(&header.alg) {
        return Err(JwtRejected::Algorithm);
    }
    let jwk = pick(keys, header.kid.as_deref()).ok_or(JwtRejected::UnknownKey)?;
    if !fits(jwk, header.alg) {
        return Err(JwtRejected::Algorithm);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| JwtRejected::UnknownKey)?;
    let mut v = Validation::new(header.alg);
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    v.set_issuer(&[&config.issuer]);
    v.set_audience(&[&config.audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).map_err(|e| rejected(&e))?.claims;
    let subject = match claims.get(&config.subject_claim) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(JwtRejected::MissingClaim(config.subject_claim.clone())),
    };
    let kept: Map<String, Value> =
        claims.into_iter().filter(|(k, _)| config.claims_allowlist.iter().any(|a| a == k)).collect();
    let kept = Value::Object(kept);
    if kept.to_string().len() > config.claims_max_bytes as usize {
        return Err(JwtRejected::ClaimsTooLarge(config.claims_max_bytes));
    }
    Ok(Verified { claims: kept, subject })
}

/// Verifies a bearer JWT with database `db`'s auth config: signature against its JWKS
/// (inline, or fetched and cached — see `jwks`), `iss`, `aud`, `exp`/`nbf`, the subject
/// claim; answers the claims filtered to the allowlist, refused past `claims_max_bytes`.
pub async fn verify_jwt(ctx: &Control, db: DatabaseId, token: &str) -> Result<Value, JwtRejected> {
    verify(ctx, db, token).await.map(|v| v.claims)
}

/// [`verify_jwt`], with the subject.
pub async fn verify(ctx: &Control, db: DatabaseId, token: &str) -> Result<Verified, JwtRejected> {
    let config = match crate::data_cache::auth_config(ctx, db).await.map(|c| (*c).clone()) {
        Ok(Some(c)) => c,
        Ok(None) => return Err(JwtRejected::NoAuthConfig),
        Err(e) => {
            tracing::warn!(error = %e, "reading a data-API auth config failed");
            return Err(JwtRejected::Unavailable);
        }
    };
    let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
    let keys: Arc<JwkSet> = ctx.jwks.keys(db, &config, kid.as_deref()).await.map_err(|e| match e {
        jwks::JwksError::Fetch(_) => JwtRejected::JwksUnavailable,
        jwks::JwksError::Parse(_) if config.jwks.is_some() => JwtRejected::UnknownKey,
        jwks::JwksError::Parse(_) => JwtRejected::JwksUnavailable,
    })?;
    check(&config, token, &keys)
}

#[cfg(test)]
#[path = "data_auth_tests.rs"]
mod tests;
