//! The data API's keys, per database: publishable keys (`brth_pk_<prefix>_<secret>`, for
//! browsers) and service keys (`brth_sk_<prefix>_<secret>`, for servers). Create, list,
//! revoke (owners and admins: "data-API keys and auth config"), and [`authenticate`], which
//! the data API's request path calls with the `apikey` header.
//!
//! As API keys: a 256-bit secret shown once, stored only as its HMAC under the platform's
//! hash key, compared in constant time; the 8-character prefix is public and is what a key is
//! looked up by. [`authenticate`] reads the key's row from the store on every request, so a
//! revocation or an expiry holds on the very next request in every API process (one indexed
//! read; see the README for why there is no cache yet).

use chrono::{Duration, Utc};
use domain::{DataApi, DataApiCommand, DataApiError, DataKeyId, DatabaseId, DatabaseState, KeyRateLimit, KeySpec};
use eventstore::data_api::DataKeyRow;
use eventstore::Metadata;

pub use domain::DataKeyKind;

use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::Error;
use crate::{keys, Control};

/// A per-key token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub rps: f64,
    pub burst: f64,
}

/// What a valid key grants a data-API request.
#[derive(Debug, Clone, PartialEq)]
pub struct DataKeyGrant {
    pub key_id: String,
    pub database_id: DatabaseId,
    pub kind: DataKeyKind,
    /// Empty: any origin.
    pub allowed_origins: Vec<String>,
    /// Never empty (default `["public"]`).
    pub exposed_schemas: Vec<String>,
    /// `table` or `schema.table`; empty: every table of the exposed schemas.
    pub exposed_tables: Vec<String>,
    pub rate_limit: Option<RateLimit>,
}

/// One message for every refused key, so a probe learns nothing about which keys exist.
pub const REJECTED: &str = "a valid publishable or service key for this database is required in `apikey`";

/// What `POST …/publishable-keys` or `…/service-keys` asks for (service keys: name and
/// expiry only).
#[derive(Debug, Clone, Default)]
pub struct NewDataKey {
    pub name: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub exposed_schemas: Option<Vec<String>>,
    pub exposed_tables: Option<Vec<String>>,
    pub rate_limit: Option<RateLimit>,
    pub expires_in_days: Option<u64>,
}

/// A new key's row and its full text, shown once.
pub struct Issued {
    pub key: DataKeyRow,
    pub secret: String,
}

/// Keys live at most ten years.
const MAX_DAYS: u64 = 3650;

pub(crate) fn data_api_error(e: DataApiError) -> Error {
    match e {
        DataApiError::KeyNotFound => Error::NotFound("key"),
        e @ DataApiError::TooManyKeys(_) => Error::QuotaExceeded(e.to_string()),
        // Well-formed, but naming what could never be reached: valid JSON that cannot work.
        e @ DataApiError::Spec(domain::data_api::SpecError::TableSchema(_)) => Error::Unprocessable(e.to_string()),
        e @ (DataApiError::BadName | DataApiError::Spec(_) | DataApiError::AuthConfig(_)) => {
            Error::InvalidRequest(e.to_string())
        }
    }
}

pub(crate) async fn execute(
    ctx: &Control,
    db: DatabaseId,
    command: &DataApiCommand,
    meta: &Metadata,
) -> Result<Vec<domain::DataApiEvent>, Error> {
    let stream = domain::StreamId::data_api(db);
    ctx.store.execute::<DataApi>(stream.as_str(), command, meta, &[]).await?.map_err(data_api_error)
}

/// `POST /databases/{id}/publishable-keys` and `/service-keys`.
pub async fn create(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    kind: DataKeyKind,
    new: NewDataKey,
    meta: Metadata,
) -> Result<Issued, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "the data API")?;
    let now = Utc::now();
    let expires_at = match new.expires_in_days {
        Some(d @ 1..=MAX_DAYS) => Some(now + Duration::days(i64::try_from(d).unwrap_or(1))),
        Some(_) => {
            return Err(Error::InvalidRequest(format!("invalid field `expires_in_days`: between 1 and {MAX_DAYS}")))
        }
        None => None,
    };
    let spec = KeySpec {
        allowed_origins: new.allowed_origins.unwrap_or_default(),
        exposed_schemas: new.exposed_schemas.unwrap_or_default(),
        exposed_tables: new.exposed_tables.unwrap_or_default(),
        rate_limit: new.rate_limit.map(|r| KeyRateLimit { rps: r.rps, burst: r.burst }),
    };
    // The request roles exist from the first key on, so the tenant can grant them rights
    // before its first request (idempotent; older databases get them here too).
    crate::data_api::ensure_roles(ctx, &db).await?;
    let (prefix, secret) = (keys::random_prefix(), keys::random_secret());
    let key_id = DataKeyId::new();
    let command = DataApiCommand::CreateKey {
        database_id: db.id,
        key_id,
        kind,
        name: new.name.unwrap_or_default(),
        prefix: prefix.clone(),
        hash: keys::hash_secret(&ctx.store.keyring()?.hash_key, &secret),
        spec,
        expires_at,
        max_keys: ctx.settings.limits.data_keys_per_database,
        now,
    };
    execute(ctx, db.id, &command, &meta).await?;
    let key = ctx.store.data_key_by_prefix(&prefix).await?.ok_or(Error::NotFound("key"))?.key;
    Ok(Issued { key, secret: format!("brth_{}_{prefix}_{secret}", kind.tag()) })
}

