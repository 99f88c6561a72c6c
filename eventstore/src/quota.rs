//! What the storage-quota enforcement reads: every database that may need locking or
//! unlocking, with its account's plan and total measured storage.

use domain::{AccountId, DatabaseId};

use crate::{Store, StoreError};

/// One database the quota check looks at.
#[derive(Debug, Clone)]
pub struct QuotaCandidate {
    pub database_id: DatabaseId,
    pub account_id: AccountId,
    pub plan: String,
    pub state: String,
    pub locked_reason: Option<String>,
    /// Measured storage of every database of the account that is not deleted.
    pub account_bytes: i64,
}

impl Store {
    /// Running and stopped databases (locked or not), with their account's usage.
    pub async fn quota_candidates(&self) -> Result<Vec<QuotaCandidate>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "with used as (
                     select d.account_id, coalesce(sum(u.size_bytes), 0)::bigint as bytes
                     from databases d left join database_usage u on u.database_id = d.id
                     where d.state <> 'deleted' group by d.account_id)
                 select d.id, d.account_id, a.plan, d.state, d.locked_reason, coalesce(used.bytes, 0)::bigint
                 from databases d join accounts a on a.id = d.account_id
                 left join used on used.account_id = d.account_id
                 where d.state in ('running', 'stopped')
                 order by d.account_id, d.id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| QuotaCandidate {
                database_id: DatabaseId(r.get(0)),
                account_id: AccountId(r.get(1)),
                plan: r.get(2),
                state: r.get(3),
                locked_reason: r.get(4),
                account_bytes: r.get(5),
            })
            .collect())
    }
}
