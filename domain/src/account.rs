//! Accounts, users and API keys, as far as the walking skeleton needs them: the operator's
//! bootstrap creates an account, its admin user and a first key. (The full access model —
//! sessions, sharing, scopes, plans — builds on these events.)

use serde::{Deserialize, Serialize};

use crate::aggregate::Activity;
use crate::{AccountId, ApiKeyId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformRole {
    User,
    Admin,
}

impl PlatformRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AccountEvent {
    AccountCreated {
        account_id: AccountId,
        plan: String,
    },
    UserRegistered {
        account_id: AccountId,
        user_id: UserId,
        email: String,
        platform_role: PlatformRole,
    },
    /// `hash` is the keyed hash of the secret (hex), never the secret.
    ApiKeyCreated {
        account_id: AccountId,
        user_id: UserId,
        api_key_id: ApiKeyId,
        prefix: String,
        hash: String,
        label: String,
    },
}

impl AccountEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::AccountCreated { .. } => "AccountCreated",
            Self::UserRegistered { .. } => "UserRegistered",
            Self::ApiKeyCreated { .. } => "ApiKeyCreated",
        }
    }

    pub fn account_id(&self) -> AccountId {
        match self {
            Self::AccountCreated { account_id, .. }
            | Self::UserRegistered { account_id, .. }
            | Self::ApiKeyCreated { account_id, .. } => *account_id,
        }
    }

    pub fn activity(&self) -> Option<Activity> {
        match self {
            Self::ApiKeyCreated { prefix, label, .. } => Some(Activity {
                action: "api_key.create",
                details: serde_json::json!({ "prefix": prefix, "label": label }),
            }),
            _ => None,
        }
    }
}

/// A tenant host joins the platform. Its credentials are not in the event: they are sealed
/// in the vault under `host:<id>:superuser` and `host:<id>:admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum HostEvent {
    HostRegistered {
        host_id: crate::HostId,
        name: String,
        pg_host: String,
        pg_port: u16,
        superuser: String,
        bouncer_host: String,
        bouncer_port: u16,
        admin_user: String,
        config_dir: String,
        capacity: u32,
    },
}

impl HostEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::HostRegistered { .. } => "HostRegistered",
        }
    }
}
