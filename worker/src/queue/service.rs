//! The tower services inside each apalis worker: [`HandlerService`] (decode, one attempt,
//! `exhausted`) under [`RetryLayer`] (in-process backoff between attempts).

use std::{
    future::Future,
    marker::PhantomData,
    sync::Arc,
    task::{Context, Poll},
};

use apalis::prelude::{AbortError, BoxDynError, Layer, Service, Task};
use futures::{future::BoxFuture, FutureExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

use super::{Attempt, Handler, JobError, WorkerOptions};
use crate::supervise::{panic_text, AbortOnDrop};

/// Runs `fut` in its own task; a panic becomes `Err(message)`.
async fn spawn_catching<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Result<T, String> {
    let mut guard = AbortOnDrop(tokio::spawn(fut));
    match (&mut guard.0).await {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => {
            let message = panic_text(&*e.into_panic()).unwrap_or_else(|| "non-string panic payload".to_owned());
            Err(format!("panicked: {message}"))
        }
        Err(e) => Err(format!("task failed: {e}")),
    }
}

/// A failed attempt that may be retried (the attempt was not the last).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RetryableError(String);

/// The innermost service (inside apalis's lifecycle layer, which counts the attempt and maps
/// `AbortError` to `Killed`, other errors to `Failed`): decodes the job, runs one attempt,
/// calls `exhausted` when the job fails for good.
pub(super) struct HandlerService<J, H> {
    pub(super) handler: Arc<H>,
    pub(super) queue: Arc<str>,
    pub(super) max_attempts: u32,
    pub(super) _job: PhantomData<fn() -> J>,
}

impl<J, H> Clone for HandlerService<J, H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            queue: self.queue.clone(),
            max_attempts: self.max_attempts,
            _job: PhantomData,
        }
    }
}

fn abort(message: String) -> BoxDynError {
    Box::new(AbortError::new(message))
}

impl<J, H> Service<Task<Value>> for HandlerService<J, H>
where
    J: DeserializeOwned + Send + 'static,
    H: Handler<J>,
{
    type Response = ();
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<(), BoxDynError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, task: Task<Value>) -> Self::Future {
        let handler = self.handler.clone();
        let queue = self.queue.clone();
        let max = self.max_attempts;
        let task_id = task.task_id().map(ToString::to_string).unwrap_or_default();
        // Read inside the future: the lifecycle layer increments the counter on first poll.
        let counter = task.raw_attempt().clone();
        let args = task.args;
        async move {
            let number = u32::try_from(counter.current()).unwrap_or(u32::MAX);
            let decode = || serde_json::from_value::<J>(args.clone());
            let job = match decode() {
                Ok(job) => job,
                Err(e) => {
                    tracing::error!(%queue, task = %task_id, error = %e, "undecodable job payload; dropping it");
                    return Err(abort(format!("undecodable job payload: {e}")));
                }
            };
            let give_up = |error: String| {
                let handler = handler.clone();
                let queue = queue.clone();
                let task_id = task_id.clone();
                let job = decode();
                async move {
                    tracing::error!(%queue, task = %task_id, attempt = number, max, %error, "job failed for good");
                    if let Ok(job) = job {
                        if let Err(p) = spawn_catching(async move { handler.exhausted(job, error.clone()).await }).await {
                            tracing::error!(%queue, task = %task_id, "exhausted() {p}");
                        }
                    }
                }
            };
            if number > max {
                // Earlier runs died mid-attempt (each orphan re-enqueue counts one attempt), or
                // `max_attempts` was lowered while the job was released.
                let error = format!(
                    "{} attempts already used (max {max}); the last did not complete",
                    number - 1
                );
                give_up(error.clone()).await;
                return Err(abort(error));
            }
            let attempt = Attempt { number, max };
            let handler_run = handler.clone();
            let outcome = spawn_catching(async move { handler_run.run(job, attempt).await })
                .await
                .unwrap_or_else(|p| Err(JobError::retry(format!("handler {p}"))));
            match outcome {
                Ok(()) => Ok(()),
                Err(JobError::Abort(cause)) => {
                    let error = cause.into_message();
                    give_up(error.clone()).await;
                    Err(abort(error))
                }
                Err(JobError::Retry(cause)) if attempt.is_last() => {
                    let error = cause.into_message();
                    give_up(error.clone()).await;
                    Err(abort(error))
                }
                Err(JobError::Retry(cause)) => {
                    let error = cause.into_message();
                    tracing::warn!(%queue, task = %task_id, attempt = number, max, %error, "job attempt failed; will retry");
                    Err(Box::new(RetryableError(error)) as BoxDynError)
                }
            }
        }
        .boxed()
    }
}

/// Re-calls the inner service (apalis lifecycle + [`HandlerService`]) after a backoff while
/// it fails with [`RetryableError`]. Sits inside the concurrency limit and outside apalis's
/// lifecycle layer.
#[derive(Clone)]
pub(super) struct RetryLayer {
    pub(super) opts: WorkerOptions,
    pub(super) stopping: watch::Receiver<bool>,
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService { inner, opts: self.opts.clone(), stopping: self.stopping.clone() }
    }
}

#[derive(Clone)]
pub(super) struct RetryService<S> {
    inner: S,
    opts: WorkerOptions,
    stopping: watch::Receiver<bool>,
}

impl<S> Service<Task<Value>> for RetryService<S>
where
    S: Service<Task<Value>, Error = BoxDynError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<S::Response, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, task: Task<Value>) -> Self::Future {
        // Tower: call the instance that was polled ready, keep a fresh clone for later calls.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let opts = self.opts.clone();
        let mut stopping = self.stopping.clone();
        let first = inner.call(task.clone());
        async move {
            let mut result = first.await;
            loop {
                let error = match result {
                    Ok(response) => return Ok(response),
                    Err(e) if e.is::<RetryableError>() => e,
                    Err(e) => return Err(e),
                };
                let number = u32::try_from(task.attempt()).unwrap_or(u32::MAX);
                let delay = opts.backoff(number);
                // Released: apalis records `Failed` with the attempt count, and the job is
                // fetched again (the database attempt cap is never reached).
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopping.wait_for(|s| *s) => return Err(error),
                }
                tokio::select! {
                    ready = futures::future::poll_fn(|cx| inner.poll_ready(cx)) => ready?,
                    _ = stopping.wait_for(|s| *s) => return Err(error),
                }
                result = inner.call(task.clone()).await;
            }
        }
        .boxed()
    }
}
