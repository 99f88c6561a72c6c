//! Read-model queries of the access model: users, identities, keys, collaborators, usage.

use chrono::{DateTime, Utc};
use domain::{AccountId, ApiKeyId, DatabaseId, UserId};
use uuid::Uuid;

use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: Option<String>,
    pub platform_role: String,
    pub plan: String,
    pub anonymous: bool,
}

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: ApiKeyId,
    pub prefix: String,
    pub label: String,
    pub scope: String,
    pub database_ids: Vec<DatabaseId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct CollaboratorRow {
    pub user_id: UserId,
    pub email: String,
    pub role: String,
    pub added_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "u.id, u.account_id, u.email, u.platform_role, a.plan, a.anonymous";

fn user_row(r: &tokio_postgres::Row) -> UserRow {
    UserRow {
        id: UserId(r.get(0)),
        account_id: AccountId(r.get(1)),
        email: r.get(2),
        platform_role: r.get(3),
        plan: r.get(4),
        anonymous: r.get(5),
    }
}

impl Store {
    pub async fn user(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("select {USER_COLUMNS} from users u join accounts a on a.id = u.account_id where u.id = $1"),
                &[&id.uuid()],
            )
            .await?;
        Ok(row.as_ref().map(user_row))
    }

    pub async fn user_by_email_full(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "select {USER_COLUMNS} from users u join accounts a on a.id = u.account_id where u.email = $1"
                ),
                &[&email],
            )
            .await?;
        Ok(row.as_ref().map(user_row))
    }

    /// The user a verified identity signs in as, if it was linked before.
    pub async fn user_by_identity(&self, issuer: &str, subject: &str) -> Result<Option<UserId>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt("select user_id from identities where issuer = $1 and subject = $2", &[&issuer, &subject])
            .await?;
        Ok(row.map(|r| UserId(r.get(0))))
    }

    /// An anonymous account's secret hash and its one user, if the account is anonymous.
    pub async fn anonymous_account(&self, id: AccountId) -> Result<Option<(String, UserId)>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "select a.anonymous_secret_hash, u.id from accounts a join users u on u.account_id = a.id
                 where a.id = $1 and a.anonymous",
                &[&id.uuid()],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), UserId(r.get(1)))))
    }

    /// Whether a session token must be refused though its signature and expiry are good:
    /// it was ended (logout), or it is an anonymous account's and the account was claimed.
    pub async fn session_refused(
        &self,
        account: AccountId,
        session_id: uuid::Uuid,
        anonymous: bool,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(
                "select exists (select 1 from ended_sessions where session_id = $2)
                     or ($3 and exists (select 1 from accounts where id = $1 and claimed_by is not null))",
            )
            .await?;
        Ok(c.query_one(&statement, &[&account.uuid(), &session_id, &anonymous]).await?.get(0))
    }

    /// The oldest sign-up from `source` since `since` (when the next one will be allowed).
    pub async fn oldest_signup(
        &self,
        source: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached("select min(created_at) from accounts where signup_source = $1 and created_at > $2")
            .await?;
        Ok(c.query_one(&statement, &[&source, &since]).await?.get(0))
    }

    pub async fn account_plan(&self, id: AccountId) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        let statement = c.prepare_cached("select plan from accounts where id = $1").await?;
        Ok(c.query_opt(&statement, &[&id.uuid()]).await?.map(|r| r.get(0)))
    }

    pub async fn api_keys(&self, account: AccountId) -> Result<Vec<KeyRow>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "select k.id, k.prefix, k.label, k.scope, k.database_ids, k.created_at, u.last_used_at
                 from api_keys k left join api_key_usage u on u.api_key_id = k.id
                 where k.account_id = $1 and k.revoked_at is null order by k.created_at",
                &[&account.uuid()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| KeyRow {
                id: ApiKeyId(r.get(0)),
                prefix: r.get(1),
                label: r.get(2),
                scope: r.get(3),
                database_ids: r.get::<_, Vec<Uuid>>(4).into_iter().map(DatabaseId).collect(),
                created_at: r.get(5),
                last_used_at: r.get(6),
            })
            .collect())
    }

    /// Records that keys were used (batched by the caller; one statement for many keys).
    pub async fn touch_api_keys(&self, used: &[(ApiKeyId, DateTime<Utc>)]) -> Result<(), StoreError> {
        if used.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = used.iter().map(|(k, _)| k.uuid()).collect();
        let ats: Vec<DateTime<Utc>> = used.iter().map(|(_, t)| *t).collect();
        let c = self.client().await?;
        c.execute(
            "insert into api_key_usage (api_key_id, last_used_at)
             select * from unnest($1::uuid[], $2::timestamptz[])
             on conflict (api_key_id) do update set last_used_at = greatest(api_key_usage.last_used_at, excluded.last_used_at)",
            &[&ids, &ats],
        )
        .await?;
        Ok(())
    }

    /// The role `user` has on `db` as a collaborator, if any.
    pub async fn collaborator_role(&self, db: DatabaseId, user: UserId) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "select role from collaborators where database_id = $1 and user_id = $2",
                &[&db.uuid(), &user.uuid()],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn collaborators(&self, db: DatabaseId) -> Result<Vec<CollaboratorRow>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "select user_id, email, role, added_at from collaborators where database_id = $1 order by added_at",
                &[&db.uuid()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| CollaboratorRow { user_id: UserId(r.get(0)), email: r.get(1), role: r.get(2), added_at: r.get(3) })
            .collect())
    }

    /// (databases not deleted, storage bytes measured) of an account.
    pub async fn account_usage(&self, account: AccountId) -> Result<(i64, i64), StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(
                "select count(*), coalesce(sum(u.size_bytes), 0)::bigint from databases d
                 left join database_usage u on u.database_id = d.id
                 where d.account_id = $1 and d.state <> 'deleted'",
            )
            .await?;
        let row = c.query_one(&statement, &[&account.uuid()]).await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Database ids of an account that are not deleted.
    pub async fn account_database_ids(&self, account: AccountId) -> Result<Vec<DatabaseId>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "select id from databases where account_id = $1 and state <> 'deleted' order by id",
                &[&account.uuid()],
            )
            .await?;
        Ok(rows.iter().map(|r| DatabaseId(r.get(0))).collect())
    }

    /// Stores measured sizes (the usage job).
    pub async fn record_sizes(&self, sizes: &[(DatabaseId, i64)]) -> Result<(), StoreError> {
        if sizes.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = sizes.iter().map(|(d, _)| d.uuid()).collect();
        let bytes: Vec<i64> = sizes.iter().map(|(_, b)| *b).collect();
        let c = self.client().await?;
        c.execute(
            "insert into database_usage (database_id, size_bytes, measured_at)
             select d, b, now() from unnest($1::uuid[], $2::bigint[]) as t(d, b)
             on conflict (database_id) do update set size_bytes = excluded.size_bytes, measured_at = now()",
            &[&ids, &bytes],
        )
        .await?;
        Ok(())
    }

    /// Live databases of a host by name (the usage job measures them).
    pub async fn host_databases(&self, host: domain::HostId) -> Result<Vec<(DatabaseId, String)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "select id, name from databases where host_id = $1 and state in ('running', 'stopped')",
                &[&host.uuid()],
            )
            .await?;
        Ok(rows.iter().map(|r| (DatabaseId(r.get(0)), r.get(1))).collect())
    }
}
