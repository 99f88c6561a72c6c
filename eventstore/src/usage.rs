//! Storage usage: the sizes the usage job measures on each host and records, and what an
//! account holds (its live databases and the storage they use).

use domain::{AccountId, DatabaseId};
use uuid::Uuid;

use crate::{Store, StoreError};

impl Store {
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
