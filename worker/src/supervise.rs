//! The worker's background loops (dispatcher, usage, watchdog, reconcilers, …) each run
//! under a supervisor: a loop that panics is logged, reported as a `worker_task_panicked`
//! incident and started again after a backoff, so that one loop's bug never stops the
//! others — above all the job queue. (Before this, one `done??` over the set of loops meant
//! a panic in any of them ended the whole worker, silently: the usage loop panicked on a
//! database dropped while it was measured, and from then on no job ran.)

use std::future::Future;
use std::time::Duration;

use eventstore::incidents::{kinds, IncidentReport};
use eventstore::Store;
use tokio::sync::watch;

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(60);

/// Aborts a spawned task when dropped: aborting the supervisor (or dropping `run_worker`)
/// aborts what it runs.
pub(crate) struct AbortOnDrop<T>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A panic's text, when its payload is one.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| payload.downcast_ref::<String>().cloned())
}

/// A panic's message, cut to a length an incident summary can carry.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = panic_text(payload).unwrap_or_else(|| "a panic without a message".to_owned());
    text.chars().take(300).collect()
}

/// Runs `make()`'s future until it returns, starting it again (after a doubling backoff,
/// 1 s to 60 s) each time it panics, until `shutdown` turns true.
pub async fn supervised<F, Fut>(
    name: &'static str,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
    make: F,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut delay = FIRST_DELAY;
    loop {
        let mut task = AbortOnDrop(tokio::spawn(make()));
        let panic = match (&mut task.0).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_panic() => panic_message(&*e.into_panic()),
            Err(e) => return Err(e.into()),
        };
        tracing::error!(task = name, panic = %panic, "a worker loop panicked; starting it again in {delay:?}");
        metrics::counter!("berth_worker_task_panics_total", "task" => name).increment(1);
        let summary = format!("the worker's {name} loop panicked and was started again: {panic}");
        let report = IncidentReport {
            kind: kinds::WORKER_TASK_PANICKED,
            severity: "error",
            resource_type: "worker",
            resource_id: name,
            summary: &summary,
        };
        if let Err(e) = store.report_incident(&report).await {
            tracing::error!(task = name, error = %e, "could not open an incident for a panicked worker loop");
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
        }
        delay = (delay * 2).min(MAX_DELAY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_either_payload_and_cut() {
        let s: Box<dyn std::any::Any + Send> = Box::new("static text");
        assert_eq!(panic_message(&*s), "static text");
        let long: Box<dyn std::any::Any + Send> = Box::new("é".repeat(400));
        assert_eq!(panic_message(&*long).chars().count(), 300);
        let other: Box<dyn std::any::Any + Send> = Box::new(7_u8);
        assert_eq!(panic_message(&*other), "a panic without a message");
    }
}
