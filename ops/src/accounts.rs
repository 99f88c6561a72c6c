//! Operator-side account set-up: the first admin and their keys (`berth admin bootstrap`,
//! and `berth up` on first run).

use domain::{AccountEvent, AccountId, ApiKeyId, KeyScope, Plan, PlatformRole, UserId};
use eventstore::{ExpectedVersion, Metadata, Store, StoredEvent};

pub struct Bootstrapped {
    pub user_id: UserId,
    pub account_id: AccountId,
    /// The full key, to print once.
    pub key: String,
    pub created_user: bool,
}

fn stream(account: AccountId) -> String {
    format!("account-{}", account.uuid())
}

/// Creates the user `email` (with its own account on `plan`) as `role` if missing, and a new
/// API key for them either way. Platform admins get the business plan.
pub async fn bootstrap_user(store: &Store, email: &str, role: PlatformRole) -> anyhow::Result<Bootstrapped> {
    let plan = if role == PlatformRole::Admin { Plan::Business } else { Plan::Pro };
    bootstrap_user_on(store, email, role, plan).await
}

pub async fn bootstrap_user_on(
    store: &Store,
    email: &str,
    role: PlatformRole,
    plan: Plan,
) -> anyhow::Result<Bootstrapped> {
    let email = email.trim().to_lowercase();
    anyhow::ensure!(email.contains('@') && email.len() <= 254, "not an email address: {email}");
    let (user_id, account_id, created_user) = match store.user_by_email(&email).await? {
        Some((u, a)) => (u, a, false),
        None => {
            let (account_id, user_id) = (AccountId::new(), UserId::new());
            let events = [
                AccountEvent::AccountCreated { account_id, plan: plan.as_str().into() },
                AccountEvent::UserRegistered { account_id, user_id, email: email.clone(), platform_role: role },
            ];
            let new = events.iter().map(|e| e.to_new()).collect::<Result<Vec<_>, _>>()?;
            store.append(&stream(account_id), ExpectedVersion::NoStream, &new, &Metadata::default(), &[]).await?;
            (user_id, account_id, true)
        }
    };
    let key = api::keys::generate(&store.keyring()?.hash_key);
    let event = AccountEvent::ApiKeyCreated {
        account_id,
        user_id,
        api_key_id: ApiKeyId::new(),
        prefix: key.prefix.clone(),
        hash: key.hash.clone(),
        label: "bootstrap".into(),
        scope: KeyScope::All,
    };
    let version = store.read_stream(&stream(account_id)).await?.last().map(|e| e.version).unwrap_or(0);
    let meta = Metadata { actor: domain::Actor { user_id: Some(user_id), api_key_id: None }, ..Metadata::default() };
    store.append(&stream(account_id), ExpectedVersion::Exact(version), &[event.to_new()?], &meta, &[]).await?;
    Ok(Bootstrapped { user_id, account_id, key: key.key, created_user })
}

/// True when no user exists yet (a fresh platform).
pub async fn is_fresh(store: &Store) -> anyhow::Result<bool> {
    Ok(store.user_count().await? == 0)
}
