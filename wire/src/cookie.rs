//! The dashboard's sign-in: a credential exchanged for a session cookie.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CookieSignIn {
    /// An API key (`brth_…`) of a full-account scope.
    pub api_key: Option<String>,
    /// A session token (from `POST /auth/anonymous` or `/auth/session`).
    pub token: Option<String>,
    /// An OIDC id token, when an issuer is configured.
    pub id_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CookieSession {
    pub user_id: String,
    pub account_id: String,
    pub platform_role: String,
    pub anonymous: bool,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignInMethods {
    pub api_key: bool,
    /// The OIDC issuer, when one is configured (`POST /auth/cookie {id_token}`).
    pub oidc_issuer: Option<String>,
    /// Where the dashboard sends users to sign in with it, and the client id it names.
    pub oidc_authorize_url: Option<String>,
    pub oidc_client_id: Option<String>,
    /// Anonymous accounts can be created (`POST /auth/anonymous`).
    pub anonymous: bool,
}
