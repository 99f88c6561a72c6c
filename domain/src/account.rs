//! Accounts: their users, plan, API keys, and the claim of an anonymous account by a
//! verified user. One stream per account (`account-<uuid>`).

use serde::{Deserialize, Serialize};

use crate::aggregate::{Activity, Aggregate};
use crate::plan::Plan;
use crate::{AccountId, ApiKeyId, DatabaseId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformRole {
    User,
    Admin,
}

impl PlatformRole {
    pub const ALL: [Self; 2] = [Self::User, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How a session was signed in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    /// An OIDC id token (the API's session route, or the dashboard's sign-in).
    Oidc,
    /// A new anonymous account.
    AnonymousSignup,
    /// An anonymous account's secret, for a new session.
    AnonymousRefresh,
    /// An API key, for a dashboard session bound to that key.
    ApiKey,
}

/// What an API key may reach: the whole account, or only some databases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "scope", content = "database_ids")]
pub enum KeyScope {
    #[default]
    All,
    Selected(Vec<DatabaseId>),
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
    /// An account nobody has signed in to: its one user has no email, and `secret_hash` is
    /// the keyed hash of the secret that refreshes its sessions.
    AnonymousAccountCreated {
        account_id: AccountId,
        user_id: UserId,
        secret_hash: String,
        /// A keyed hash of the client address that signed up (never the address itself):
        /// what the per-address sign-up rate counts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signup_source: Option<String>,
    },
    /// A verified identity (issuer, subject) now signs in as this user; a new subject for a
    /// known email reclaims the same user.
    IdentityLinked {
        account_id: AccountId,
        user_id: UserId,
        issuer: String,
        subject: String,
    },
    /// `hash` is the keyed hash of the secret (hex), never the secret.
    ApiKeyCreated {
        account_id: AccountId,
        user_id: UserId,
        api_key_id: ApiKeyId,
        prefix: String,
        hash: String,
        label: String,
        #[serde(default)]
        scope: KeyScope,
        /// Of a selected key's databases, those it reaches read-only (`ro`): the caller's
        /// role there is capped at developer. The others (and every database of keys made
        /// before access levels existed) are `rw`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        read_only: Vec<DatabaseId>,
    },
    ApiKeyReplaced {
        account_id: AccountId,
        api_key_id: ApiKeyId,
        prefix: String,
        hash: String,
    },
    ApiKeyRevoked {
        account_id: AccountId,
        api_key_id: ApiKeyId,
    },
    PlanChanged {
        account_id: AccountId,
        plan: Plan,
    },
    /// A session token (by its id, the JWT's `jti`) was ended before its expiry: it is
    /// refused from now on. `expires_at` is when it would have expired by itself.
    SessionEnded {
        account_id: AccountId,
        user_id: UserId,
        session_id: uuid::Uuid,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// A session was signed in to (recorded on a stream of its own, `session-<id>`, so that
    /// sign-ins never lengthen the account's stream). Never the token itself.
    SessionStarted {
        account_id: AccountId,
        user_id: UserId,
        session_id: uuid::Uuid,
        method: SignInMethod,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// An anonymous account's databases moved to a verified user's account.
    AccountClaimed {
        account_id: AccountId,
        by_user_id: UserId,
        to_account_id: AccountId,
        database_ids: Vec<DatabaseId>,
    },
}

impl AccountEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::AccountCreated { .. } => "AccountCreated",
            Self::UserRegistered { .. } => "UserRegistered",
            Self::AnonymousAccountCreated { .. } => "AnonymousAccountCreated",
            Self::IdentityLinked { .. } => "IdentityLinked",
            Self::ApiKeyCreated { .. } => "ApiKeyCreated",
            Self::ApiKeyReplaced { .. } => "ApiKeyReplaced",
            Self::ApiKeyRevoked { .. } => "ApiKeyRevoked",
            Self::PlanChanged { .. } => "PlanChanged",
            Self::AccountClaimed { .. } => "AccountClaimed",
            Self::SessionEnded { .. } => "SessionEnded",
            Self::SessionStarted { .. } => "SessionStarted",
        }
    }

    pub fn account_id(&self) -> AccountId {
        match self {
            Self::AccountCreated { account_id, .. }
            | Self::UserRegistered { account_id, .. }
            | Self::AnonymousAccountCreated { account_id, .. }
            | Self::IdentityLinked { account_id, .. }
            | Self::ApiKeyCreated { account_id, .. }
            | Self::ApiKeyReplaced { account_id, .. }
            | Self::ApiKeyRevoked { account_id, .. }
            | Self::PlanChanged { account_id, .. }
            | Self::AccountClaimed { account_id, .. }
            | Self::SessionEnded { account_id, .. }
            | Self::SessionStarted { account_id, .. } => *account_id,
        }
    }

    pub fn activity(&self) -> Option<Activity> {
        let (action, details) = match self {
            Self::ApiKeyCreated { prefix, label, scope, read_only, .. } => {
                let mut details = serde_json::json!({ "prefix": prefix, "label": label, "scope": scope });
                if !read_only.is_empty() {
                    details["read_only"] =
                        serde_json::json!(read_only.iter().map(|d| d.to_string()).collect::<Vec<_>>());
                }
                ("api_key.create", details)
            }
            Self::ApiKeyReplaced { prefix, .. } => ("api_key.replace", serde_json::json!({ "prefix": prefix })),
            Self::ApiKeyRevoked { .. } => ("api_key.revoke", serde_json::json!({})),
            Self::PlanChanged { plan, .. } => ("account.plan_change", serde_json::json!({ "plan": plan })),
            Self::SessionEnded { .. } => ("session.logout", serde_json::json!({})),
            Self::SessionStarted { method, .. } => ("session.login", serde_json::json!({ "method": method })),
            Self::AccountClaimed { to_account_id, database_ids, .. } => (
                "account.claim",
                serde_json::json!({ "to_account_id": to_account_id.to_string(),
                    "database_ids": database_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>() }),
            ),
            _ => return None,
        };
        Some(Activity { action, details })
    }
}

/// A verified identity: who an OIDC issuer says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCommand {
    /// A new account on `plan` with its first user (`email`, already normalised), who signs
    /// in with `identity` if one is given (an OIDC sign-up) or with the keys an operator
    /// issues (a bootstrap). Only on a stream that does not exist yet.
    SignUp {
        account_id: AccountId,
        user_id: UserId,
        email: String,
        plan: Plan,
        platform_role: PlatformRole,
        identity: Option<Identity>,
    },
    /// A new account nobody has signed in to (free plan), refreshed with a secret whose
    /// keyed hash is `secret_hash`. Only on a stream that does not exist yet.
    CreateAnonymous {
        account_id: AccountId,
        user_id: UserId,
        secret_hash: String,
        signup_source: Option<String>,
    },
    /// A verified identity now signs in as `user_id`, a user of this account (a new subject
    /// for a known email). Linking the same identity again changes nothing.
    LinkIdentity {
        user_id: UserId,
        identity: Identity,
    },
    /// `max_keys`: live (unrevoked) keys the account may hold, this one included.
    CreateKey {
        user_id: UserId,
        api_key_id: ApiKeyId,
        prefix: String,
        hash: String,
        label: String,
        scope: KeyScope,
        /// Databases of a selected scope the key reaches read-only (each must be selected).
        read_only: Vec<DatabaseId>,
        max_keys: usize,
    },
    ReplaceKey {
        api_key_id: ApiKeyId,
        prefix: String,
        hash: String,
    },
    RevokeKey {
        api_key_id: ApiKeyId,
    },
    /// A full-account key an operator issues to a user of the account (`berth admin
    /// bootstrap`): the label and the cap on live keys apply as for [`Self::CreateKey`], the
    /// plan does not (an operator may hand a free account a key).
    IssueOperatorKey {
        user_id: UserId,
        api_key_id: ApiKeyId,
        prefix: String,
        hash: String,
        label: String,
        max_keys: usize,
    },
    ChangePlan {
        plan: Plan,
    },
    Claim {
        by_user_id: UserId,
        to_account_id: AccountId,
        database_ids: Vec<DatabaseId>,
    },
    EndSession {
        user_id: UserId,
        session_id: uuid::Uuid,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("no such account")]
    NotFound,
    #[error("no such API key")]
    KeyNotFound,
    #[error("the {0} plan does not include API keys")]
    PlanRequired(&'static str),
    #[error("a label is required (1 to 100 characters)")]
    BadLabel,
    #[error("a selected-databases key needs at least one database")]
    EmptySelection,
    #[error("read-only access applies only to databases the key selects")]
    ReadOnlyOutsideSelection,
    #[error("only anonymous accounts can be claimed")]
    NotAnonymous,
    #[error("this account was already claimed by someone else")]
    ClaimedByOther,
    #[error("the account already has {0} API keys, its limit; revoke one first")]
    TooManyKeys(usize),
    #[error("the account already exists")]
    AlreadyExists,
    #[error("not an email address")]
    BadEmail,
    #[error("no such user in this account")]
    UnknownUser,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub id: Option<AccountId>,
    pub plan: Option<Plan>,
    pub anonymous: bool,
    /// Keys by id, with whether they are revoked.
    pub keys: Vec<(ApiKeyId, bool)>,
    pub claimed: Option<(UserId, AccountId, Vec<DatabaseId>)>,
    /// Sessions ended by logout (so a repeated logout appends nothing).
    pub ended_sessions: std::collections::BTreeSet<uuid::Uuid>,
    /// The account's users.
    pub users: std::collections::BTreeSet<UserId>,
    /// Identities (issuer, subject) linked to users of this account, and the user of each.
    pub identities: std::collections::BTreeMap<(String, String), UserId>,
}

impl Account {
    fn key_live(&self, id: ApiKeyId) -> bool {
        self.keys.iter().any(|(k, revoked)| *k == id && !revoked)
    }

    /// The checks every new key passes: the cap on live keys (decided on the account's
    /// stream, so two racing creates cannot both pass) and the label.
    fn check_new_key(&self, label: &str, max_keys: usize) -> Result<(), AccountError> {
        if self.keys.iter().filter(|(_, revoked)| !revoked).count() >= max_keys {
            return Err(AccountError::TooManyKeys(max_keys));
        }
        if label.trim().is_empty() || label.chars().count() > 100 {
            return Err(AccountError::BadLabel);
        }
        Ok(())
    }

    /// A command on an account that does not exist yet: only those that create it pass.
    fn decide_creation(command: &AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        use AccountCommand as C;
        use AccountEvent as E;
        match command {
            C::SignUp { account_id, user_id, email, plan, platform_role, identity } => {
                if !email.contains('@') || email.len() > 254 {
                    return Err(AccountError::BadEmail);
                }
                let mut events = vec![
                    E::AccountCreated { account_id: *account_id, plan: plan.as_str().into() },
                    E::UserRegistered {
                        account_id: *account_id,
                        user_id: *user_id,
                        email: email.clone(),
                        platform_role: *platform_role,
                    },
                ];
                if let Some(Identity { issuer, subject }) = identity {
                    events.push(E::IdentityLinked {
                        account_id: *account_id,
                        user_id: *user_id,
                        issuer: issuer.clone(),
                        subject: subject.clone(),
                    });
                }
                Ok(events)
            }
            C::CreateAnonymous { account_id, user_id, secret_hash, signup_source } => {
                Ok(vec![E::AnonymousAccountCreated {
                    account_id: *account_id,
                    user_id: *user_id,
                    secret_hash: secret_hash.clone(),
                    signup_source: signup_source.clone(),
                }])
            }
            _ => Err(AccountError::NotFound),
        }
    }
}

impl Aggregate for Account {
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;

    fn decide(&self, command: &AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        use AccountCommand as C;
        use AccountEvent as E;
        let Some(account_id) = self.id else {
            return Self::decide_creation(command);
        };
        match command {
            C::SignUp { .. } | C::CreateAnonymous { .. } => Err(AccountError::AlreadyExists),
            C::LinkIdentity { user_id, identity } => {
                if !self.users.contains(user_id) {
                    return Err(AccountError::UnknownUser);
                }
                let key = (identity.issuer.clone(), identity.subject.clone());
                if self.identities.get(&key) == Some(user_id) {
                    return Ok(vec![]);
                }
                Ok(vec![E::IdentityLinked {
                    account_id,
                    user_id: *user_id,
                    issuer: identity.issuer.clone(),
                    subject: identity.subject.clone(),
                }])
            }
            C::IssueOperatorKey { user_id, api_key_id, prefix, hash, label, max_keys } => {
                if !self.users.contains(user_id) {
                    return Err(AccountError::UnknownUser);
                }
                self.check_new_key(label, *max_keys)?;
                Ok(vec![E::ApiKeyCreated {
                    account_id,
                    user_id: *user_id,
                    api_key_id: *api_key_id,
                    prefix: prefix.clone(),
                    hash: hash.clone(),
                    label: label.trim().to_owned(),
                    scope: KeyScope::All,
                    read_only: vec![],
                }])
            }
            C::CreateKey { user_id, api_key_id, prefix, hash, label, scope, read_only, max_keys } => {
                let plan = self.plan.unwrap_or(Plan::Free);
                if !plan.allows_api_keys() {
                    return Err(AccountError::PlanRequired(plan.as_str()));
                }
                self.check_new_key(label, *max_keys)?;
                if matches!(scope, KeyScope::Selected(ids) if ids.is_empty()) {
                    return Err(AccountError::EmptySelection);
                }
                let selected: &[DatabaseId] = match scope {
                    KeyScope::All => &[],
                    KeyScope::Selected(ids) => ids,
                };
                if read_only.iter().any(|d| !selected.contains(d)) {
                    return Err(AccountError::ReadOnlyOutsideSelection);
                }
                Ok(vec![E::ApiKeyCreated {
                    account_id,
                    user_id: *user_id,
                    api_key_id: *api_key_id,
                    prefix: prefix.clone(),
                    hash: hash.clone(),
                    label: label.trim().to_owned(),
                    scope: scope.clone(),
                    read_only: read_only.clone(),
                }])
            }
            C::ReplaceKey { api_key_id, prefix, hash } => {
                if !self.key_live(*api_key_id) {
                    return Err(AccountError::KeyNotFound);
                }
                Ok(vec![E::ApiKeyReplaced {
                    account_id,
                    api_key_id: *api_key_id,
                    prefix: prefix.clone(),
                    hash: hash.clone(),
                }])
            }
            C::RevokeKey { api_key_id } => {
                if !self.key_live(*api_key_id) {
                    return Err(AccountError::KeyNotFound);
                }
                Ok(vec![E::ApiKeyRevoked { account_id, api_key_id: *api_key_id }])
            }
            C::ChangePlan { plan } => {
                if self.plan == Some(*plan) {
                    return Ok(vec![]);
                }
                Ok(vec![E::PlanChanged { account_id, plan: *plan }])
            }
            C::Claim { by_user_id, to_account_id, database_ids } => {
                if !self.anonymous {
                    return Err(AccountError::NotAnonymous);
                }
                match &self.claimed {
                    // A retried claim by the same user changes nothing.
                    Some((by, _, _)) if by == by_user_id => Ok(vec![]),
                    Some(_) => Err(AccountError::ClaimedByOther),
                    None => Ok(vec![E::AccountClaimed {
                        account_id,
                        by_user_id: *by_user_id,
                        to_account_id: *to_account_id,
                        database_ids: database_ids.clone(),
                    }]),
                }
            }
            C::EndSession { user_id, session_id, expires_at } => {
                if self.ended_sessions.contains(session_id) {
                    return Ok(vec![]);
                }
                Ok(vec![E::SessionEnded {
                    account_id,
                    user_id: *user_id,
                    session_id: *session_id,
                    expires_at: *expires_at,
                }])
            }
        }
    }

    fn apply(&mut self, event: &AccountEvent) {
        use AccountEvent as E;
        match event {
            E::AccountCreated { account_id, plan } => {
                self.id = Some(*account_id);
                self.plan = Plan::parse(plan);
            }
            E::AnonymousAccountCreated { account_id, user_id, .. } => {
                self.id = Some(*account_id);
                self.plan = Some(Plan::Free);
                self.anonymous = true;
                self.users.insert(*user_id);
            }
            E::UserRegistered { user_id, .. } => {
                self.users.insert(*user_id);
            }
            E::IdentityLinked { user_id, issuer, subject, .. } => {
                self.identities.insert((issuer.clone(), subject.clone()), *user_id);
            }
            E::ApiKeyReplaced { .. } | E::SessionStarted { .. } => {}
            E::ApiKeyCreated { api_key_id, .. } => self.keys.push((*api_key_id, false)),
            E::ApiKeyRevoked { api_key_id, .. } => {
                for (k, revoked) in &mut self.keys {
                    if k == api_key_id {
                        *revoked = true;
                    }
                }
            }
            E::PlanChanged { plan, .. } => self.plan = Some(*plan),
            E::AccountClaimed { by_user_id, to_account_id, database_ids, .. } => {
                self.claimed = Some((*by_user_id, *to_account_id, database_ids.clone()))
            }
            E::SessionEnded { session_id, .. } => {
                self.ended_sessions.insert(*session_id);
            }
        }
    }
}

#[cfg(test)]
#[path = "account_tests.rs"]
mod tests;
