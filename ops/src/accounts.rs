//! Operator-side account set-up: the first admin and their keys (`berth admin bootstrap`,
//! and `berth up` on first run).

use control::limits::Limits;
use domain::{Plan, PlatformRole};
use eventstore::Store;

pub use control::accounts::Bootstrapped;

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
    Ok(control::accounts::bootstrap(store, email, role, plan, max_keys).await?)
}

pub async fn bootstrap_user_on(
    store: &Store,
    email: &str,
    role: PlatformRole,
    plan: Plan,
) -> anyhow::Result<Bootstrapped> {
    Ok(control::accounts::bootstrap(store, email, role, plan, Limits::default().api_keys_per_account).await?)
}

/// True when no user exists yet (a fresh platform).
pub async fn is_fresh(store: &Store) -> anyhow::Result<bool> {
    Ok(control::accounts::is_fresh(store).await?)
}
