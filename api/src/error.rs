//! The application's errors ([`control::Error`]) as HTTP responses: each code from API.md
//! gets its status and the `{"error": {code, message, request_id}}` envelope.
//!
//! An unexpected failure ([`Error::Internal`]) answers only `internal error`; its cause is
//! logged once, here, where the response is made ([`ResponseError::error_response`]), inside
//! the request's span (so with its request id).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

pub use control::error::{Error, OrInternal};
pub use wire::{ErrorBody, ErrorDetail};

/// What a handler fails with: an application error on its way to becoming a response.
/// (A wrapper only because actix's `ResponseError` can be implemented for local types.)
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub Error);

impl From<eventstore::StoreError> for ApiError {
    fn from(e: eventstore::StoreError) -> Self {
        Self(e.into())
    }
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        self.0.code()
    }
}

/// The HTTP status of an application error.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::InvalidRequest(_) | Error::InvalidName(_) | Error::EngineDisabled(_) => StatusCode::BAD_REQUEST,
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) | Error::KeyScopeDenied | Error::PlanRequired(_) | Error::QuotaExceeded(_) => {
            StatusCode::FORBIDDEN
        }
        Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::DatabaseNotFound | Error::NotFound(_) | Error::NotOffered(_) => StatusCode::NOT_FOUND,
        Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Unavailable(_) | Error::NoCapacity(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        let e = &self.0;
        if let Error::Internal(cause) = e {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let mut res = HttpResponse::build(self.status_code());
        if let Error::RateLimited(wait) = e {
            res.insert_header(("retry-after", wait.as_secs_f64().ceil().max(1.0).to_string()));
        }
        if let Error::Unavailable(_) = e {
            // The control plane or a host restarting answers again within seconds.
            res.insert_header(("retry-after", "2"));
        }
        if let Error::NoCapacity(_) = e {
            // Not the API failing: kept out of the `api_errors` burst (its own incident).
            res.extensions_mut().insert(crate::error_burst::NotAFault);
        }
        if let Error::MethodNotAllowed(allow) = e {
            res.insert_header(("allow", allow.clone()));
        }
        // `request_id` is filled in by the request-id middleware.
        res.json(ErrorBody {
            error: ErrorDetail { code: e.code().into(), message: e.to_string(), request_id: String::new() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn the_response_says_only_internal_error() {
        let e = ApiError(Error::internal(anyhow::anyhow!("password=hunter2")));
        let res = e.error_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = actix_web::body::to_bytes(res.into_body()).await.expect("a body");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("\"INTERNAL\"") && !body.contains("hunter2"), "{body}");
    }
}
