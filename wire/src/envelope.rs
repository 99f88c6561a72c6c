//! The envelope every body travels in, and the error body.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A success body: `{"data": …}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

/// A list body: `{"data": […], "next_cursor": …}`; `next_cursor` is null on the last page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// An error body: `{"error": {code, message, request_id}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// One of API.md's error codes (a client should treat a code it does not know as its
    /// HTTP status says).
    #[schema(value_type = ErrorCode)]
    pub code: String,
    /// For humans; never carries a secret or SQL.
    pub message: String,
    /// The request's id, as in the `x-request-id` header.
    pub request_id: String,
}

/// API.md's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidName,
    EngineDisabled,
    Unauthenticated,
    AccountSuspended,
    KeyScopeDenied,
    Forbidden,
    PlanRequired,
    QuotaExceeded,
    DatabaseNotFound,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    Unprocessable,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::InvalidName => "INVALID_NAME",
            Self::EngineDisabled => "ENGINE_DISABLED",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::AccountSuspended => "ACCOUNT_SUSPENDED",
            Self::KeyScopeDenied => "KEY_SCOPE_DENIED",
            Self::Forbidden => "FORBIDDEN",
            Self::PlanRequired => "PLAN_REQUIRED",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::DatabaseNotFound => "DATABASE_NOT_FOUND",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Conflict => "CONFLICT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::Unprocessable => "UNPROCESSABLE",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `?cursor=&limit=` of a list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// `GET /healthz`, `GET /readyz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    /// `ok`, `ready` or `not ready`.
    pub status: String,
    /// Why not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