/// `GET /databases/{id}/publishable-keys` and `/service-keys`: live keys (expired ones
/// included, with their `expires_at`), never a secret or hash.
pub async fn list(ctx: &Control, caller: &Caller, id: &str, kind: DataKeyKind) -> Result<Vec<DataKeyRow>, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "the data API")?;
    Ok(ctx.store.data_keys(db.id, kind).await?)
}

/// `DELETE /databases/{id}/publishable-keys/{key_id}` and `/service-keys/{key_id}`: effective
/// on the very next request.
pub async fn revoke(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    kind: DataKeyKind,
    key_id: &str,
    meta: Metadata,
) -> Result<(), Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    crate::databases::require_postgres(&db, "the data API")?;
    let key_id = DataKeyId::parse(key_id).map_err(|_| Error::NotFound("key"))?;
    let live = ctx.store.data_keys(db.id, kind).await?;
    if !live.iter().any(|k| k.id == key_id) {
        return Err(Error::NotFound("key"));
    }
    execute(ctx, db.id, &DataApiCommand::RevokeKey { key_id }, &meta).await?;
    Ok(())
}

/// Splits `brth_pk_<prefix>_<secret>` into (kind, prefix, secret) if it has that shape.
fn split(presented: &str) -> Option<(DataKeyKind, &str, &str)> {
    let rest = presented.strip_prefix("brth_")?;
    let (tag, rest) = rest.split_once('_')?;
    let kind = [DataKeyKind::Publishable, DataKeyKind::Service].into_iter().find(|k| k.tag() == tag)?;
    let (prefix, secret) = rest.split_once('_')?;
    keys::well_formed(prefix, secret).then_some((kind, prefix, secret))
}

/// The key presented in `apikey` for database `db`: unknown, malformed, revoked, expired, of
/// another database, or of a database being deleted → `UNAUTHENTICATED` (one message for all).
pub async fn authenticate(ctx: &Control, db: DatabaseId, presented: &str) -> Result<DataKeyGrant, Error> {
    let refused = || Error::Unauthenticated(REJECTED);
    let (kind, prefix, secret) = split(presented.trim()).ok_or_else(refused)?;
    let found = crate::data_cache::key(ctx, prefix).await?.ok_or_else(refused)?;
    let key = found.key.clone();
    let hash_key = &ctx.store.keyring()?.hash_key;
    // The HMAC first, so the answer's timing does not tell a known prefix's other checks.
    let verified = keys::verify(hash_key, secret, &key.hash);
    let expired = key.expires_at.is_some_and(|t| Utc::now() >= t);
    let gone = matches!(found.database_state, DatabaseState::Deleting | DatabaseState::Deleted);
    if !verified || key.revoked || expired || gone || key.kind != kind || key.database_id != db {
        return Err(refused());
    }
    Ok(DataKeyGrant {
        key_id: key.id.to_string(),
        database_id: key.database_id,
        kind: key.kind,
        allowed_origins: key.spec.allowed_origins,
        exposed_schemas: key.spec.exposed_schemas,
        exposed_tables: key.spec.exposed_tables,
        rate_limit: key.spec.rate_limit.map(|r| RateLimit { rps: r.rps, burst: r.burst }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_by_kind_and_shape() {
        let (prefix, secret) = (keys::random_prefix(), keys::random_secret());
        let pk = format!("brth_pk_{prefix}_{secret}");
        assert_eq!(split(&pk), Some((DataKeyKind::Publishable, prefix.as_str(), secret.as_str())));
        let sk = format!("brth_sk_{prefix}_{secret}");
        assert_eq!(split(&sk).map(|s| s.0), Some(DataKeyKind::Service));
        for bad in [
            String::new(),
            format!("brth_{prefix}_{secret}"),
            format!("brth_xk_{prefix}_{secret}"),
            format!("brth_pk_{prefix}_{}", &secret[1..]),
            format!("brth_pk_ABCDEFGH_{secret}"),
        ] {
            assert_eq!(split(&bad), None, "{bad}");
        }
    }
}
