//! Accounts: an account's plan, and the platform admins' list of accounts, each with its
//! plan, owner and what it holds. The list is one statement per page: the page of accounts
//! first, then each count grouped over just that page's ids (no query per row).

use chrono::{DateTime, Utc};
use domain::{AccountId, Plan};
use uuid::Uuid;

use crate::error::decode_column;
use crate::{Store, StoreError};

/// Filters and paging of the admins' account list (newest first).
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub plan: Option<Plan>,
    /// A substring of the owner's email, any case.
    pub email: Option<String>,
    /// Return accounts strictly older than this one (ids are time-ordered).
    pub before: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: AccountId,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
    /// The first user's email; `None` for an anonymous account.
    pub owner_email: Option<String>,
    pub anonymous: bool,
    /// Databases that are not deleted.
    pub databases: i64,
    pub storage_bytes: i64,
    /// API keys not revoked.
    pub api_keys: i64,
}

impl Store {
    pub async fn accounts(&self, f: &AccountFilter, limit: i64) -> Result<Vec<AccountRow>, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(
                "with page as (
                     select a.id, a.plan, a.created_at, a.anonymous from accounts a
                     where ($1::text is null or a.plan = $1)
                       and ($2::text is null or exists (select 1 from users u
                            where u.account_id = a.id and strpos(lower(u.email), lower($2)) > 0))
                       and ($3::uuid is null or a.id < $3)
                     order by a.id desc limit $4),
                 owners as (
                     select distinct on (u.account_id) u.account_id, u.email from users u
                     where u.account_id in (select id from page) and u.email is not null
                     order by u.account_id, u.created_at),
                 dbs as (
                     select d.account_id, count(*) as n, coalesce(sum(s.size_bytes), 0)::bigint as bytes
                     from databases d left join database_usage s on s.database_id = d.id
                     where d.account_id in (select id from page) and d.state <> 'deleted'
                     group by d.account_id),
                 keys as (
                     select k.account_id, count(*) as n from api_keys k
                     where k.account_id in (select id from page) and k.revoked_at is null
                     group by k.account_id)
                 select p.id, p.plan, p.created_at, o.email, p.anonymous,
                        coalesce(dbs.n, 0), coalesce(dbs.bytes, 0)::bigint, coalesce(keys.n, 0)
                 from page p
                 left join owners o on o.account_id = p.id
                 left join dbs on dbs.account_id = p.id
                 left join keys on keys.account_id = p.id
                 order by p.id desc",
            )
            .await?;
        let plan = f.plan.map(Plan::as_str);
        let rows = c.query(&statement, &[&plan, &f.email, &f.before, &limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(AccountRow {
                    id: AccountId(r.get(0)),
                    plan: decode_column("accounts.plan", r.get(1), Plan::parse)?,
                    created_at: r.get(2),
                    owner_email: r.get(3),
                    anonymous: r.get(4),
                    databases: r.get(5),
                    storage_bytes: r.get(6),
                    api_keys: r.get(7),
                })
            })
            .collect()
    }

    /// An account's plan; `NotFound` if there is no such account.
    pub async fn account_plan(&self, id: AccountId) -> Result<Plan, StoreError> {
        let c = self.client().await?;
        let statement = c.prepare_cached("select plan from accounts where id = $1").await?;
        let row = c.query_opt(&statement, &[&id.uuid()]).await?.ok_or(StoreError::NotFound)?;
        decode_column("accounts.plan", row.get(0), Plan::parse)
    }
}
