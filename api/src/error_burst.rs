//! Turns a burst of 5xx answers into an `api_errors` incident, and resolves it after a quiet
//! period. Counted per API process; the incident is one per platform (resource `api`), so
//! replicas bump the same one.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use eventstore::incidents::{kinds, IncidentReport};
use eventstore::Store;

/// The incident's resource id.
pub const RESOURCE: &str = "api";

/// Marks a 5xx answer that says the platform is full rather than failing (no tenant host
/// has capacity): it has an incident of its own and does not count towards a burst.
#[derive(Debug, Clone, Copy)]
pub struct NotAFault;

#[derive(Debug, Clone)]
pub struct BurstConfig {
    /// This many 5xx answers …
    pub threshold: usize,
    /// … within this window make a burst.
    pub window: Duration,
    /// No 5xx for this long resolves the incident.
    pub quiet: Duration,
}

impl Default for BurstConfig {
    fn default() -> Self {
        Self { threshold: 5, window: Duration::from_secs(60), quiet: Duration::from_secs(300) }
    }
}

#[derive(Default)]
struct State {
    recent: VecDeque<Instant>,
    last_error: Option<Instant>,
    /// This process opened or bumped the incident and has not resolved it yet.
    reported: bool,
}

pub struct ErrorBurst {
    config: BurstConfig,
    state: Mutex<State>,
}

impl ErrorBurst {
    pub fn new(config: BurstConfig) -> Self {
        Self { config, state: Mutex::new(State::default()) }
    }

    /// Records a 5xx at `now`; true when the errors of the window reach the threshold (each
    /// further error of the burst is true again, and bumps the incident).
    fn record_error(&self, now: Instant) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.recent.push_back(now);
        while s.recent.front().is_some_and(|t| now.duration_since(*t) > self.config.window) {
            s.recent.pop_front();
        }
        s.last_error = Some(now);
        let burst = s.recent.len() >= self.config.threshold;
        s.reported |= burst;
        burst
    }

    /// True once per burst, when it has been quiet for long enough since the last 5xx.
    fn quiet_now(&self, now: Instant) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let quiet = s.last_error.is_none_or(|t| now.duration_since(t) >= self.config.quiet);
        if s.reported && quiet {
            s.reported = false;
            return true;
        }
        false
    }

    /// Called by the request-id middleware with every answer's status.
    pub fn observe(&self, store: &Store, status: u16) {
        let now = Instant::now();
        if status >= 500 {
            if self.record_error(now) {
                let store = store.clone();
                let summary = format!("{} or more 5xx answers within {:?}", self.config.threshold, self.config.window);
                tokio::spawn(async move {
                    let report = IncidentReport {
                        kind: kinds::API_ERRORS,
                        severity: "error",
                        resource_type: "api",
                        resource_id: RESOURCE,
                        summary: &summary,
                    };
                    if let Err(e) = store.report_incident(&report).await {
                        tracing::warn!(error = %e, "could not report an api_errors incident");
                    }
                });
            }
        } else {
            self.resolve_if_quiet(store);
        }
    }

    /// Resolves the incident this process reported once the quiet period has passed.
    pub fn resolve_if_quiet(&self, store: &Store) {
        if self.quiet_now(Instant::now()) {
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.resolve_incident(kinds::API_ERRORS, RESOURCE).await {
                    tracing::warn!(error = %e, "could not resolve the api_errors incident");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst(threshold: usize) -> ErrorBurst {
        ErrorBurst::new(BurstConfig { threshold, window: Duration::from_secs(10), quiet: Duration::from_secs(5) })
    }

    #[test]
    fn a_burst_needs_the_threshold_within_the_window() {
        let b = burst(3);
        let t = Instant::now();
        assert!(!b.record_error(t));
        assert!(!b.record_error(t + Duration::from_secs(11)), "the first one left the window");
        assert!(!b.record_error(t + Duration::from_secs(12)));
        assert!(b.record_error(t + Duration::from_secs(13)));
        assert!(b.record_error(t + Duration::from_secs(14)), "every further error bumps");
    }

    #[test]
    fn quiet_resolves_once_and_only_after_a_burst() {
        let b = burst(1);
        let t = Instant::now();
        assert!(!b.quiet_now(t + Duration::from_secs(100)), "nothing was reported");
        assert!(b.record_error(t));
        assert!(!b.quiet_now(t + Duration::from_secs(1)), "not quiet yet");
        assert!(b.quiet_now(t + Duration::from_secs(6)));
        assert!(!b.quiet_now(t + Duration::from_secs(7)), "already resolved");
    }
}
