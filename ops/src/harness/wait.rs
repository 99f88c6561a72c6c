//! Waiting on a condition with a deadline, for every test and test helper of the workspace
//! (the integration tests re-export it): poll, never a fixed sleep before an assertion.
//! [`consistently`] is the other half, for what must not happen.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] and [`eventually_blocking`] look again.
pub const POLL: Duration = Duration::from_millis(20);

/// What a check returns: ready (with a value) or not yet, with what it saw then (printed
/// if the deadline passes).
pub trait Check {
    type Output;
    fn ready(self) -> Result<Self::Output, String>;
}

impl Check for bool {
    type Output = ();
    fn ready(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err(String::new())
        }
    }
}

impl<T> Check for Option<T> {
    type Output = T;
    fn ready(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

/// `Err` is "not yet", and says what was seen.
impl<T, E: std::fmt::Display> Check for Result<T, E> {
    type Output = T;
    fn ready(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

#[track_caller]
fn timed_out(what: &str, timeout: Duration, last: &str) -> ! {
    if last.is_empty() {
        panic!("timed out after {timeout:?} waiting for {what}")
    }
    panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
}

/// Polls `check` every [`POLL`] until it is ready (`true`, `Some`, `Ok`); returns its value.
/// Panics after `timeout` with `what` and the last "not yet" (an `Err`'s text).
pub async fn eventually<C, F, Fut>(what: &str, timeout: Duration, check: F) -> C::Output
where
    C: Check,
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
{
    eventually_every(what, timeout, POLL, check).await
}

/// [`eventually`], looking every `every` (shorter to catch a brief state, longer for an
/// expensive check).
pub async fn eventually_every<C, F, Fut>(what: &str, timeout: Duration, every: Duration, mut check: F) -> C::Output
where
    C: Check,
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await.ready() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => timed_out(what, timeout, &last),
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}

/// [`eventually`] for a test without a runtime (a child process, files): blocks the thread.
pub fn eventually_blocking<C: Check>(what: &str, timeout: Duration, mut check: impl FnMut() -> C) -> C::Output {
    let deadline = Instant::now() + timeout;
    loop {
        match check().ready() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => timed_out(what, timeout, &last),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Checks `check` every [`POLL`] for all of `window`, and panics with `what` the first time
/// it fails: for what must *not* happen where nothing observable says it can no longer
/// happen (an incident a background task might still open, say). Not a pause before one
/// look: the condition holds throughout.
pub async fn consistently<F, Fut>(what: &str, window: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + window;
    loop {
        assert!(check().await, "{what} stopped holding within {window:?}");
        if Instant::now() >= until {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}
