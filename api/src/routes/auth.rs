//! Signing in: OIDC id tokens for verified users, anonymous accounts, and the claim of an
//! anonymous account's databases by a verified user.

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::{
    Account, AccountCommand, AccountError, AccountId, Plan, PlatformRole, SessionCommand, SignInMethod, StreamId,
    UserId,
};
use eventstore::{Extra, Metadata};

use crate::auth::Caller;
use crate::body::Json;
use crate::error::{ApiError, ErrorBody, OrInternal};
use crate::session::{Issued, Session};
use crate::views::Data;
use crate::{keys, metadata, request_id_of, service, AppState};
pub use wire::{AnonymousCredentials, AnonymousView, ClaimView, SessionRequest, SessionUserView, SessionView};

/// Finds or creates the user a verified identity signs in as.
async fn user_for(state: &AppState, id: &crate::oidc::Identity) -> Result<UserId, ApiError> {
    if let Some(user) = state.store.user_by_identity(&id.issuer, &id.subject).await? {
        return Ok(user);
    }
    let identity = domain::Identity { issuer: id.issuer.clone(), subject: id.subject.clone() };
    let meta =
        |user_id| Metadata { actor: domain::Actor { user_id: Some(user_id), api_key_id: None }, ..Default::default() };
    for _ in 0..2 {
        let (user_id, outcome) = match state.store.user_by_email_full(&id.email).await? {
            // A new subject for a known email reclaims the same user and account.
            Some(u) => {
                let cmd = AccountCommand::LinkIdentity { user_id: u.id, identity: identity.clone() };
                (
                    u.id,
                    state
                        .store
                        .execute::<Account>(StreamId::account(u.account_id).as_str(), &cmd, &meta(u.id), &[])
                        .await,
                )
            }
            None => {
                let (account_id, user_id) = (AccountId::new(), UserId::new());
                let cmd = AccountCommand::SignUp {
                    account_id,
                    user_id,
                    email: id.email.clone(),
                    plan: Plan::Free,
                    platform_role: PlatformRole::User,
                    identity: Some(identity.clone()),
                };
                (
                    user_id,
                    state
                        .store
                        .execute_new::<Account>(StreamId::account(account_id).as_str(), &cmd, &meta(user_id), &[])
                        .await,
                )
            }
        };
        match outcome {
            Ok(Ok(_)) => return Ok(user_id),
            Ok(Err(AccountError::BadEmail)) => {
                return Err(ApiError::Unauthenticated("the id token's email is not an email address"))
            }
            Ok(Err(e)) => return Err(e).or_internal("signing in a verified identity"),
            // Someone signed in with the same email or identity at the same moment: look again.
            Err(eventstore::StoreError::Conflict(_)) => {
                if let Some(user) = state.store.user_by_identity(&id.issuer, &id.subject).await? {
                    return Ok(user);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict("sign-in raced with another; retry".into()))
}

/// Who signs in, and how: what [`sign_in`] records with the session.
pub(crate) struct SignIn<'a> {
    pub who: Session,
    /// The API key a dashboard session is bound to: its id (the entry's actor) and prefix.
    pub key: Option<(domain::ApiKeyId, &'a str)>,
    pub method: SignInMethod,
    pub request_id: Option<String>,
}

/// Starts a session and records the sign-in (`SessionStarted`, activity `session.login`) on
/// the session's own stream before the token is handed out: a sign-in the log cannot hold
/// is refused.
pub(crate) async fn sign_in(state: &AppState, s: SignIn<'_>) -> Result<Issued, ApiError> {
    let issued = state.sessions.start(&s.who, s.key.map(|(_, prefix)| prefix));
    let cmd = SessionCommand::Start {
        account_id: s.who.account_id,
        user_id: s.who.user_id,
        session_id: issued.id,
        method: s.method,
        expires_at: issued.expires_at,
    };
    let meta = Metadata {
        actor: domain::Actor { user_id: Some(s.who.user_id), api_key_id: s.key.map(|(id, _)| id) },
        request_id: s.request_id,
        ..Metadata::default()
    };
    let stream = StreamId::session(issued.id);
    state
        .store
        .execute_new::<domain::Session>(stream.as_str(), &cmd, &meta, &[])
        .await?
        .or_internal("recording a sign-in")?;
    Ok(issued)
}

/// A session for the user an OIDC id token names (created on first sign-in).
async fn verify_oidc(
    state: &AppState,
    id_token: &str,
    request_id: Option<String>,
) -> Result<(String, DateTime<Utc>, UserId, eventstore::users::UserRow), ApiError> {
    let oidc = state
        .oidc
        .as_ref()
        .ok_or(ApiError::NotOffered("sign-in with an OIDC id token is not configured on this deployment"))?;
    let identity = oidc.verify(id_token).map_err(|_| ApiError::Unauthenticated("the id token was not accepted"))?;
    let user_id = user_for(state, &identity).await?;
    let user = state.store.user(user_id).await?.or_internal("the signed-in user is not in the read model")?;
    let who = Session { user_id, account_id: user.account_id, platform_role: user.platform_role, anonymous: false };
    let issued = sign_in(state, SignIn { who, key: None, method: SignInMethod::Oidc, request_id }).await?;
    Ok((issued.token, issued.expires_at, user_id, user))
}

/// The session token an OIDC id token signs in to (the dashboard's cookie sign-in).
pub(crate) async fn oidc_session(
    state: &AppState,
    id_token: &str,
    request_id: Option<String>,
) -> Result<String, ApiError> {
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
    let (account_id, user_id) = (AccountId::new(), UserId::new());
    let hash_key = state.store.keyring()?.hash_key;
    let secret = keys::anonymous_secret();
    let secret_hash = keys::hash_secret(&hash_key, &secret);
    // A keyed hash of the address, so the log never holds the address itself.
    let source = req.peer_addr().map(|a| keys::hash_secret(&hash_key, &format!("signup-source:{}", a.ip())));
    let cmd = AccountCommand::CreateAnonymous { account_id, user_id, secret_hash, signup_source: source.clone() };
    let meta = Metadata { actor: domain::Actor { user_id: Some(user_id), api_key_id: None }, ..Metadata::default() };
    let window = chrono::Duration::hours(1);
    let since = Utc::now() - window;
    let extras: Vec<Extra> = source
        .iter()
        .map(|s| Extra::SignupRate { source: s.clone(), since, max: state.config.limits.anonymous_signups_per_hour })
        .collect();
    match state.store.execute_new::<Account>(StreamId::account(account_id).as_str(), &cmd, &meta, &extras).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e).or_internal("creating an anonymous account"),
        Err(eventstore::StoreError::QuotaExceeded) => {
            let source = source.unwrap_or_default();
            let oldest = state.store.oldest_signup(&source, since).await?.unwrap_or_else(Utc::now);
            let wait = (oldest + window - Utc::now()).to_std().unwrap_or_default();
            return Err(ApiError::RateLimited(wait.max(std::time::Duration::from_secs(1))));
        }
        Err(e) => return Err(e.into()),
    }
    let who = Session { user_id, account_id, platform_role: PlatformRole::User, anonymous: true };
    let method = SignInMethod::AnonymousSignup;
    let issued = sign_in(&state, SignIn { who, key: None, method, request_id: request_id_of(&req) }).await?;
    let (token, expires_at) = (issued.token, issued.expires_at);
    Ok(HttpResponse::Created().json(Data {
        data: AnonymousView { account_id: account_id.to_string(), anonymous_secret: secret, token, expires_at },
    }))
}

/// The anonymous account's user, if `creds` are right and it is still anonymous and unclaimed.
async fn check_anonymous(state: &AppState, creds: &AnonymousCredentials) -> Result<(AccountId, UserId), ApiError> {
    let refused = ApiError::Unauthenticated("unknown anonymous account or wrong secret");
    let account = AccountId::parse(&creds.account_id)
        .map_err(|_| ApiError::Unauthenticated("unknown anonymous account or wrong secret"))?;
    let (hash, user) = state.store.anonymous_account(account).await?.ok_or(refused)?;
    if !keys::verify(&state.store.keyring()?.hash_key, &creds.anonymous_secret, &hash) {
        return Err(ApiError::Unauthenticated("unknown anonymous account or wrong secret"));
    }
    Ok((account, user))
}

#[utoipa::path(post, path = "/api/v1/auth/anonymous/refresh", operation_id = "refreshAnonymousSession", request_body = AnonymousCredentials, tag = "auth", security(),
    responses((status = 200, description = "OK", body = Data<SessionView>), (status = 401, body = ErrorBody)))]
