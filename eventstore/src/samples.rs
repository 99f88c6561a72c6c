//! Observations of tenant databases over time (`database_samples`): the worker records one
//! per database every sampling interval and forgets those past the retention; the
//! observability page and `metrics?since=` read them back.

use chrono::{DateTime, Utc};
use domain::DatabaseId;
use uuid::Uuid;

use crate::{Store, StoreError};

/// One database's cumulative counters at one instant (see `hostctl::observe`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub transactions: i64,
    pub calls: i64,
    pub exec_ms: f64,
    pub active_connections: i64,
    pub size_bytes: i64,
}

impl Store {
    /// Records one sample per database, taken now.
    pub async fn record_samples(&self, samples: &[(DatabaseId, Sample)]) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = samples.iter().map(|(d, _)| d.uuid()).collect();
        let at: Vec<DateTime<Utc>> = samples.iter().map(|(_, s)| s.at).collect();
        let xacts: Vec<i64> = samples.iter().map(|(_, s)| s.transactions).collect();
        let calls: Vec<i64> = samples.iter().map(|(_, s)| s.calls).collect();
        let exec: Vec<f64> = samples.iter().map(|(_, s)| s.exec_ms).collect();
        let active: Vec<i64> = samples.iter().map(|(_, s)| s.active_connections).collect();
        let size: Vec<i64> = samples.iter().map(|(_, s)| s.size_bytes).collect();
        let c = self.client().await?;
        c.execute(
            "insert into database_samples
                    (database_id, at, transactions, calls, exec_ms, active_connections, size_bytes)
             select * from unnest($1::uuid[], $2::timestamptz[], $3::int8[], $4::int8[], $5::float8[],
                                  $6::int8[], $7::int8[])
             on conflict (database_id, at) do nothing",
            &[&ids, &at, &xacts, &calls, &exec, &active, &size],
        )
        .await?;
        Ok(())
    }

    /// Forgets samples taken before `before`; how many.
    pub async fn prune_samples(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let c = self.client().await?;
        Ok(c.execute("delete from database_samples where at < $1", &[&before]).await?)
    }

    /// A database's oldest sample taken at or after `since` (what a rate is taken from).
    pub async fn first_sample_since(
        &self,
        database: DatabaseId,
        since: DateTime<Utc>,
    ) -> Result<Option<Sample>, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(&format!(
                "select {COLUMNS} from database_samples where database_id = $1 and at >= $2 order by at limit 1"
            ))
            .await?;
        Ok(c.query_opt(&statement, &[&database.uuid(), &since]).await?.map(|r| sample(&r)))
    }

    /// A database's samples taken at or after `since`, oldest first: the newest `limit` of
    /// them.
    pub async fn samples(
        &self,
        database: DatabaseId,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Sample>, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(&format!(
                "select {COLUMNS} from database_samples where database_id = $1 and at >= $2 order by at desc limit $3"
            ))
            .await?;
        let rows = c.query(&statement, &[&database.uuid(), &since, &limit]).await?;
        Ok(rows.iter().rev().map(sample).collect())
    }
}

const COLUMNS: &str = "at, transactions, calls, exec_ms, active_connections, size_bytes";

fn sample(r: &tokio_postgres::Row) -> Sample {
    Sample {
        at: r.get(0),
        transactions: r.get(1),
        calls: r.get(2),
        exec_ms: r.get(3),
        active_connections: r.get(4),
        size_bytes: r.get(5),
    }
}
