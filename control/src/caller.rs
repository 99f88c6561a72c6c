//! Who is calling, and how a credential becomes a caller. A credential is an API key
//! (`brth_…`) or a session token (a JWT Berth signed). Anything missing, malformed, unknown,
//! replaced, revoked or expired is `UNAUTHENTICATED` with the same message, so a probe learns
//! nothing about which keys exist. Key rows come from the in-process cache when it may be
//! trusted (`keycache`), else from the store; the secret's HMAC is checked every time.

use domain::{AccountId, Actor, ApiKeyId, DatabaseId, PlatformRole, UserId};

use crate::error::Error;
use crate::keycache::Lookup;
use crate::{keys, Control};

#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub api_key_id: Option<ApiKeyId>,
    pub platform_role: PlatformRole,
    /// `Some` for a key limited to some databases.
    pub selected: Option<Vec<DatabaseId>>,
    /// Databases the key reaches read-only (`ro`): the caller's role there is capped at
    /// developer. Empty for full-account keys and sessions without a key.
    pub read_only: Vec<DatabaseId>,
    /// Signed in with a session of an anonymous account.
    pub anonymous: bool,
    /// The session token's id and expiry, when the credential is a session token.
    pub session: Option<(uuid::Uuid, chrono::DateTime<chrono::Utc>)>,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor { user_id: Some(self.user_id), api_key_id: self.api_key_id }
    }

    /// Use cases that act on the whole account refuse keys limited to some databases.
    pub fn require_full_account(&self) -> Result<(), Error> {
        match self.selected {
            Some(_) => Err(Error::KeyScopeDenied),
            None => Ok(()),
        }
    }

    pub fn require_platform_admin(&self) -> Result<(), Error> {
        match self.platform_role {
            PlatformRole::Admin => Ok(()),
            PlatformRole::User => Err(Error::Forbidden("platform administrators only")),
        }
    }

    /// Whether the key reaches `db` read-only (`ro`).
    pub fn read_only_on(&self, db: DatabaseId) -> bool {
        self.read_only.contains(&db)
    }

    /// Whether a selected-databases key reaches `db` (full-account callers reach all).
    pub fn in_scope(&self, db: DatabaseId) -> bool {
        self.selected.as_ref().is_none_or(|ids| ids.contains(&db))
    }
}

pub const REJECTED: &str = "a valid credential is required: Authorization: Bearer <API key or session token>";

/// The API key row with `prefix`, from the cache when it may be trusted.
async fn key_row(ctx: &Control, prefix: &str) -> Result<std::sync::Arc<eventstore::queries::ApiKeyRow>, Error> {
    Ok(match ctx.key_cache.lookup(prefix) {
        Lookup::Hit(row) => row,
        Lookup::Miss(fill) => {
            let row = ctx.store.api_key_by_prefix(prefix).await?.ok_or(Error::Unauthenticated(REJECTED))?;
            match fill {
                Some(fill) => ctx.key_cache.fill(fill, prefix, row),
                None => std::sync::Arc::new(row),
            }
        }
    })
}

/// The caller a presented credential (API key or session token) stands for.
pub async fn authenticate(ctx: &Control, token: &str) -> Result<Caller, Error> {
    if let Some((prefix, secret)) = keys::split(token) {
        let row = key_row(ctx, prefix).await?;
        let hash_key = &ctx.store.keyring()?.hash_key;
        if row.revoked || !keys::verify(hash_key, secret, &row.hash) {
            return Err(Error::Unauthenticated(REJECTED));
        }
        ctx.key_usage.record(row.id);
        return Ok(Caller {
            account_id: row.account_id,
            user_id: row.user_id,
            api_key_id: Some(row.id),
            platform_role: row.platform_role,
            selected: row.selected.clone(),
            read_only: row.read_only.clone(),
            anonymous: false,
            session: None,
        });
    }
    let verified = ctx.sessions.verify(token).ok_or(Error::Unauthenticated(REJECTED))?;
    let session = verified.session;
    // Ended by logout, or an anonymous account's session after the account was claimed.
    if ctx.store.session_refused(session.account_id, verified.id, session.anonymous).await? {
        return Err(Error::Unauthenticated(REJECTED));
    }
    // A dashboard session signed in with an API key acts as that key (same actor in the
    // log, same scope) and ends with it.
    let mut key = None;
    if let Some(prefix) = &verified.key_prefix {
        let row = key_row(ctx, prefix).await?;
        if row.revoked || row.user_id != session.user_id {
            return Err(Error::Unauthenticated(REJECTED));
        }
        ctx.key_usage.record(row.id);
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
        read_only: key.as_ref().map(|k| k.read_only.clone()).unwrap_or_default(),
        selected: key.and_then(|k| k.selected.clone()),
        anonymous: session.anonymous,
        session: Some((verified.id, verified.expires_at)),
    })
}
