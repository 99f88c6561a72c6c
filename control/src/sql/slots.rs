//! How many SQL requests run at once, per database and in this process. A request that finds
//! no slot is refused at once (429 with `retry-after`), never queued: a queue would hold the
//! HTTP worker and the client's connection for as long as another request's SQL runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::DatabaseId;
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

/// When a refused caller should try again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct SqlSlots {
    per_database: usize,
    total: Arc<Semaphore>,
    databases: Mutex<HashMap<DatabaseId, Arc<Semaphore>>>,
}

/// A running request's slots; dropping it frees them.
pub struct Slot {
    _total: OwnedSemaphorePermit,
    _database: OwnedSemaphorePermit,
}

impl SqlSlots {
    pub fn new(per_database: usize, total: usize) -> Self {
        Self {
            per_database: per_database.max(1),
            total: Arc::new(Semaphore::new(total.max(1))),
            databases: Mutex::default(),
        }
    }

    /// A slot for a request on `db`, or `RATE_LIMITED`.
    pub fn acquire(&self, db: DatabaseId) -> Result<Slot, Error> {
        let database = {
            let mut map = self.databases.lock();
            // Forget databases with nothing running, so the map stays as small as the load.
            if map.len() > 1024 {
                map.retain(|_, s| Arc::strong_count(s) > 1);
            }
            map.entry(db).or_insert_with(|| Arc::new(Semaphore::new(self.per_database))).clone()
        };
        let database = database.try_acquire_owned().map_err(|_| Error::RateLimited(RETRY_AFTER))?;
        let total = self.total.clone().try_acquire_owned().map_err(|_| Error::RateLimited(RETRY_AFTER))?;
        Ok(Slot { _total: total, _database: database })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_gets_its_share_and_no_more() {
        let slots = SqlSlots::new(2, 3);
        let (a, b) = (DatabaseId::new(), DatabaseId::new());
        let held = [slots.acquire(a).expect("1"), slots.acquire(a).expect("2")];
        assert!(matches!(slots.acquire(a), Err(Error::RateLimited(_))), "a third on one database");
        let other = slots.acquire(b).expect("another database still runs");
        assert!(matches!(slots.acquire(b), Err(Error::RateLimited(_))), "the process total");
        drop(held);
        drop(other);
        slots.acquire(a).expect("freed when done");
    }
}
