//! Operator-side account set-up: the first admin and their keys (`berth admin bootstrap`,
//! and `berth up` on first run).

use api::limits::Limits;
use domain::{Account, AccountCommand, AccountError, AccountId, ApiKeyId, Plan, PlatformRole, StreamId, UserId};
use eventstore::{Metadata, Store};

pub struct Bootstrapped {
    pub user_id: UserId,
    pub account_id: AccountId,
    /// The full key, to print once.
    pub key: String,
    pub created_user: bool,
}

/// Creates the user `email` (with its own account on `plan`) as `role` if missing, and a new
/// API key for them either way. Platform admins get the business plan.
pub async fn bootstrap_user(store: &Store, email: &str, role: PlatformRole) -> anyhow::Result<Bootstrapped> {
    bootstrap_user_limited(store, email, role, Limits::default().api_keys_per_account).await
}

/// [`bootstrap_user`] under the configured cap on an account's live API keys.
pub async fn bootstrap_user_limited(
    store: &Store,
    email: &str,
    role: PlatformRole,
    max_keys: usize,
) -> anyhow::Result<Bootstrapped> {
    let plan = if role == PlatformRole::Admin { Plan::Business } else { Plan::Pro };
    bootstrap(store, email, role, plan, max_keys).await
}

pub async fn bootstrap_user_on(
    store: &Store,
    email: &str,
    role: PlatformRole,
    plan: Plan,
) -> anyhow::Result<Bootstrapped> {
    bootstrap(store, email, role, plan, Limits::default().api_keys_per_account).await
}

/// The user's sign-up (an account of their own, no identity: they sign in with the key) and
/// an operator-issued key, both decided by the account (`SignUp`, `IssueOperatorKey`): the
/// key's label and the cap on live keys apply, the plan does not.
async fn bootstrap(
    store: &Store,
    email: &str,
    role: PlatformRole,
    plan: Plan,
    max_keys: usize,
) -> anyhow::Result<Bootstrapped> {
    let email = email.trim().to_lowercase();
    let refused = |e: AccountError| match e {
        AccountError::BadEmail => anyhow::anyhow!("not an email address: {email}"),
        e => anyhow::Error::new(e).context(format!("bootstrapping {email}")),
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
    let key = api::keys::generate(&store.keyring()?.hash_key);
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
pub async fn is_fresh(store: &Store) -> anyhow::Result<bool> {
    Ok(store.user_count().await? == 0)
}
