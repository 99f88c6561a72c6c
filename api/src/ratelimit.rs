//! Request budgets: token buckets per credential and per client IP, in this process. With
//! several API processes each keeps its own buckets, so the fleet-wide budget is the sum;
//! operators size `rate`/`burst` per process.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Sustained requests per second.
    pub rate: f64,
    /// Requests allowed at once.
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Limiter {
    budget: Budget,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(budget: Budget) -> Self {
        Self { budget, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`; when there is none, how long until there will be.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        self.take_with(key, self.budget)
    }

    /// [`Limiter::take`] with a budget of the key's own (a data-API key's `rate_limit`).
    pub fn take_with(&self, key: &str, budget: Budget) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        if buckets.len() > 100_000 {
            // Forget full buckets: they are indistinguishable from new ones.
            let (rate, burst) = (budget.rate, budget.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: budget.burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * budget.rate).min(budget.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / budget.rate.max(1e-9)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let l = Limiter::new(Budget { rate: 1.0, burst: 3.0 });
        for _ in 0..3 {
            assert!(l.take("k").is_ok());
        }
        let wait = l.take("k").expect_err("empty");
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(l.take("other").is_ok(), "buckets are per key");
    }
}
