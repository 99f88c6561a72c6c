//! Accounts: the operator's bootstrap of the first users, sign-up through a verified
//! identity (and re-linking a known email), anonymous accounts and their claim by a
//! signed-in user, plans. Every event is decided by the `Account` aggregate.

use chrono::Utc;
use domain::{
    Account, AccountCommand, AccountError, AccountEvent, AccountId, ApiKeyId, Plan, PlatformRole, StreamId, UserId,
};
use eventstore::users::UserRow;
use eventstore::{Extra, Metadata, Store};

use crate::caller::Caller;
use crate::error::{Error, OrInternal};
use crate::{keys, Control};

/// Decides and appends an account command on the account's stream.
pub async fn execute(
    ctx: &Control,
    account: AccountId,
    command: &AccountCommand,
    meta: Metadata,
) -> Result<Result<Vec<AccountEvent>, AccountError>, Error> {
    let stream = StreamId::account(account);
    let outcome = ctx.store.execute::<Account>(stream.as_str(), command, &meta, &[]).await;
    // Before answering, whatever the outcome (an error may follow a commit): the next
    // request with a replaced or revoked key must read the store again.
    ctx.key_cache.forget_account(account);
    Ok(outcome?)
}

pub struct Bootstrapped {
    pub user_id: UserId,
    pub account_id: AccountId,
    /// The full key, to print once.
    pub key: String,
    pub created_user: bool,
}

/// Creates the user `email` (with its own account on `plan`) as `role` if missing, and a new
/// operator-issued API key for them either way (`berth admin bootstrap`, `berth up`'s first
/// run): the user's sign-up (no identity: they sign in with the key) and the key are decided
/// by the account (`SignUp`, `IssueOperatorKey`), so the key's label and the cap on live keys
/// (`max_keys`) apply; the plan does not.
pub async fn bootstrap(
    store: &Store,
    email: &str,
    role: PlatformRole,
    plan: Plan,
    max_keys: usize,
) -> Result<Bootstrapped, Error> {
    let email = email.trim().to_lowercase();
    let refused = |e: AccountError| match e {
        AccountError::BadEmail => Error::InvalidRequest(format!("not an email address: {email}")),
        e @ AccountError::TooManyKeys(_) => Error::QuotaExceeded(e.to_string()),
        e => Error::internal(anyhow::Error::new(e).context("bootstrapping a user")),
    };
    let (user_id, account_id, created_user) = match store.user_by_email(&email).await? {
        Some((u, a)) => (u, a, false),
        None => {
            let (account_id, user_id) = (AccountId::new(), UserId::new());
            let cmd = AccountCommand::SignUp {
                account_id,
                user_id,
                email: email.clone(),
                plan,
                platform_role: role,
                identity: None,
            };
            store
                .execute_new::<Account>(StreamId::account(account_id).as_str(), &cmd, &Metadata::default(), &[])
                .await?
                .map_err(refused)?;
            (user_id, account_id, true)
        }
    };
    let key = keys::generate(&store.keyring()?.hash_key);
    let cmd = AccountCommand::IssueOperatorKey {
        user_id,
        api_key_id: ApiKeyId::new(),
        prefix: key.prefix.clone(),
        hash: key.hash.clone(),
        label: "bootstrap".into(),
        max_keys,
    };
    let meta = Metadata { actor: domain::Actor { user_id: Some(user_id), api_key_id: None }, ..Metadata::default() };
    store.execute::<Account>(StreamId::account(account_id).as_str(), &cmd, &meta, &[]).await?.map_err(refused)?;
    Ok(Bootstrapped { user_id, account_id, key: key.key, created_user })
}

/// True when no user exists yet (a fresh platform).
pub async fn is_fresh(store: &Store) -> Result<bool, Error> {
    Ok(store.user_count().await? == 0)
}

/// An identity an identity provider vouched for (an OIDC id token that verified).
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: String,
}

