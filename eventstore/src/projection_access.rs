//! Read models of accounts, users, API keys and collaborators.

use domain::{AccessEvent, AccountEvent, KeyScope};
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::projection::insert_activity;
use crate::{RecordedEvent, StoreError};

pub(crate) async fn project_account(
    tx: &Transaction<'_>,
    e: &RecordedEvent,
    a: &AccountEvent,
) -> Result<(), StoreError> {
    use AccountEvent as E;
    let at = e.occurred_at;
    match a {
        E::AccountCreated { account_id, plan } => {
            tx.execute(
                "insert into accounts (id, plan, created_at) values ($1, $2, $3)",
                &[&account_id.uuid(), plan, &at],
            )
            .await?;
        }
        E::UserRegistered { account_id, user_id, email, platform_role } => {
            tx.execute(
                "insert into users (id, account_id, email, platform_role, created_at) values ($1, $2, $3, $4, $5)",
                &[&user_id.uuid(), &account_id.uuid(), email, &platform_role.as_str(), &at],
            )
            .await?;
        }
        E::AnonymousAccountCreated { account_id, user_id, secret_hash } => {
            tx.execute(
                "insert into accounts (id, plan, created_at, anonymous, anonymous_secret_hash)
                 values ($1, 'free', $2, true, $3)",
                &[&account_id.uuid(), &at, secret_hash],
            )
            .await?;
            tx.execute(
                "insert into users (id, account_id, email, platform_role, created_at) values ($1, $2, null, 'user', $3)",
                &[&user_id.uuid(), &account_id.uuid(), &at],
            )
            .await?;
        }
        E::IdentityLinked { user_id, issuer, subject, .. } => {
            tx.execute(
                "insert into identities (issuer, subject, user_id, linked_at) values ($1, $2, $3, $4)",
                &[issuer, subject, &user_id.uuid(), &at],
            )
            .await?;
        }
        E::ApiKeyCreated { account_id, user_id, api_key_id, prefix, hash, label, scope } => {
            let (scope_name, ids): (&str, Vec<Uuid>) = match scope {
                KeyScope::All => ("all", vec![]),
                KeyScope::Selected(ids) => ("selected", ids.iter().map(|d| d.uuid()).collect()),
            };
            tx.execute(
                "insert into api_keys (id, account_id, user_id, prefix, hash, label, created_at, scope, database_ids)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&api_key_id.uuid(), &account_id.uuid(), &user_id.uuid(), prefix, hash, label, &at, &scope_name, &ids],
            )
            .await?;
        }
        E::ApiKeyReplaced { api_key_id, prefix, hash, .. } => {
            tx.execute(
                "update api_keys set prefix = $2, hash = $3, replaced_at = $4 where id = $1",
                &[&api_key_id.uuid(), prefix, hash, &at],
            )
            .await?;
        }
        E::ApiKeyRevoked { api_key_id, .. } => {
            tx.execute("update api_keys set revoked_at = $2 where id = $1", &[&api_key_id.uuid(), &at]).await?;
        }
        E::PlanChanged { account_id, plan } => {
            tx.execute("update accounts set plan = $2 where id = $1", &[&account_id.uuid(), &plan.as_str()]).await?;
        }
        E::AccountClaimed { account_id, by_user_id, to_account_id, database_ids } => {
            let ids: Vec<Uuid> = database_ids.iter().map(|d| d.uuid()).collect();
            tx.execute("update accounts set claimed_by = $2 where id = $1", &[&account_id.uuid(), &by_user_id.uuid()])
                .await?;
            tx.execute("update databases set account_id = $2 where id = any($1)", &[&ids, &to_account_id.uuid()])
                .await?;
            tx.execute(
                "update operations set account_id = $2 where database_id = any($1)",
                &[&ids, &to_account_id.uuid()],
            )
            .await?;
            // Their history moves with them.
            tx.execute(
                "update activity set account_id = $2 where database_id = any($1)",
                &[&ids, &to_account_id.uuid()],
            )
            .await?;
        }
    }
    if let Some(activity) = a.activity() {
        let (account, rtype, rid, rname) = match a {
            E::ApiKeyCreated { api_key_id, label, .. } => {
                (a.account_id().uuid(), "api_key", api_key_id.uuid(), Some(label.clone()))
            }
            E::ApiKeyReplaced { api_key_id, .. } | E::ApiKeyRevoked { api_key_id, .. } => {
                let label: Option<String> = tx
                    .query_opt("select label from api_keys where id = $1", &[&api_key_id.uuid()])
                    .await?
                    .map(|r| r.get(0));
                (a.account_id().uuid(), "api_key", api_key_id.uuid(), label)
            }
            E::AccountClaimed { to_account_id, .. } => (to_account_id.uuid(), "account", a.account_id().uuid(), None),
            _ => (a.account_id().uuid(), "account", a.account_id().uuid(), None),
        };
        insert_activity(tx, e, account, None, activity.action, rtype, rid, rname.as_deref(), &activity.details).await?;
    }
    Ok(())
}

pub(crate) async fn project_access(tx: &Transaction<'_>, e: &RecordedEvent, a: &AccessEvent) -> Result<(), StoreError> {
    use AccessEvent as E;
    let db = a.database_id().uuid();
    match a {
        E::DatabaseShared { user_id, email, role, .. } => {
            tx.execute(
                "insert into collaborators (database_id, user_id, email, role, added_at) values ($1, $2, $3, $4, $5)",
                &[&db, &user_id.uuid(), email, &role.as_str(), &e.occurred_at],
            )
            .await?;
        }
        E::ShareRoleChanged { user_id, role, .. } => {
            tx.execute(
                "update collaborators set role = $3 where database_id = $1 and user_id = $2",
                &[&db, &user_id.uuid(), &role.as_str()],
            )
            .await?;
        }
        E::DatabaseUnshared { user_id, .. } => {
            tx.execute("delete from collaborators where database_id = $1 and user_id = $2", &[&db, &user_id.uuid()])
                .await?;
        }
    }
    if let Some(activity) = a.activity() {
        let row = tx.query_one("select account_id, name from databases where id = $1", &[&db]).await?;
        let (account, name): (Uuid, String) = (row.get(0), row.get(1));
        insert_activity(tx, e, account, Some(db), activity.action, "database", db, Some(&name), &activity.details)
            .await?;
    }
    Ok(())
}
