//! API keys of an account: create (all databases or selected ones, each `ro` or `rw`), list, replace the
//! secret, revoke. Decided by the `Account` aggregate; the full key is returned once.

use domain::{AccountCommand, AccountError, ApiKeyId, KeyScope};
use eventstore::api_keys::KeyRow;
use eventstore::Metadata;

use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::Error;
use crate::limits::MAX_SELECTED_DATABASES;
use crate::{accounts, keys, Control};

fn account_error(e: AccountError) -> Error {
    match e {
        AccountError::PlanRequired(plan) => Error::PlanRequired(format!("the {plan} plan does not include API keys")),
        AccountError::KeyNotFound => Error::NotFound("API key"),
        e @ AccountError::TooManyKeys(_) => Error::QuotaExceeded(e.to_string()),
        AccountError::BadLabel | AccountError::EmptySelection | AccountError::ReadOnlyOutsideSelection => {
            Error::InvalidRequest(e.to_string())
        }
        other => Error::Conflict(other.to_string()),
    }
}

/// A key's row and, for a new or replaced key, its full value (shown once).
pub struct Issued {
    pub key: KeyRow,
    pub secret: String,
}

async fn find(ctx: &Control, caller: &Caller, id: &str) -> Result<KeyRow, Error> {
    let id = ApiKeyId::parse(id).map_err(|_| Error::NotFound("API key"))?;
    let keys = ctx.store.api_keys(caller.account_id).await?;
    keys.into_iter().find(|k| k.id == id).ok_or(Error::NotFound("API key"))
}

/// A database a selected-databases key may reach, as asked for, and whether it is `ro`.
pub struct Grant {
    pub id: String,
    pub read_only: bool,
}

/// The databases of a selected key as the body names them: `database_ids` (each `rw`) or
/// `databases` (each with its access); exactly one of them, or neither.
pub fn grants(
    database_ids: Option<Vec<String>>,
    databases: Option<Vec<wire::KeyDatabase>>,
) -> Result<Option<Vec<Grant>>, Error> {
    match (database_ids, databases) {
        (Some(_), Some(_)) => {
            Err(Error::InvalidRequest("invalid request: give `databases` or `database_ids`, not both".into()))
        }
        (Some(ids), None) => Ok(Some(ids.into_iter().map(|id| Grant { id, read_only: false }).collect())),
        (None, Some(dbs)) => dbs
            .into_iter()
            .map(|d| match d.access.as_str() {
                "ro" => Ok(Grant { id: d.id, read_only: true }),
                "rw" => Ok(Grant { id: d.id, read_only: false }),
                _ => Err(Error::InvalidRequest("invalid field `databases`: `access` is `ro` or `rw`".into())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        (None, None) => Ok(None),
    }
}

/// The databases a selected-databases key may reach (each must be one the caller may see),
/// and those of them it reaches read-only. Repeats count once; the same database both `ro`
/// and `rw` is 400.
async fn selection(
    ctx: &Control,
    caller: &Caller,
    grants: &[Grant],
) -> Result<(Vec<domain::DatabaseId>, Vec<domain::DatabaseId>), Error> {
    if grants.len() > MAX_SELECTED_DATABASES {
        return Err(Error::InvalidRequest(format!(
            "invalid field `databases` (or `database_ids`): at most {MAX_SELECTED_DATABASES} databases"
        )));
    }
    let (mut parsed, mut read_only) = (Vec::new(), Vec::new());
    for grant in grants {
        let (db, _) = load_authorized(ctx, caller, &grant.id, Action::View).await?;
        if parsed.contains(&db.id) {
            if read_only.contains(&db.id) != grant.read_only {
                return Err(Error::InvalidRequest(format!(
                    "invalid field `databases`: {} is listed both `ro` and `rw`",
                    db.id
                )));
            }
            continue;
        }
        parsed.push(db.id);
        if grant.read_only {
            read_only.push(db.id);
        }
    }
    Ok((parsed, read_only))
}

/// A new key. `PLAN_REQUIRED` on the free plan, `QUOTA_EXCEEDED` past the account's cap on
/// live keys (revoked keys do not count).
pub async fn create(
    ctx: &Control,
    caller: &Caller,
    label: String,
    scope: Option<&str>,
    grants: Option<Vec<Grant>>,
    meta: Metadata,
) -> Result<Issued, Error> {
    caller.require_full_account()?;
    // The plan first: a refused caller costs one read, whatever the body holds.
    let plan = accounts::plan_of(ctx, caller.account_id).await?;
    if !plan.allows_api_keys() {
        return Err(account_error(AccountError::PlanRequired(plan.as_str())));
    }
    let (scope, read_only) = match (scope.unwrap_or("all"), grants) {
        ("all", None) => (KeyScope::All, vec![]),
        ("all", Some(_)) => {
            return Err(Error::InvalidRequest(
                "invalid field `database_ids`/`databases`: only with scope `selected`".into(),
            ))
        }
        ("selected", Some(grants)) => {
            let (ids, read_only) = selection(ctx, caller, &grants).await?;
            (KeyScope::Selected(ids), read_only)
        }
        ("selected", None) => {
            return Err(Error::InvalidRequest(
                "invalid field `databases`: `databases` or `database_ids` is required with scope `selected`".into(),
            ))
        }
        _ => return Err(Error::InvalidRequest("invalid field `scope`: `all` or `selected`".into())),
    };
    let new = keys::generate(&ctx.store.keyring()?.hash_key);
    let id = ApiKeyId::new();
    let cmd = AccountCommand::CreateKey {
        user_id: caller.user_id,
        api_key_id: id,
        prefix: new.prefix.clone(),
        hash: new.hash.clone(),
        label,
        scope,
        read_only,
        max_keys: ctx.settings.limits.api_keys_per_account,
    };
    accounts::execute(ctx, caller.account_id, &cmd, meta).await?.map_err(account_error)?;
    Ok(Issued { key: find(ctx, caller, &id.to_string()).await?, secret: new.key })
}

pub async fn list(ctx: &Control, caller: &Caller) -> Result<Vec<KeyRow>, Error> {
    caller.require_full_account()?;
    Ok(ctx.store.api_keys(caller.account_id).await?)
}

/// A new secret for the same key: the old secret stops working at once.
pub async fn replace(ctx: &Control, caller: &Caller, id: &str, meta: Metadata) -> Result<Issued, Error> {
    caller.require_full_account()?;
    let current = find(ctx, caller, id).await?;
    let new = keys::generate(&ctx.store.keyring()?.hash_key);
    let cmd = AccountCommand::ReplaceKey { api_key_id: current.id, prefix: new.prefix.clone(), hash: new.hash.clone() };
    accounts::execute(ctx, caller.account_id, &cmd, meta).await?.map_err(account_error)?;
    Ok(Issued { key: find(ctx, caller, id).await?, secret: new.key })
}

/// Revokes a key, effective on the very next request.
pub async fn revoke(ctx: &Control, caller: &Caller, id: &str, meta: Metadata) -> Result<(), Error> {
    caller.require_full_account()?;
    let current = find(ctx, caller, id).await?;
    let cmd = AccountCommand::RevokeKey { api_key_id: current.id };
    accounts::execute(ctx, caller.account_id, &cmd, meta).await?.map_err(account_error)?;
    Ok(())
}
