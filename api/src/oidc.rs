//! Verifying OIDC id tokens against a configured issuer, audience and JWKS (from a file or
//! fetched once from a URL at start-up). Only RS256/ES256 signed tokens with a verified
//! email are accepted.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub issuer: String,
    pub audience: String,
    /// A JWKS document on disk…
    pub jwks_file: Option<std::path::PathBuf>,
    /// …or at a URL.
    pub jwks_url: Option<String>,
    /// The issuer's authorization endpoint. When set, the dashboard signs users in through
    /// it (implicit flow, `response_type=id_token`, `client_id` = `audience`, redirect URI =
    /// the dashboard's own URL `/`).
    pub authorize_url: Option<String>,
}

pub struct Oidc {
    issuer: String,
    audience: String,
    keys: JwkSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: String,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the id token is not valid")]
    Invalid,
    #[error("the id token carries no verified email")]
    NoVerifiedEmail,
}

impl Oidc {
    pub async fn load(c: &OidcConfig) -> anyhow::Result<Self> {
        let text = match (&c.jwks_file, &c.jwks_url) {
            (Some(path), _) => std::fs::read_to_string(path)?,
            (None, Some(url)) => reqwest::get(url).await?.error_for_status()?.text().await?,
            (None, None) => anyhow::bail!("oidc needs jwks_file or jwks_url"),
        };
        let keys: JwkSet = serde_json::from_str(&text)?;
        Ok(Self { issuer: c.issuer.clone(), audience: c.audience.clone(), keys })
    }

    pub fn verify(&self, id_token: &str) -> Result<Identity, OidcError> {
        let header = decode_header(id_token).map_err(|_| OidcError::Invalid)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(OidcError::Invalid);
        }
        let jwk = match &header.kid {
            Some(kid) => self.keys.find(kid),
            None if self.keys.keys.len() == 1 => self.keys.keys.first(),
            None => None,
        }
        .ok_or(OidcError::Invalid)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| OidcError::Invalid)?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<IdClaims>(id_token, &key, &v).map_err(|_| OidcError::Invalid)?.claims;
        let verified = matches!(claims.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&claims.email_verified, Some(serde_json::Value::String(s)) if s == "true");
        let email = claims.email.filter(|_| verified).ok_or(OidcError::NoVerifiedEmail)?;
        Ok(Identity { issuer: self.issuer.clone(), subject: claims.sub, email: email.trim().to_lowercase() })
    }
}
