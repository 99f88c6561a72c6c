//! What the storage-quota enforcement reads: every database that may need locking or
//! unlocking, with its account's plan and total measured storage.

use domain::{AccountId, DatabaseId, DatabaseState, LockReason, Plan};

use crate::error::{decode_column, decode_opt_column};
use crate::{Store, StoreError};

/// One database the quota check looks at.
#[derive(Debug, Clone)]
pub struct QuotaCandidate {
    pub database_id: DatabaseId,
    pub account_id: AccountId,
    pub plan: Plan,
    pub state: DatabaseState,
    pub locked_reason: Option<LockReason>,
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
        rows.iter()
            .map(|r| {
                Ok(QuotaCandidate {
                    database_id: DatabaseId(r.get(0)),
                    account_id: AccountId(r.get(1)),
                    plan: decode_column("accounts.plan", r.get(2), Plan::parse)?,
                    state: decode_column("databases.state", r.get(3), DatabaseState::parse)?,
                    locked_reason: decode_opt_column("databases.locked_reason", r.get(4), LockReason::parse)?,
                    account_bytes: r.get(5),
                })
            })
            .collect()
    }
}
