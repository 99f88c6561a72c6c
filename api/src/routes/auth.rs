//! Signing in: OIDC id tokens for verified users, anonymous accounts, and the claim of an
//! anonymous account's databases by a verified user. The id token is verified here (an
//! adapter of the identity provider); what signing in does is `control::sessions`.

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use control::accounts::VerifiedIdentity;
use control::sessions;
use domain::UserId;

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, Error, ErrorBody};
use crate::views::Data;
use crate::{metadata, request_id_of, AppState};
pub use wire::{AnonymousCredentials, AnonymousView, ClaimView, SessionRequest, SessionUserView, SessionView};

/// A session for the user an OIDC id token names (created on first sign-in).
async fn verify_oidc(
    state: &AppState,
    id_token: &str,
    request_id: Option<String>,
) -> Result<(String, DateTime<Utc>, UserId, eventstore::users::UserRow), Error> {
    let oidc = state
        .oidc
        .as_ref()
        .ok_or(Error::NotOffered("sign-in with an OIDC id token is not configured on this deployment"))?;
    let identity = oidc.verify(id_token).map_err(|_| Error::Unauthenticated("the id token was not accepted"))?;
    let identity = VerifiedIdentity { issuer: identity.issuer, subject: identity.subject, email: identity.email };
    let (issued, user_id, user) = sessions::sign_in_identity(&state.control, &identity, request_id).await?;
    Ok((issued.token, issued.expires_at, user_id, user))
}

/// The session token an OIDC id token signs in to (the dashboard's cookie sign-in).
pub(crate) async fn oidc_session(
    state: &AppState,
    id_token: &str,
    request_id: Option<String>,
) -> Result<String, Error> {
    Ok(verify_oidc(state, id_token, request_id).await?.0)
}

/// Exchange an OIDC id token for a Berth session.
#[utoipa::path(post, path = "/api/v1/auth/session", operation_id = "createSession", request_body = SessionRequest, tag = "auth", security(),
    responses((status = 200, description = "OK", body = Data<SessionView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/auth/session")]
pub async fn session(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<SessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (token, expires_at, user_id, user) = verify_oidc(&state, &body.0.id_token, request_id_of(&req)).await?;
    let view = SessionUserView {
        user_id: user_id.to_string(),
        email: user.email,
        account_id: user.account_id.to_string(),
        platform_role: user.platform_role.as_str().into(),
    };
    Ok(HttpResponse::Ok().json(Data { data: SessionView { token, expires_at, user: Some(view) } }))
}

/// Create an anonymous account (free plan) and a session for it. At most
/// `anonymous_signups_per_hour` (default 10) per client address per hour, counted in the
/// control plane: past it, 429 `RATE_LIMITED` with `retry-after`.
#[utoipa::path(post, path = "/api/v1/auth/anonymous", operation_id = "createAnonymousAccount", tag = "auth", security(),
    responses((status = 201, description = "Created", body = Data<AnonymousView>)))]
#[post("/auth/anonymous")]
pub async fn anonymous(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let client = req.peer_addr().map(|a| a.ip());
    let (anon, issued) = sessions::sign_up_anonymous(&state.control, client, request_id_of(&req)).await?;
    Ok(HttpResponse::Created().json(Data {
        data: AnonymousView {
            account_id: anon.account_id.to_string(),
            anonymous_secret: anon.secret,
            token: issued.token,
            expires_at: issued.expires_at,
        },
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/anonymous/refresh", operation_id = "refreshAnonymousSession", request_body = AnonymousCredentials, tag = "auth", security(),
    responses((status = 200, description = "OK", body = Data<SessionView>), (status = 401, body = ErrorBody)))]
#[post("/auth/anonymous/refresh")]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<AnonymousCredentials>,
) -> Result<HttpResponse, ApiError> {
    let creds = body.0;
    let issued =
        sessions::refresh_anonymous(&state.control, &creds.account_id, &creds.anonymous_secret, request_id_of(&req))
            .await?;
    Ok(HttpResponse::Ok()
        .json(Data { data: SessionView { token: issued.token, expires_at: issued.expires_at, user: None } }))
}

/// Move an anonymous account's databases to the signed-in user's account, and end the
/// anonymous account's sessions. Idempotent: a retried claim moves nothing twice and answers
/// the same. 403 `QUOTA_EXCEEDED` (nothing moved) if the databases would take the caller's
/// account past its plan's database slots.
#[utoipa::path(post, path = "/api/v1/auth/claim", operation_id = "claimAnonymousAccount", request_body = AnonymousCredentials, tag = "auth",
    responses((status = 200, description = "OK", body = Data<ClaimView>), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/auth/claim")]
pub async fn claim(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<AnonymousCredentials>,
) -> Result<HttpResponse, ApiError> {
    let creds = body.0;
    let meta = metadata(&req, &caller);
    let claimed =
        control::accounts::claim(&state.control, &caller, &creds.account_id, &creds.anonymous_secret, meta).await?;
    Ok(HttpResponse::Ok().json(Data {
        data: ClaimView {
            account_id: claimed.account_id.to_string(),
            claimed_into: claimed.into.to_string(),
            database_ids: claimed.database_ids.iter().map(|d| d.to_string()).collect(),
        },
    }))
}

/// End the calling session: its token answers 401 `UNAUTHENTICATED` from now on, in every
/// API process. Other sessions of the user stay valid. An API key cannot log out (it is
/// revoked with `DELETE /api-keys/{id}`): 403 `FORBIDDEN`.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth",
    responses((status = 204, description = "No content"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/auth/logout")]
pub async fn logout(req: HttpRequest, state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    sessions::logout(&state.control, &caller, metadata(&req, &caller)).await?;
    let mut res = HttpResponse::NoContent();
    crate::cookie::clear(&mut res, &req);
    Ok(res.finish())
}
