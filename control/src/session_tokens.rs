//! Session tokens: short-lived JWTs (HS256) that Berth signs itself, for users who signed in
//! with an OIDC identity and for anonymous accounts. The signing key is derived from the
//! platform's hash key, so every API process of a deployment accepts every other's tokens.
//! Each token carries an id (`jti`): logout records it as ended (an event, projected into
//! `ended_sessions`) and the API refuses it from then on.

use chrono::{DateTime, Duration, Utc};
use domain::{AccountId, PlatformRole, UserId};
use hmac::{Hmac, Mac};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "berth";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    acct: String,
    role: PlatformRole,
    anon: bool,
    iat: i64,
    exp: i64,
    jti: uuid::Uuid,
    /// The prefix of the API key a dashboard session was signed in with: the session lives
    /// only as long as that key (see the dashboard's cookie sign-in in `api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kp: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub platform_role: PlatformRole,
    pub anonymous: bool,
}

/// A token that verified: who it is for, its id and when it expires.
#[derive(Debug, Clone)]
pub struct VerifiedSession {
    pub session: Session,
    pub id: uuid::Uuid,
    pub expires_at: DateTime<Utc>,
    /// Signed in with this API key (its prefix): valid only while the key is.
    pub key_prefix: Option<String>,
}

#[derive(Clone)]
pub struct Sessions {
    secret: [u8; 32],
    pub ttl: Duration,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// A session just signed in to.
pub struct Issued {
    pub token: String,
    pub id: uuid::Uuid,
    pub expires_at: DateTime<Utc>,
}

impl Sessions {
    pub fn new(hash_key: &[u8; 32], ttl: Duration) -> Self {
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(hash_key).expect("HMAC takes any key length");
        mac.update(b"berth session signing");
        Self { secret: mac.finalize().into_bytes().into(), ttl }
    }

    pub fn issue(&self, s: &Session) -> (String, DateTime<Utc>) {
        let issued = self.start(s, None);
        (issued.token, issued.expires_at)
    }

    /// A new session's token, id and expiry. With `key_prefix`, the session is bound to that
    /// API key: refused once the key is revoked or replaced. (Routes sign in through
    /// `crate::sessions::sign_in`, which also records the sign-in.)
    pub fn start(&self, s: &Session, key_prefix: Option<&str>) -> Issued {
        let id = uuid::Uuid::new_v4();
        let (token, expires_at) = self.issue_with(s, key_prefix.map(str::to_owned), id);
        Issued { token, id, expires_at }
    }

    fn issue_with(&self, s: &Session, kp: Option<String>, jti: uuid::Uuid) -> (String, DateTime<Utc>) {
        let now = Utc::now();
        let exp = now + self.ttl;
        let claims = Claims {
            iss: ISSUER.into(),
            sub: s.user_id.to_string(),
            acct: s.account_id.to_string(),
            role: s.platform_role,
            anon: s.anonymous,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            jti,
            kp,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&self.secret))
            .expect("HS256 signing does not fail");
        (token, exp)
    }

    /// The session a token carries, if it is ours, intact and not expired (whether it was
    /// ended is for the caller to check against the store).
    pub fn verify(&self, token: &str) -> Option<VerifiedSession> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = decode::<Claims>(token, &DecodingKey::from_secret(&self.secret), &v).ok()?;
        let c = data.claims;
        let session = Session {
            user_id: UserId::parse(&c.sub).ok()?,
            account_id: AccountId::parse(&c.acct).ok()?,
            platform_role: c.role,
            anonymous: c.anon,
        };
        Some(VerifiedSession { session, id: c.jti, expires_at: DateTime::from_timestamp(c.exp, 0)?, key_prefix: c.kp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            user_id: UserId::new(),
            account_id: AccountId::new(),
            platform_role: PlatformRole::User,
            anonymous: false,
        }
    }

    #[test]
    fn issued_tokens_verify_and_tampered_or_foreign_ones_do_not() {
        let s = Sessions::new(&[1; 32], Duration::minutes(5));
        let (token, _) = s.issue(&session());
        assert!(s.verify(&token).is_some());
        let (again, _) = s.issue(&session());
        let id = |t: &str| s.verify(t).map(|v| v.id);
        assert_ne!(id(&token), id(&again), "every token has an id of its own");
        assert!(Sessions::new(&[2; 32], Duration::minutes(5)).verify(&token).is_none());
        let mut bad = token.clone();
        bad.pop();
        assert!(s.verify(&bad).is_none());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let s = Sessions::new(&[1; 32], Duration::seconds(-10));
        let (token, _) = s.issue(&session());
        assert!(s.verify(&token).is_none());
    }
}
