//! Read models of accounts, users, API keys and collaborators.

use domain::{AccountEvent, CollaboratorsEvent, KeyScope, Plan, PlatformRole};
use uuid::Uuid;

use crate::projection::{database_owner, insert_activity, Resource};
use crate::tables::{Key, Set, Tables, Val};
use crate::{RecordedEvent, StoreError};

pub(crate) async fn project_account<T: Tables>(
    t: &mut T,
    e: &RecordedEvent,
    a: &AccountEvent,
) -> Result<(), StoreError> {
    use AccountEvent as E;
    let at = e.occurred_at;
    match a {
        E::AccountCreated { account_id, plan } => {
            t.insert(
                "accounts",
                vec![("id", account_id.uuid().into()), ("plan", plan.into()), ("created_at", at.into())],
            )
            .await?;
        }
        E::UserRegistered { account_id, user_id, email, platform_role } => {
            t.insert(
                "users",
                vec![
                    ("id", user_id.uuid().into()),
                    ("account_id", account_id.uuid().into()),
                    ("email", email.into()),
                    ("platform_role", platform_role.as_str().into()),
                    ("created_at", at.into()),
                ],
            )
            .await?;
        }
        E::AnonymousAccountCreated { account_id, user_id, secret_hash, signup_source } => {
            t.insert(
                "accounts",
                vec![
                    ("id", account_id.uuid().into()),
                    ("plan", Plan::Free.as_str().into()),
                    ("created_at", at.into()),
                    ("anonymous", true.into()),
                    ("anonymous_secret_hash", secret_hash.into()),
                    ("signup_source", signup_source.as_deref().into()),
                ],
            )
            .await?;
            t.insert(
                "users",
                vec![
                    ("id", user_id.uuid().into()),
                    ("account_id", account_id.uuid().into()),
                    ("email", Val::Null),
                    ("platform_role", PlatformRole::User.as_str().into()),
                    ("created_at", at.into()),
                ],
            )
            .await?;
        }
        E::IdentityLinked { user_id, issuer, subject, .. } => {
            t.insert(
                "identities",
                vec![
                    ("issuer", issuer.into()),
                    ("subject", subject.into()),
                    ("user_id", user_id.uuid().into()),
                    ("linked_at", at.into()),
                ],
            )
            .await?;
        }
        E::ApiKeyCreated { account_id, user_id, api_key_id, prefix, hash, label, scope, read_only } => {
            let read_only: Vec<Uuid> = read_only.iter().map(|d| d.uuid()).collect();
            let (scope_name, ids): (&str, Vec<Uuid>) = match scope {
                KeyScope::All => ("all", vec![]),
                KeyScope::Selected(ids) => ("selected", ids.iter().map(|d| d.uuid()).collect()),
            };
            t.insert(
                "api_keys",
                vec![
                    ("id", api_key_id.uuid().into()),
                    ("account_id", account_id.uuid().into()),
                    ("user_id", user_id.uuid().into()),
                    ("prefix", prefix.into()),
                    ("hash", hash.into()),
                    ("label", label.into()),
                    ("created_at", at.into()),
                    ("scope", scope_name.into()),
                    ("database_ids", ids.into()),
                    ("read_only_ids", read_only.into()),
                ],
            )
            .await?;
        }
        E::ApiKeyReplaced { api_key_id, prefix, hash, .. } => {
            let set = vec![
                ("prefix", Set::To(prefix.into())),
                ("hash", Set::To(hash.into())),
                ("replaced_at", Set::To(at.into())),
            ];
            t.update("api_keys", Key::id(api_key_id.uuid()), set).await?;
        }
        E::ApiKeyRevoked { api_key_id, .. } => {
            t.update("api_keys", Key::id(api_key_id.uuid()), vec![("revoked_at", Set::To(at.into()))]).await?;
        }
        E::SessionEnded { account_id, user_id, session_id, expires_at } => {
            t.insert(
                "ended_sessions",
                vec![
                    ("session_id", (*session_id).into()),
                    ("account_id", account_id.uuid().into()),
                    ("user_id", user_id.uuid().into()),
                    ("expires_at", (*expires_at).into()),
                    ("ended_at", at.into()),
                ],
            )
            .await?;
        }
        // Its activity entry (below) is all a sign-in leaves in the read models.
        E::SessionStarted { .. } => {}
        E::PlanChanged { account_id, plan } => {
            t.update("accounts", Key::id(account_id.uuid()), vec![("plan", Set::To(plan.as_str().into()))]).await?;
        }
        E::AccountClaimed { account_id, by_user_id, to_account_id, database_ids } => {
            let ids: Vec<Uuid> = database_ids.iter().map(|d| d.uuid()).collect();
            let to = || vec![("account_id", Set::To(to_account_id.uuid().into()))];
            t.update("accounts", Key::id(account_id.uuid()), vec![("claimed_by", Set::To(by_user_id.uuid().into()))])
                .await?;
            t.update("databases", Key::Any("id", ids.clone()), to()).await?;
            t.update("operations", Key::Any("database_id", ids.clone()), to()).await?;
            // Their history moves with them.
            t.update("activity", Key::Any("database_id", ids), to()).await?;
        }
    }
    if let Some(activity) = a.activity() {
        let resource = match a {
            E::ApiKeyCreated { api_key_id, label, .. } => {
                Resource { kind: "api_key", id: api_key_id.uuid(), name: Some(label.clone()) }
            }
            E::ApiKeyReplaced { api_key_id, .. } | E::ApiKeyRevoked { api_key_id, .. } => {
                let label = t.get("api_keys", Key::id(api_key_id.uuid()), &["label"]).await?;
                let name = match label {
                    Some(row) => row[0].text()?,
                    None => None,
                };
                Resource { kind: "api_key", id: api_key_id.uuid(), name }
            }
            E::AccountClaimed { .. } => Resource { kind: "account", id: a.account_id().uuid(), name: None },
            _ => Resource { kind: "account", id: a.account_id().uuid(), name: None },
        };
        let account = match a {
            E::AccountClaimed { to_account_id, .. } => to_account_id.uuid(),
            _ => a.account_id().uuid(),
        };
        insert_activity(t, e, account, None, activity.action, resource, &activity.details).await?;
    }
    Ok(())
}

pub(crate) async fn project_collaborators<T: Tables>(
    t: &mut T,
    e: &RecordedEvent,
    a: &CollaboratorsEvent,
) -> Result<(), StoreError> {
    use CollaboratorsEvent as E;
    let db = a.database_id().uuid();
    match a {
        E::DatabaseShared { user_id, email, role, .. } => {
            t.insert(
                "collaborators",
                vec![
                    ("database_id", db.into()),
                    ("user_id", user_id.uuid().into()),
                    ("email", email.into()),
                    ("role", role.as_str().into()),
                    ("added_at", e.occurred_at.into()),
                ],
            )
            .await?;
        }
        E::ShareRoleChanged { user_id, role, .. } => {
            let key = Key::Eq(vec![("database_id", db.into()), ("user_id", user_id.uuid().into())]);
            t.update("collaborators", key, vec![("role", Set::To(role.as_str().into()))]).await?;
        }
        E::DatabaseUnshared { user_id, .. } => {
            let key = Key::Eq(vec![("database_id", db.into()), ("user_id", user_id.uuid().into())]);
            t.delete("collaborators", key).await?;
        }
    }
    if let Some(activity) = a.activity() {
        let (account, name) = database_owner(t, db).await?;
        let resource = Resource { kind: "database", id: db, name: Some(name) };
        insert_activity(t, e, account, Some(db), activity.action, resource, &activity.details).await?;
    }
    Ok(())
}