/// Finds or creates the user a verified identity signs in as: a known identity is its user;
/// a new subject for a known email reclaims the same user and account (`LinkIdentity`);
/// otherwise a new user with an account of its own on the free plan (`SignUp`).
pub async fn user_for(ctx: &Control, id: &VerifiedIdentity) -> Result<UserId, Error> {
    if let Some(user) = ctx.store.user_by_identity(&id.issuer, &id.subject).await? {
        return Ok(user);
    }
    let identity = domain::Identity { issuer: id.issuer.clone(), subject: id.subject.clone() };
    let meta =
        |user_id| Metadata { actor: domain::Actor { user_id: Some(user_id), api_key_id: None }, ..Default::default() };
    for _ in 0..2 {
        let (user_id, outcome) = match ctx.store.user_by_email_full(&id.email).await? {
            Some(u) => {
                let cmd = AccountCommand::LinkIdentity { user_id: u.id, identity: identity.clone() };
                let stream = StreamId::account(u.account_id);
                (u.id, ctx.store.execute::<Account>(stream.as_str(), &cmd, &meta(u.id), &[]).await)
            }
            None => {
                let (account_id, user_id) = (AccountId::new(), UserId::new());
                let cmd = AccountCommand::SignUp {
                    account_id,
                    user_id,
                    email: id.email.clone(),
                    plan: Plan::Free,
                    platform_role: PlatformRole::User,
                    identity: Some(identity.clone()),
                };
                let stream = StreamId::account(account_id);
                (user_id, ctx.store.execute_new::<Account>(stream.as_str(), &cmd, &meta(user_id), &[]).await)
            }
        };
        match outcome {
            Ok(Ok(_)) => return Ok(user_id),
            Ok(Err(AccountError::BadEmail)) => {
                return Err(Error::Unauthenticated("the id token's email is not an email address"))
            }
            Ok(Err(e)) => return Err(e).or_internal("signing in a verified identity"),
            // Someone signed in with the same email or identity at the same moment: look again.
            Err(eventstore::StoreError::Conflict(_)) => {
                if let Some(user) = ctx.store.user_by_identity(&id.issuer, &id.subject).await? {
                    return Ok(user);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("sign-in raced with another; retry".into()))
}

/// A new anonymous account: its id and the secret that refreshes its sessions (shown once).
pub struct Anonymous {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub secret: String,
}

/// Creates an anonymous account (free plan). At most `anonymous_signups_per_hour` per client
/// address per hour, counted in the control plane under a keyed hash of the address (the log
/// never holds the address): past it, `RATE_LIMITED` with the wait.
pub async fn create_anonymous(ctx: &Control, client: Option<std::net::IpAddr>) -> Result<Anonymous, Error> {
    let (account_id, user_id) = (AccountId::new(), UserId::new());
    let hash_key = ctx.store.keyring()?.hash_key;
    let secret = keys::anonymous_secret();
    let secret_hash = keys::hash_secret(&hash_key, &secret);
    let source = client.map(|ip| keys::hash_secret(&hash_key, &format!("signup-source:{ip}")));
    let cmd = AccountCommand::CreateAnonymous { account_id, user_id, secret_hash, signup_source: source.clone() };
    let meta = Metadata { actor: domain::Actor { user_id: Some(user_id), api_key_id: None }, ..Metadata::default() };
    let window = chrono::Duration::hours(1);
    let since = Utc::now() - window;
    let max = ctx.settings.limits.anonymous_signups_per_hour;
    let extras: Vec<Extra> = source.iter().map(|s| Extra::SignupRate { source: s.clone(), since, max }).collect();
    match ctx.store.execute_new::<Account>(StreamId::account(account_id).as_str(), &cmd, &meta, &extras).await {
        Ok(Ok(_)) => Ok(Anonymous { account_id, user_id, secret }),
        Ok(Err(e)) => Err(e).or_internal("creating an anonymous account"),
        Err(eventstore::StoreError::QuotaExceeded) => {
            let source = source.unwrap_or_default();
            let oldest = ctx.store.oldest_signup(&source, since).await?.unwrap_or_else(Utc::now);
            let wait = (oldest + window - Utc::now()).to_std().unwrap_or_default();
            Err(Error::RateLimited(wait.max(std::time::Duration::from_secs(1))))
        }
        Err(e) => Err(e.into()),
    }
}

/// The anonymous account's user, if `secret` is its secret and it is still anonymous.
pub async fn check_anonymous(ctx: &Control, account_id: &str, secret: &str) -> Result<(AccountId, UserId), Error> {
    const REFUSED: &str = "unknown anonymous account or wrong secret";
    let account = AccountId::parse(account_id).map_err(|_| Error::Unauthenticated(REFUSED))?;
    let (hash, user) = ctx.store.anonymous_account(account).await?.ok_or(Error::Unauthenticated(REFUSED))?;
    if !keys::verify(&ctx.store.keyring()?.hash_key, secret, &hash) {
        return Err(Error::Unauthenticated(REFUSED));
    }
    Ok((account, user))
}

/// The claim on record: the anonymous account, the account it went into, the databases moved.
pub struct Claimed {
    pub account_id: AccountId,
    pub into: AccountId,
    pub database_ids: Vec<domain::DatabaseId>,
}

/// Moves an anonymous account's databases to the signed-in caller's account and ends the
/// anonymous account's sessions. Idempotent: a retried claim moves nothing twice and answers
/// the same. `QUOTA_EXCEEDED` (nothing moved) past the caller's plan's database slots.
pub async fn claim(
    ctx: &Control,
    caller: &Caller,
    account_id: &str,
    secret: &str,
    meta: Metadata,
) -> Result<Claimed, Error> {
    if caller.anonymous || caller.api_key_id.is_some() {
        return Err(Error::Forbidden("claiming needs the session of a signed-in user"));
    }
    let (anon, _) = check_anonymous(ctx, account_id, secret).await?;
    let database_ids = ctx.store.account_database_ids(anon).await?;
    let plan = plan_of(ctx, caller.account_id).await?;
    let slots = ctx.settings.plans.of(plan).databases;
    let cmd = AccountCommand::Claim { by_user_id: caller.user_id, to_account_id: caller.account_id, database_ids };
    // The slot check runs in the claim's own transaction, after the databases moved, under
    // the lock on the caller's account that database creation takes too: a claim racing a
    // create cannot both pass.
    let extras = [Extra::DatabaseQuota { account_id: caller.account_id.uuid(), max: slots }];
    let outcome = ctx.store.execute::<Account>(StreamId::account(anon).as_str(), &cmd, &meta, &extras).await;
    ctx.key_cache.forget_account(anon);
    match outcome {
        Ok(Ok(_)) => {}
        Ok(Err(AccountError::ClaimedByOther)) => return Err(Error::Conflict("already claimed by another user".into())),
        Ok(Err(e)) => return Err(Error::Conflict(e.to_string())),
        Err(eventstore::StoreError::QuotaExceeded) => {
            return Err(Error::QuotaExceeded(format!(
                "the {} plan allows {slots} databases; claiming would exceed it, so nothing was moved",
                plan.as_str()
            )))
        }
        Err(e) => return Err(e.into()),
    }
    // Whether just now or by an earlier try, the claim on record is the answer.
    let (account, _) = ctx.store.load::<Account>(StreamId::account(anon).as_str()).await?;
    let (_, into, database_ids) = account.claimed.or_internal("the claim on record")?;
    Ok(Claimed { account_id: anon, into, database_ids })
}

/// Whether an anonymous account was claimed (its sessions may no longer be refreshed).
pub async fn is_claimed(ctx: &Control, account_id: AccountId) -> Result<bool, Error> {
    let (account, _) = ctx.store.load::<Account>(StreamId::account(account_id).as_str()).await?;
    Ok(account.claimed.is_some())
}

/// An account's plan.
pub async fn plan_of(ctx: &Control, account: AccountId) -> Result<Plan, Error> {
    Ok(ctx.store.account_plan(account).await?)
}

/// Platform admins set an account's plan.
pub async fn set_plan(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    plan: &str,
    meta: Metadata,
) -> Result<(AccountId, Plan), Error> {
    caller.require_platform_admin()?;
    caller.require_full_account()?;
    let plan = Plan::parse(plan)
        .ok_or_else(|| Error::InvalidRequest("invalid field `plan`: `free`, `pro` or `business`".into()))?;
    let account = AccountId::parse(id).map_err(|_| Error::NotFound("account"))?;
    ctx.store.account_plan(account).await.map_err(|e| match e {
        eventstore::StoreError::NotFound => Error::NotFound("account"),
        e => e.into(),
    })?;
    execute(ctx, account, &AccountCommand::ChangePlan { plan }, meta)
        .await?
        .map_err(|e| Error::Conflict(e.to_string()))?;
    Ok((account, plan))
}

/// The caller's user, plan, quotas and usage.
pub struct Me {
    pub user: UserRow,
    pub plan: Plan,
    pub quotas: domain::Quotas,
    pub databases: i64,
    pub storage_bytes: i64,
}

pub async fn me(ctx: &Control, caller: &Caller) -> Result<Me, Error> {
    let user = ctx.store.user(caller.user_id).await?.ok_or(Error::Unauthenticated("the user no longer exists"))?;
    let plan = user.plan;
    let (databases, storage_bytes) = ctx.store.account_usage(caller.account_id).await?;
    Ok(Me { user, plan, quotas: ctx.settings.plans.of(plan), databases, storage_bytes })
}
