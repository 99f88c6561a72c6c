//! Small statistics for benchmark output.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Summary {
    pub n: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub total: Duration,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub fn summarize(samples: &[Duration], total: Duration) -> Summary {
    let mut s = samples.to_vec();
    s.sort();
    Summary { n: s.len(), p50: pct(&s, 0.50), p95: pct(&s, 0.95), p99: pct(&s, 0.99), total }
}

impl Summary {
    pub fn per_second(&self) -> f64 {
        self.n as f64 / self.total.as_secs_f64().max(1e-9)
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = summarize(&samples, Duration::from_secs(1));
        assert_eq!(s.p50, Duration::from_millis(51));
        assert_eq!(s.p95, Duration::from_millis(95));
        assert_eq!(s.n, 100);
        assert!((s.per_second() - 100.0).abs() < 1e-6);
    }
}
