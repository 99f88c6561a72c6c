//! Waiting, with a deadline, for an operation to finish or a database to reach a state,
//! reporting what is seen through a callback (the CLI's progress indicator; tests' logs).

use std::time::{Duration, Instant};

use wire::{DatabaseDetail, OperationView};

use crate::{Client, Error};

/// What a wait saw on its last poll.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    Operation(&'a OperationView),
    /// `None`: the database is gone (404).
    Database(Option<&'a DatabaseDetail>),
}

/// A database state to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor<'a> {
    State(&'a str),
    /// Deleted: `GET /databases/{id}` answers 404.
    Gone,
}

/// Poll interval: quick at first (most operations take about a second), then every second.
fn next_interval(d: Duration) -> Duration {
    (d * 3 / 2).min(Duration::from_secs(1))
}

impl Client {
    /// Polls `GET /operations/{id}` until it `succeeded` (returned) or `failed`
    /// ([`Error::OperationFailed`]), or `timeout` passes ([`Error::Timeout`]).
    pub async fn wait_operation(
        &self,
        id: &str,
        timeout: Duration,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Result<OperationView, Error> {
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(100);
        loop {
            let op = self.operation(id).await?.data;
            progress(Progress::Operation(&op));
            match op.state.as_str() {
                "succeeded" => return Ok(op),
                "failed" => {
                    let message = op.error.clone().unwrap_or_else(|| "no reason given".into());
                    return Err(Error::OperationFailed { id: op.id, kind: op.kind, message });
                }
                _ => {}
            }
            if Instant::now() + interval > deadline {
                return Err(Error::Timeout(format!(
                    "operation {id} is still {} after {}s; it goes on: `GET /operations/{id}` tells when it ends",
                    op.state,
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(interval).await;
            interval = next_interval(interval);
        }
    }

    /// Polls `GET /databases/{id}` until it is in the state waited for (the detail is
    /// returned; `None` for [`WaitFor::Gone`]), or `failed` (an [`Error::OperationFailed`]
    /// naming the database), or `timeout` passes.
    pub async fn wait_database(
        &self,
        id: &str,
        until: WaitFor<'_>,
        timeout: Duration,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Result<Option<DatabaseDetail>, Error> {
        let deadline = Instant::now() + timeout;
        let mut interval = Duration::from_millis(100);
        loop {
            let seen = match self.database(id).await {
                Ok(r) => Some(r.data),
                Err(Error::Api(e)) if e.status == 404 && until == WaitFor::Gone => None,
                Err(e) => return Err(e),
            };
            progress(Progress::Database(seen.as_ref()));
            let state = seen.as_ref().map(|d| d.database.state.clone());
            match (until, state.as_deref()) {
                (WaitFor::Gone, None) => return Ok(None),
                (WaitFor::State(want), Some(s)) if s == want => return Ok(seen),
                (_, Some("failed")) => {
                    return Err(Error::OperationFailed {
                        id: id.to_owned(),
                        kind: "database".into(),
                        message: "the database is in state failed (an incident was opened)".into(),
                    })
                }
                _ => {}
            }
            if Instant::now() + interval > deadline {
                let want = match until {
                    WaitFor::State(s) => s,
                    WaitFor::Gone => "deleted",
                };
                return Err(Error::Timeout(format!(
                    "database {id} is still {} after {}s (waiting for {want})",
                    state.as_deref().unwrap_or("-"),
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(interval).await;
            interval = next_interval(interval);
        }
    }
}
