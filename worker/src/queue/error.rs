//! Why a job attempt failed: retry or abort, a message, and the error underneath when there
//! was one.

use std::{error::Error, fmt, sync::Arc};

/// The error under a [`Cause`]: shared, so a [`JobError`] stays cheap to clone.
pub type Source = Arc<dyn Error + Send + Sync + 'static>;

/// What went wrong in a failed attempt. The message is what the logs, `Handler::exhausted`
/// and apalis's task result show; it already carries the source's text where there is one
/// (messages predate the source), so print a [`JobError`] with `Display` rather than walking
/// its chain. The source is kept for callers that inspect or downcast it.
#[derive(Debug, Clone)]
pub struct Cause {
    message: String,
    source: Option<Source>,
}

impl Cause {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    pub fn with_source(message: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self { message: message.into(), source: Some(Arc::new(source)) }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn source(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    pub fn into_message(self) -> String {
        self.message
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a job attempt failed.
#[derive(Debug, Clone)]
pub enum JobError {
    /// Transient: try again after a backoff, unless this was the last attempt.
    Retry(Cause),
    /// Permanent: do not try again.
    Abort(Cause),
}

impl JobError {
    /// Transient, with no error underneath.
    pub fn retry(message: impl Into<String>) -> Self {
        Self::Retry(Cause::new(message))
    }

    /// Permanent, with no error underneath.
    pub fn abort(message: impl Into<String>) -> Self {
        Self::Abort(Cause::new(message))
    }

    /// Transient, because of `source` (whose text `message` should include).
    pub fn retry_from(message: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self::Retry(Cause::with_source(message, source))
    }

    /// Permanent, because of `source` (whose text `message` should include).
    pub fn abort_from(message: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self::Abort(Cause::with_source(message, source))
    }

    pub fn cause(&self) -> &Cause {
        match self {
            Self::Retry(cause) | Self::Abort(cause) => cause,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retry(cause) => write!(f, "retryable: {cause}"),
            Self::Abort(cause) => write!(f, "aborted: {cause}"),
        }
    }
}

impl Error for JobError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause().source().map(|e| e as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_unchanged_and_the_source_is_kept() {
        let io = std::io::Error::other("disk on fire");
        let e = JobError::retry_from(format!("control plane: {io}"), io);
        assert_eq!(e.to_string(), "retryable: control plane: disk on fire");
        assert_eq!(e.cause().message(), "control plane: disk on fire");
        let source = Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        let plain = JobError::abort("permanently broken");
        assert_eq!(plain.to_string(), "aborted: permanently broken");
        assert!(Error::source(&plain).is_none());
    }
}
