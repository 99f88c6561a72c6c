//! The application's one error type. Each variant is a stable code from API.md (the `api`
//! crate maps it to an HTTP status); the message is for humans and never carries a secret
//! or SQL.
//!
//! An unexpected failure is [`Error::Internal`] with its cause (an error chain, never a
//! request body or a secret): callers show only `internal error`, and the cause is logged
//! once, at the edge (the API logs it where the response is made, inside the request's span,
//! so with its request id).

use eventstore::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    EngineDisabled(String),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("this API key is limited to selected databases; this route needs a full-account credential")]
    KeyScopeDenied,
    #[error("{0}")]
    PlanRequired(String),
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("request budget exhausted; retry later")]
    RateLimited(std::time::Duration),
    #[error("database not found")]
    DatabaseNotFound,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A feature this deployment does not offer (404 `NOT_FOUND`, as for any missing resource).
    #[error("{0}")]
    NotOffered(&'static str),
    /// The path is served, but not with this method; the value is the `allow` header.
    #[error("this path does not serve this method; it serves: {0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    Unavailable(String),
    /// No tenant host can take a new database (`503 UNAVAILABLE`): the platform works, it is
    /// full — a `no_capacity` incident for the operators, not an API fault.
    #[error("{0}")]
    NoCapacity(String),
    /// Unexpected: `0` is why, for the log only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// A 500 for an unexpected `cause`, which goes to the log, never to the response.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "INVALID_REQUEST",
            Self::InvalidName(_) => "INVALID_NAME",
            Self::EngineDisabled(_) => "ENGINE_DISABLED",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::KeyScopeDenied => "KEY_SCOPE_DENIED",
            Self::PlanRequired(_) => "PLAN_REQUIRED",
            Self::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            Self::Unprocessable(_) => "UNPROCESSABLE",
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::DatabaseNotFound => "DATABASE_NOT_FOUND",
            Self::NotFound(_) | Self::NotOffered(_) => "NOT_FOUND",
            Self::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            Self::Conflict(_) => "CONFLICT",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::Unavailable(_) | Self::NoCapacity(_) => "UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => Self::Conflict("the resource was changed concurrently; retry".into()),
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::QuotaExceeded => Self::QuotaExceeded("the account's plan allows no more databases".into()),
            StoreError::HostFull => Self::NoCapacity("no tenant host has capacity".into()),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "control-plane database unavailable");
                Self::Unavailable("the control-plane database is unavailable".into())
            }
            other => Self::Internal(anyhow::Error::new(other).context("control-plane store")),
        }
    }
}

/// Turns what should not fail, but did, into [`Error::Internal`] with its cause.
pub trait OrInternal<T> {
    /// `what`: what was being done (for a `Result`, the error is its cause) or what was
    /// missing (for an `Option`).
    fn or_internal(self, what: &'static str) -> Result<T, Error>;
}

impl<T> OrInternal<T> for Option<T> {
    fn or_internal(self, what: &'static str) -> Result<T, Error> {
        self.ok_or_else(|| Error::Internal(anyhow::anyhow!(what)))
    }
}

impl<T, E: std::error::Error + Send + Sync + 'static> OrInternal<T> for Result<T, E> {
    fn or_internal(self, what: &'static str) -> Result<T, Error> {
        self.map_err(|e| Error::Internal(anyhow::Error::new(e).context(what)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_out_of_the_response() {
        let e: Result<(), _> = Err(std::io::Error::other("secret-ish detail"));
        let e = e.or_internal("reading the thing").expect_err("an error");
        assert_eq!(e.code(), "INTERNAL");
        assert_eq!(e.to_string(), "internal error");
        let chain = format!("{:#}", anyhow::Error::new(e));
        assert!(chain.contains("reading the thing") && chain.contains("secret-ish detail"), "{chain}");
        let missing = None::<()>.or_internal("the claim on record").expect_err("an error");
        let Error::Internal(cause) = &missing else { panic!("internal: {missing:?}") };
        assert_eq!(cause.to_string(), "the claim on record");
    }
}
