//! Who is calling: the `Caller` extractor accepts `Authorization: Bearer <credential>` (an
//! API key or a session token) or, without it, the dashboard's session cookie with its CSRF
//! check, and hands the credential to [`control::caller::authenticate`]. Per-credential
//! request budgets are taken here.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::error::{ApiError, Error, OrInternal};
use crate::AppState;

pub use control::caller::{authenticate, REJECTED};

/// The authenticated caller of a request (an extractor around [`control::Caller`]; it derefs
/// to it, so `&caller` is what the use cases take).
#[derive(Debug, Clone)]
pub struct Caller(pub control::Caller);

impl std::ops::Deref for Caller {
    type Target = control::Caller;

    fn deref(&self) -> &control::Caller {
        &self.0
    }
}

/// The credential in `Authorization: Bearer …`, if any.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    // Scheme names are case-insensitive (RFC 9110 §11.1): `bearer`, `Bearer`, `BEARER`.
    let (scheme, token) = header.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        // Without `Authorization`, the dashboard's session cookie (with its CSRF check).
        let cookie = if token.is_none() { crate::cookie::credential(req) } else { None };
        Box::pin(async move {
            let state = state.or_internal("the app state is not registered")?;
            let token = token.or_else(|| cookie.as_ref().map(|c| c.token.clone()));
            let token = token.ok_or(Error::Unauthenticated(REJECTED))?;
            let caller = authenticate(&state.control, &token).await?;
            if let Some(cookie) = &cookie {
                crate::cookie::check(&state, &caller, cookie)?;
            }
            if let Some(limiter) = &state.credential_limiter {
                limiter.take(&caller.user_id.to_string()).map_err(Error::RateLimited)?;
            }
            Ok(Caller(caller))
        })
    }
}
