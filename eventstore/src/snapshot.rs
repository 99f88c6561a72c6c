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

impl Store {
    /// The cluster's commit snapshot now (one round trip).
    pub async fn commit_snapshot(&self) -> Result<CommitSnapshot, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached("select pg_current_snapshot()::text").await?;
        let text: String = client.query_one(&statement, &[]).await?.get(0);
        CommitSnapshot::parse(&text).ok_or_else(|| StoreError::Codec(format!("bad snapshot {text}")))
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
