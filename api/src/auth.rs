//! Who is calling. The `Caller` extractor accepts `Authorization: Bearer <credential>` where
//! the credential is an API key (`brth_…`) or a session token (a JWT Berth signed). Anything
//! missing, malformed, unknown, replaced, revoked or expired is 401 `UNAUTHENTICATED` with
//! the same message, so a probe learns nothing about which keys exist. Key rows come from
//! the in-process cache when it may be trusted (`keycache`), else from the store; the
//! secret's HMAC is checked on every request either way.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use domain::{AccountId, Actor, ApiKeyId, DatabaseId, PlatformRole, UserId};

use crate::error::{ApiError, OrInternal};
use crate::keycache::Lookup;
use crate::{keys, AppState};

#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub api_key_id: Option<ApiKeyId>,
    pub platform_role: PlatformRole,
    /// `Some` for a key limited to some databases.
    pub selected: Option<Vec<DatabaseId>>,
    /// Signed in with a session of an anonymous account.
    pub anonymous: bool,
    /// The session token's id and expiry, when the credential is a session token.
    pub session: Option<(uuid::Uuid, chrono::DateTime<chrono::Utc>)>,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor { user_id: Some(self.user_id), api_key_id: self.api_key_id }
    }

    /// Routes that act on the whole account refuse keys limited to some databases.
    pub fn require_full_account(&self) -> Result<(), ApiError> {
        match self.selected {
            Some(_) => Err(ApiError::KeyScopeDenied),
            None => Ok(()),
        }
    }

    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        match self.platform_role {
            PlatformRole::Admin => Ok(()),
            PlatformRole::User => Err(ApiError::Forbidden("platform administrators only")),
        }
    }

    /// Whether a selected-databases key reaches `db` (full-account callers reach all).
    pub fn in_scope(&self, db: DatabaseId) -> bool {
        self.selected.as_ref().is_none_or(|ids| ids.contains(&db))
    }
}

const REJECTED: &str = "a valid credential is required: Authorization: Bearer <API key or session token>";

/// The API key row with `prefix`, from the cache when it may be trusted.
async fn key_row(state: &AppState, prefix: &str) -> Result<std::sync::Arc<eventstore::queries::ApiKeyRow>, ApiError> {
    Ok(match state.key_cache.lookup(prefix) {
        Lookup::Hit(row) => row,
        Lookup::Miss(fill) => {
            let row = state.store.api_key_by_prefix(prefix).await?.ok_or(ApiError::Unauthenticated(REJECTED))?;
            match fill {
                Some(fill) => state.key_cache.fill(fill, prefix, row),
                None => std::sync::Arc::new(row),
            }
        }
    })
}

pub(crate) async fn authenticate(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    if let Some((prefix, secret)) = keys::split(token) {
        let row = key_row(state, prefix).await?;
        let hash_key = &state.store.keyring()?.hash_key;
        if row.revoked || !keys::verify(hash_key, secret, &row.hash) {
            return Err(ApiError::Unauthenticated(REJECTED));
        }
        state.key_usage.record(row.id);
        return Ok(Caller {
            account_id: row.account_id,
            user_id: row.user_id,
            api_key_id: Some(row.id),
            platform_role: row.platform_role,
            selected: row.selected.clone(),
            anonymous: false,
            session: None,
        });
    }
    let verified = state.sessions.verify(token).ok_or(ApiError::Unauthenticated(REJECTED))?;
    let session = verified.session;
    // Ended by logout, or an anonymous account's session after the account was claimed.
    if state.store.session_refused(session.account_id, verified.id, session.anonymous).await? {
        return Err(ApiError::Unauthenticated(REJECTED));
    }
    // A dashboard session signed in with an API key acts as that key (same actor in the
    // log, same scope) and ends with it.
    let mut key = None;
    if let Some(prefix) = &verified.key_prefix {
        let row = key_row(state, prefix).await?;
        if row.revoked || row.user_id != session.user_id {
            return Err(ApiError::Unauthenticated(REJECTED));
        }
        state.key_usage.record(row.id);
        key = Some(row);
    }
    Ok(Caller {
        account_id: session.account_id,
        user_id: session.user_id,
        api_key_id: key.as_ref().map(|k| k.id),
        platform_role: match &key {
            Some(k) if k.platform_role != PlatformRole::Admin => PlatformRole::User,
            _ => session.platform_role,
        },
        selected: key.and_then(|k| k.selected.clone()),
        anonymous: session.anonymous,
        session: Some((verified.id, verified.expires_at)),
    })
}

/// The credential in `Authorization: Bearer …`, if any.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    // Scheme names are case-insensitive (RFC 9110 §11.1): `bearer`, `Bearer`, `BEARER`.
    let (scheme, token) = header.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        // Without `Authorization`, the dashboard's session cookie (with its CSRF check).
        let cookie = if token.is_none() { crate::cookie::credential(req) } else { None };
        Box::pin(async move {
            let state = state.or_internal("the app state is not registered")?;
            let token = token.or_else(|| cookie.as_ref().map(|c| c.token.clone()));
            let token = token.ok_or(ApiError::Unauthenticated(REJECTED))?;
            let caller = authenticate(&state, &token).await?;
            if let Some(cookie) = &cookie {
                crate::cookie::check(&state, &caller, cookie)?;
            }
            if let Some(limiter) = &state.credential_limiter {
                limiter.take(&caller.user_id.to_string()).map_err(ApiError::RateLimited)?;
            }
            Ok(caller)
        })
    }
}
