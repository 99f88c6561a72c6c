//! What a call can fail with: the API said no (status, code, message, request id), the
//! network failed (nothing answered, or the connection broke), or a wait ran out or ended
//! in a failed operation.

use std::fmt;

/// An error answer of the API: `{"error": {"code", "message", "request_id"}}` and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// API.md's code (`DATABASE_NOT_FOUND`, …); `HTTP_<status>` when the body was not the
    /// API's error envelope (e.g. a proxy's page).
    pub code: String,
    pub message: String,
    /// From the body, else from the `x-request-id` header.
    pub request_id: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with an error status.
    #[error("{0}")]
    Api(ApiError),
    /// No answer: connection refused, DNS, TLS, timeout, a connection cut mid-body.
    #[error("network error: {0}")]
    Network(String),
    /// An answer that is not what the contract promises (not JSON, missing `data`).
    #[error("unexpected response (HTTP {status}): {message}")]
    Protocol { status: u16, message: String, request_id: Option<String> },
    /// A wait passed its deadline; the operation may still finish later.
    #[error("{0}")]
    Timeout(String),
    /// The awaited operation ended in `failed`.
    #[error("operation {id} ({kind}) failed: {message}")]
    OperationFailed { id: String, kind: String, message: String },
    /// A local problem: a file could not be written, a bad URL was given.
    #[error("{0}")]
    Local(String),
}

impl Error {
    /// True for the errors that mean "nothing (usable) answered": exit code 3 in the CLI.
    pub fn is_network(&self) -> bool {
        matches!(self, Error::Network(_))
    }

    /// The API error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The API's error code, if this is an API error.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|e| e.code.as_str())
    }

    pub(crate) fn network(e: &reqwest::Error) -> Self {
        // reqwest's own text is terse ("error sending request"); the cause says why.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        Error::Network(text)
    }
}
