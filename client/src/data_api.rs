//! The data API's keys and auth config (API.md, "Data API (PostgREST-compatible) and browser
//! keys").

use reqwest::Method;
use wire::*;

use crate::{seg, Client, Done, Error, Reply};

impl Client {
    /// `POST /databases/{id}/publishable-keys`: the key is in the answer this once.
    pub async fn create_publishable_key(
        &self,
        db: &str,
        body: &CreatePublishableKey,
    ) -> Result<Reply<PublishableKeyCreated>, Error> {
        self.data(self.post(&format!("/databases/{}/publishable-keys", seg(db)), body)).await
    }

    /// `GET /databases/{id}/publishable-keys`.
    pub async fn publishable_keys(&self, db: &str) -> Result<Reply<Vec<PublishableKeyView>>, Error> {
        self.data(self.get(&format!("/databases/{}/publishable-keys", seg(db)))).await
    }

    /// `DELETE /databases/{id}/publishable-keys/{key_id}`.
    pub async fn revoke_publishable_key(&self, db: &str, key_id: &str) -> Result<Done, Error> {
        self.done(self.req(Method::DELETE, &format!("/databases/{}/publishable-keys/{}", seg(db), seg(key_id)))).await
    }

    /// `POST /databases/{id}/service-keys`: the key is in the answer this once.
    pub async fn create_service_key(
        &self,
        db: &str,
        body: &CreateServiceKey,
    ) -> Result<Reply<ServiceKeyCreated>, Error> {
        self.data(self.post(&format!("/databases/{}/service-keys", seg(db)), body)).await
    }

    /// `GET /databases/{id}/service-keys`.
    pub async fn service_keys(&self, db: &str) -> Result<Reply<Vec<ServiceKeyView>>, Error> {
        self.data(self.get(&format!("/databases/{}/service-keys", seg(db)))).await
    }

    /// `DELETE /databases/{id}/service-keys/{key_id}`.
    pub async fn revoke_service_key(&self, db: &str, key_id: &str) -> Result<Done, Error> {
        self.done(self.req(Method::DELETE, &format!("/databases/{}/service-keys/{}", seg(db), seg(key_id)))).await
    }

    /// `GET /databases/{id}/auth-config`.
    pub async fn auth_config(&self, db: &str) -> Result<Reply<AuthConfigView>, Error> {
        self.data(self.get(&format!("/databases/{}/auth-config", seg(db)))).await
    }

    /// `PUT /databases/{id}/auth-config`.
    pub async fn set_auth_config(&self, db: &str, body: &AuthConfigBody) -> Result<Reply<AuthConfigView>, Error> {
        self.data(self.req(Method::PUT, &format!("/databases/{}/auth-config", seg(db))).json(body)).await
    }
}
