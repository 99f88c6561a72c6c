//! Sessions: signing in (a verified identity, an anonymous account, a dashboard's API key)
//! records `SessionStarted` on the session's own stream before the token is handed out, and
//! logout records the session as ended. Tokens are signed by [`crate::session_tokens`].

use domain::{AccountCommand, PlatformRole, SessionCommand, SignInMethod, StreamId, UserId};
use eventstore::users::UserRow;
use eventstore::Metadata;

use crate::accounts::{self, VerifiedIdentity};
use crate::caller::Caller;
use crate::error::{Error, OrInternal};
use crate::session_tokens::{Issued, Session};
use crate::Control;

/// Who signs in, and how: what [`sign_in`] records with the session.
pub struct SignIn<'a> {
    pub who: Session,
    /// The API key a dashboard session is bound to: its id (the entry's actor) and prefix.
    pub key: Option<(domain::ApiKeyId, &'a str)>,
    pub method: SignInMethod,
    pub request_id: Option<String>,
}

/// Starts a session and records the sign-in (`SessionStarted`, activity `session.login`): a
/// sign-in the log cannot hold is refused.
pub async fn sign_in(ctx: &Control, s: SignIn<'_>) -> Result<Issued, Error> {
    let issued = ctx.sessions.start(&s.who, s.key.map(|(_, prefix)| prefix));
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
    ctx.store
        .execute_new::<domain::Session>(stream.as_str(), &cmd, &meta, &[])
        .await?
        .or_internal("recording a sign-in")?;
    Ok(issued)
}

/// A session for the user a verified identity names (created on first sign-in).
pub async fn sign_in_identity(
    ctx: &Control,
    identity: &VerifiedIdentity,
    request_id: Option<String>,
) -> Result<(Issued, UserId, UserRow), Error> {
    let user_id = accounts::user_for(ctx, identity).await?;
    let user = ctx.store.user(user_id).await?.or_internal("the signed-in user is not in the read model")?;
    let who = Session { user_id, account_id: user.account_id, platform_role: user.platform_role, anonymous: false };
    let issued = sign_in(ctx, SignIn { who, key: None, method: SignInMethod::Oidc, request_id }).await?;
    Ok((issued, user_id, user))
}

/// A new anonymous account and its first session.
pub async fn sign_up_anonymous(
    ctx: &Control,
    client: Option<std::net::IpAddr>,
    request_id: Option<String>,
) -> Result<(accounts::Anonymous, Issued), Error> {
    let anon = accounts::create_anonymous(ctx, client).await?;
    let who = Session {
        user_id: anon.user_id,
        account_id: anon.account_id,
        platform_role: PlatformRole::User,
        anonymous: true,
    };
    let issued = sign_in(ctx, SignIn { who, key: None, method: SignInMethod::AnonymousSignup, request_id }).await?;
    Ok((anon, issued))
}

/// A new session for an anonymous account that was not claimed, given its secret.
pub async fn refresh_anonymous(
    ctx: &Control,
    account_id: &str,
    secret: &str,
    request_id: Option<String>,
) -> Result<Issued, Error> {
    let (account_id, user_id) = accounts::check_anonymous(ctx, account_id, secret).await?;
    if accounts::is_claimed(ctx, account_id).await? {
        return Err(Error::Unauthenticated("this anonymous account was claimed; sign in instead"));
    }
    let who = Session { user_id, account_id, platform_role: PlatformRole::User, anonymous: true };
    sign_in(ctx, SignIn { who, key: None, method: SignInMethod::AnonymousRefresh, request_id }).await
}

/// Ends the caller's session: its token is refused from now on, in every API process. An
/// API key cannot log out (it is revoked instead): `FORBIDDEN`.
pub async fn logout(ctx: &Control, caller: &Caller, meta: Metadata) -> Result<(), Error> {
    let Some((session_id, expires_at)) = caller.session else {
        return Err(Error::Forbidden(
            "the credential is an API key, not a session; revoke it with DELETE /api/v1/api-keys/{id}",
        ));
    };
    let cmd = AccountCommand::EndSession { user_id: caller.user_id, session_id, expires_at };
    accounts::execute(ctx, caller.account_id, &cmd, meta).await?.map_err(|e| Error::Conflict(e.to_string()))?;
    Ok(())
}
