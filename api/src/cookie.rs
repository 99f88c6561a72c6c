//! The dashboard's session: a cookie instead of `Authorization`. `POST /auth/cookie` takes a
//! credential the bearer auth accepts (an API key, a session token, or an OIDC id token when
//! an issuer is configured), checks it exactly as the bearer auth does, and sets
//!
//! - `berth_session`: a session token (`session.rs`: signed, with an id that logout ends
//!   server-side), HttpOnly, SameSite=Strict, Path=/, Secure when the request came over TLS;
//! - `berth_csrf`: the session's CSRF token, readable by the dashboard's script, which sends
//!   it back in `x-csrf-token`. It is an HMAC of the session id under the platform's hash
//!   key, so the server checks it without storing it (compared in constant time).
//!
//! A caller authenticated by the cookie must send that header on every state-changing method
//! (POST, PUT, PATCH, DELETE), else 403 `FORBIDDEN`: a cross-site form or script cannot
//! read the token. Sign-in itself refuses cross-site requests (Origin / Sec-Fetch-Site), so
//! another site cannot sign a visitor into its own account.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::Method;
use actix_web::{get, post, web, HttpRequest, HttpResponse, HttpResponseBuilder};
use chrono::{DateTime, Utc};
use domain::PlatformRole;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;
use wire::{CookieSession, CookieSignIn, SignInMethods};

use crate::auth::authenticate;
use crate::body::Json;
use crate::error::{ApiError, Error, ErrorBody, OrInternal};
use crate::views::Data;
use crate::{request_id_of, AppState};
use control::session_tokens::Session;
use control::sessions::SignIn;

pub const SESSION_COOKIE: &str = "berth_session";
pub const CSRF_COOKIE: &str = "berth_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

const CSRF_REFUSED: &str = "this request is authenticated by the session cookie and needs the header x-csrf-token";

/// The cookie credential of a request that has no `Authorization` header.
pub struct CookieCredential {
    pub token: String,
    /// The method changes state: the CSRF header is required.
    writes: bool,
    header: Option<String>,
}

pub fn credential(req: &HttpRequest) -> Option<CookieCredential> {
    let token = req.cookie(SESSION_COOKIE)?.value().to_owned();
    if token.is_empty() {
        return None;
    }
    let writes = ![Method::GET, Method::HEAD, Method::OPTIONS].contains(req.method());
    let header = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Some(CookieCredential { token, writes, header })
}

/// The CSRF token of session `id`.
pub fn csrf_token(hash_key: &[u8; 32], id: uuid::Uuid) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(hash_key).expect("HMAC takes any key length");
    mac.update(b"berth dashboard csrf:");
    mac.update(id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A cookie credential must be a session, and a state-changing request must carry its token.
pub fn check(state: &AppState, caller: &control::Caller, cred: &CookieCredential) -> Result<(), Error> {
    let Some((id, _)) = caller.session else {
        return Err(Error::Unauthenticated("the session cookie does not hold a session; sign in again"));
    };
    if !cred.writes {
        return Ok(());
    }
    let expected = csrf_token(&state.store().keyring()?.hash_key, id);
    let sent = cred.header.as_deref().unwrap_or("");
    if bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Error::Forbidden(CSRF_REFUSED))
    }
}

/// Over TLS (our own listener's, or a proxy's as its `Forwarded` header says), or when
/// configured.
fn secure(req: &HttpRequest) -> bool {
    let configured =
        req.app_data::<web::Data<AppState>>().is_some_and(|s| s.config.cookie_secure || s.config.tls.is_some());
    configured || req.connection_info().scheme() == "https"
}

fn cookie(req: &HttpRequest, name: &'static str, value: String, http_only: bool, max_age: i64) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(http_only)
        .same_site(SameSite::Strict)
        .secure(secure(req))
        .max_age(time::Duration::seconds(max_age))
        .finish()
}

/// Sets both cookies for session `token` (id `id`, expiring at `expires_at`).
fn set_cookies(
    res: &mut HttpResponseBuilder,
    req: &HttpRequest,
    hash_key: &[u8; 32],
    token: String,
    id: uuid::Uuid,
    expires_at: DateTime<Utc>,
) {
    let age = (expires_at - Utc::now()).num_seconds().max(0);
    res.cookie(cookie(req, SESSION_COOKIE, token, true, age));
    res.cookie(cookie(req, CSRF_COOKIE, csrf_token(hash_key, id), false, age));
}

/// Expires both cookies (on sign-out).
pub fn clear(res: &mut HttpResponseBuilder, req: &HttpRequest) {
    if req.cookie(SESSION_COOKIE).is_some() || req.cookie(CSRF_COOKIE).is_some() {
        res.cookie(cookie(req, SESSION_COOKIE, String::new(), true, 0));
        res.cookie(cookie(req, CSRF_COOKIE, String::new(), false, 0));
    }
}