#[post("/auth/anonymous/refresh")]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<AnonymousCredentials>,
) -> Result<HttpResponse, ApiError> {
    let (account_id, user_id) = check_anonymous(&state, &body.0).await?;
    let (account, _) = state.store.load::<Account>(StreamId::account(account_id).as_str()).await?;
    if account.claimed.is_some() {
        return Err(ApiError::Unauthenticated("this anonymous account was claimed; sign in instead"));
    }
    let who = Session { user_id, account_id, platform_role: PlatformRole::User, anonymous: true };
    let method = SignInMethod::AnonymousRefresh;
    let issued = sign_in(&state, SignIn { who, key: None, method, request_id: request_id_of(&req) }).await?;
    let (token, expires_at) = (issued.token, issued.expires_at);
    Ok(HttpResponse::Ok().json(Data { data: SessionView { token, expires_at, user: None } }))
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
    if caller.anonymous || caller.api_key_id.is_some() {
        return Err(ApiError::Forbidden("claiming needs the session of a signed-in user"));
    }
    let (anon, _) = check_anonymous(&state, &body.0).await?;
    let database_ids = state.store.account_database_ids(anon).await?;
    let plan = state.store.account_plan(caller.account_id).await?;
    let slots = state.config.plans.of(plan).databases;
    let cmd = AccountCommand::Claim { by_user_id: caller.user_id, to_account_id: caller.account_id, database_ids };
    // The slot check runs in the claim's own transaction, after the databases moved, under
    // the lock on the caller's account that database creation takes too: a claim racing a
    // create cannot both pass.
    let extras = [Extra::DatabaseQuota { account_id: caller.account_id.uuid(), max: slots }];
    let outcome =
        state.store.execute::<Account>(StreamId::account(anon).as_str(), &cmd, &metadata(&req, &caller), &extras).await;
    state.key_cache.forget_account(anon);
    match outcome {
        Ok(Ok(_)) => {}
        Ok(Err(AccountError::ClaimedByOther)) => {
            return Err(ApiError::Conflict("already claimed by another user".into()))
        }
        Ok(Err(e)) => return Err(ApiError::Conflict(e.to_string())),
        Err(eventstore::StoreError::QuotaExceeded) => {
            return Err(ApiError::QuotaExceeded(format!(
                "the {} plan allows {slots} databases; claiming would exceed it, so nothing was moved",
                plan.as_str()
            )))
        }
        Err(e) => return Err(e.into()),
    }
    // Whether just now or by an earlier try, the claim on record is the answer.
    let (account, _) = state.store.load::<Account>(StreamId::account(anon).as_str()).await?;
    let (_, into, ids) = account.claimed.or_internal("the claim on record")?;
    Ok(HttpResponse::Ok().json(Data {
        data: ClaimView {
            account_id: anon.to_string(),
            claimed_into: into.to_string(),
            database_ids: ids.iter().map(|d| d.to_string()).collect(),
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
    let Some((session_id, expires_at)) = caller.session else {
        return Err(ApiError::Forbidden(
            "the credential is an API key, not a session; revoke it with DELETE /api/v1/api-keys/{id}",
        ));
    };
    let cmd = AccountCommand::EndSession { user_id: caller.user_id, session_id, expires_at };
    service::execute_account(&state, caller.account_id, &cmd, metadata(&req, &caller))
        .await?
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    let mut res = HttpResponse::NoContent();
    crate::cookie::clear(&mut res, &req);
    Ok(res.finish())
}
