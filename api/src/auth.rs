//! Who is calling. The `Caller` extractor accepts `Authorization: Bearer brth_…` API keys;
//! anything missing, malformed, unknown or revoked is 401 `UNAUTHENTICATED` with the same
//! message, so a probe learns nothing about which keys exist.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use domain::{AccountId, Actor, ApiKeyId, PlatformRole, UserId};

use crate::error::ApiError;
use crate::{keys, AppState};

#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub api_key_id: Option<ApiKeyId>,
    pub platform_role: PlatformRole,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor { user_id: Some(self.user_id), api_key_id: self.api_key_id }
    }
}

const REJECTED: &str = "a valid API key is required: Authorization: Bearer brth_…";

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header =
            req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or(ApiError::Internal)?;
            let header = header.ok_or(ApiError::Unauthenticated(REJECTED))?;
            let token = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .ok_or(ApiError::Unauthenticated(REJECTED))?
                .trim();
            let (prefix, secret) = keys::split(token).ok_or(ApiError::Unauthenticated(REJECTED))?;
            let row = state.store.api_key_by_prefix(prefix).await?.ok_or(ApiError::Unauthenticated(REJECTED))?;
            let keyring = state.store.keyring()?;
            let hash_key = &keyring.hash_key;
            if row.revoked || !keys::verify(hash_key, secret, &row.hash) {
                return Err(ApiError::Unauthenticated(REJECTED));
            }
            Ok(Caller {
                account_id: row.account_id,
                user_id: row.user_id,
                api_key_id: Some(row.id),
                platform_role: if row.platform_role == "admin" { PlatformRole::Admin } else { PlatformRole::User },
            })
        })
    }
}