/// Refuses a request another site made: its `Sec-Fetch-Site` says so, or its `Origin` is
/// not this server's.
fn same_origin(req: &HttpRequest) -> Result<(), ApiError> {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
        return Err(ApiError(Error::Forbidden("cross-site sign-in is refused")));
    }
    if let Some(origin) = header("origin") {
        let host = req.connection_info().host().to_owned();
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
        if origin_host != host {
            return Err(ApiError(Error::Forbidden("cross-site sign-in is refused")));
        }
    }
    Ok(())
}

/// Sign the dashboard in: the credential is checked as the bearer auth checks it; the answer
/// sets the session cookie (HttpOnly, SameSite=Strict) and the CSRF cookie. A key limited to
/// selected databases is refused (`KEY_SCOPE_DENIED`): the dashboard acts for the account.
#[utoipa::path(post, path = "/api/v1/auth/cookie", operation_id = "createCookieSession", request_body = CookieSignIn, tag = "auth", security(),
    responses((status = 200, description = "OK", body = Data<CookieSession>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/auth/cookie")]
pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<CookieSignIn>,
) -> Result<HttpResponse, ApiError> {
    same_origin(&req)?;
    let b = body.0;
    let (token, caller) = match (b.api_key, b.token, b.id_token) {
        (Some(key), None, None) => {
            let caller = authenticate(&state.control, key.trim()).await?;
            if caller.api_key_id.is_none() {
                return Err(ApiError(Error::InvalidRequest("invalid field `api_key`: not an API key".into())));
            }
            caller.require_full_account()?;
            let prefix =
                control::keys::split(key.trim()).map(|(p, _)| p).or_internal("the prefix of an accepted API key")?;
            let key_id = caller.api_key_id.or_internal("the id of an accepted API key")?;
            let who = Session {
                user_id: caller.user_id,
                account_id: caller.account_id,
                platform_role: caller.platform_role,
                anonymous: false,
            };
            let method = domain::SignInMethod::ApiKey;
            let sign_in = SignIn { who, key: Some((key_id, prefix)), method, request_id: request_id_of(&req) };
            let token = control::sessions::sign_in(&state.control, sign_in).await?.token;
            let caller = authenticate(&state.control, &token).await?;
            (token, caller)
        }
        (None, Some(token), None) => {
            let caller = authenticate(&state.control, token.trim()).await?;
            if caller.session.is_none() {
                return Err(ApiError(Error::InvalidRequest("invalid field `token`: not a session token".into())));
            }
            (token.trim().to_owned(), caller)
        }
        (None, None, Some(id_token)) => {
            let token = crate::routes::auth::oidc_session(&state, &id_token, request_id_of(&req)).await?;
            let caller = authenticate(&state.control, &token).await?;
            (token, caller)
        }
        _ => {
            return Err(ApiError(Error::InvalidRequest(
                "exactly one of the fields `api_key`, `token`, `id_token` is required".into(),
            )))
        }
    };
    let (id, expires_at) = caller.session.or_internal("the session of a signed-in token")?;
    let mut res = HttpResponse::Ok();
    set_cookies(&mut res, &req, &state.store().keyring()?.hash_key, token, id, expires_at);
    let role = match caller.platform_role {
        PlatformRole::Admin => "admin",
        PlatformRole::User => "user",
    };
    Ok(res.json(Data {
        data: CookieSession {
            user_id: caller.user_id.to_string(),
            account_id: caller.account_id.to_string(),
            platform_role: role.into(),
            anonymous: caller.anonymous,
            expires_at,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_per_session_and_per_deployment() {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let t = csrf_token(&[1; 32], a);
        assert_eq!(t, csrf_token(&[1; 32], a), "the server recomputes it");
        assert_ne!(t, csrf_token(&[1; 32], b), "another session's token differs");
        assert_ne!(t, csrf_token(&[2; 32], a), "another deployment's token differs");
        assert_eq!(t.len(), 64);
    }
}

/// How the dashboard may sign in on this deployment.
#[utoipa::path(get, path = "/api/v1/auth/methods", operation_id = "getSignInMethods", tag = "auth", security(),
    responses((status = 200, description = "OK", body = Data<SignInMethods>)))]
#[get("/auth/methods")]
pub async fn methods(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Data {
        data: SignInMethods {
            api_key: true,
            oidc_issuer: state.config.oidc.as_ref().map(|o| o.issuer.clone()),
            oidc_authorize_url: state.config.oidc.as_ref().and_then(|o| o.authorize_url.clone()),
            oidc_client_id: state.config.oidc.as_ref().map(|o| o.audience.clone()),
            anonymous: state.config.limits.anonymous_signups_per_hour > 0,
        },
    })
}
