//! Which transactions of the control-plane cluster had committed at some instant, enough to
//! tell whether anything at all committed between two instants. Caches of read models use
//! it as a read barrier: an answer computed at one snapshot is still exact at a later one if
//! no transaction completed in between, whatever process wrote (the worker, another API
//! replica, an operator's psql).

use crate::{Store, StoreError};

/// A `pg_current_snapshot()`: `xmax` is one past the highest completed transaction id, and
/// every id below it had completed except those in `running`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSnapshot {
    xmax: u64,
    running: Vec<u64>,
}

impl CommitSnapshot {
    /// Parses the text form `xmin:xmax:xip,xip,…`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let (_xmin, xmax, xip) = (parts.next()?, parts.next()?.parse().ok()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let mut running = Vec::new();
        for x in xip.split(',').filter(|x| !x.is_empty()) {
            running.push(x.parse().ok()?);
        }
        running.sort_unstable();
        Some(Self { xmax, running })
    }

    /// True if no transaction completed (committed or aborted) after `self` and before
    /// `later`: the highest completed id did not move and each transaction running at `self`
    /// still runs. Conservative: an aborted or unrelated transaction also counts as a change.
    pub fn unchanged_until(&self, later: &CommitSnapshot) -> bool {
        later.xmax == self.xmax && self.running.iter().all(|x| later.running.binary_search(x).is_ok())
    }
}

const SNAPSHOT_SQL: &str = "select pg_current_snapshot()::text";

impl Store {
    /// A connection of its own for taking commit snapshots, driven by a task on the calling
    /// runtime. On a single-threaded runtime (each actix worker has one) the query, its
    /// answer and whoever waits for it then stay on one thread: no wake-up crosses threads.
    pub async fn snapshot_connection(&self) -> Result<SnapshotConnection, StoreError> {
        let (client, connection) = self.dedicated().await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "snapshot connection closed");
            }
        });
        let statement = client.prepare(SNAPSHOT_SQL).await?;
        Ok(SnapshotConnection { client, statement })
    }
}

/// See [`Store::snapshot_connection`].
pub struct SnapshotConnection {
    client: tokio_postgres::Client,
    statement: tokio_postgres::Statement,
}

impl SnapshotConnection {
    /// The cluster's commit snapshot now (one round trip).
    pub async fn take(&self) -> Result<CommitSnapshot, StoreError> {
        let text: String = self.client.query_one(&self.statement, &[]).await?.get(0);
        CommitSnapshot::parse(&text).ok_or_else(|| StoreError::Codec(format!("bad snapshot {text}")))
    }

    /// The connection is gone (its driver's runtime ended, or the server closed it).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::CommitSnapshot;

    fn snap(text: &str) -> CommitSnapshot {
        CommitSnapshot::parse(text).expect("parses")
    }

    #[test]
    fn parses_the_text_form() {
        assert_eq!(snap("10:20:12,15"), CommitSnapshot { xmax: 20, running: vec![12, 15] });
        assert_eq!(snap("20:20:"), CommitSnapshot { xmax: 20, running: vec![] });
        assert_eq!(CommitSnapshot::parse("20:20"), None);
        assert_eq!(CommitSnapshot::parse("a:b:"), None);
    }

    #[test]
    fn nothing_completed_means_unchanged() {
        assert!(snap("12:20:12,15").unchanged_until(&snap("12:20:12,15")));
        // Transactions started since and still running do not show: they are above xmax.
    }

    #[test]
    fn any_completion_is_a_change() {
        // 15 was running and is no longer: it committed (or aborted) in between.
        assert!(!snap("12:20:12,15").unchanged_until(&snap("12:20:12")));
        // Something at or above 20 completed in between.
        assert!(!snap("12:20:12").unchanged_until(&snap("12:22:12,21")));
        assert!(!snap("10:20:").unchanged_until(&snap("20:21:")));
        // An earlier snapshot is never "later".
        assert!(!snap("10:20:").unchanged_until(&snap("10:19:")));
    }
}
