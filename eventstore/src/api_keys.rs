//! An account's API keys as its owner lists them, and when each was last used.

use chrono::{DateTime, Utc};
use domain::{AccountId, ApiKeyId, DatabaseId};
use uuid::Uuid;

use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: ApiKeyId,
    pub prefix: String,
    pub label: String,
    pub scope: String,
    pub database_ids: Vec<DatabaseId>,
    /// Of `database_ids`, those the key reaches read-only (`ro`); the others are `rw`.
    pub read_only: Vec<DatabaseId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn api_keys(&self, account: AccountId) -> Result<Vec<KeyRow>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "select k.id, k.prefix, k.label, k.scope, k.database_ids, k.created_at, u.last_used_at, k.read_only_ids
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
                read_only: r.get::<_, Vec<Uuid>>(7).into_iter().map(DatabaseId).collect(),
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
}
