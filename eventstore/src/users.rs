//! The platform's users as the API reads them: by id, email or linked identity, with their
//! account's plan; anonymous accounts, ended sessions and sign-ups per source.

use domain::{AccountId, Plan, PlatformRole, UserId};

use crate::error::decode_column;
use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: Option<String>,
    pub platform_role: PlatformRole,
    pub plan: Plan,
    pub anonymous: bool,
}

const USER_COLUMNS: &str = "u.id, u.account_id, u.email, u.platform_role, a.plan, a.anonymous";

fn user_row(r: &tokio_postgres::Row) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: UserId(r.get(0)),
        account_id: AccountId(r.get(1)),
        email: r.get(2),
        platform_role: decode_column("users.platform_role", r.get(3), PlatformRole::parse)?,
        plan: decode_column("accounts.plan", r.get(4), Plan::parse)?,
        anonymous: r.get(5),
    })
}

impl Store {
    pub async fn user(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("select {USER_COLUMNS} from users u join accounts a on a.id = u.account_id where u.id = $1"),
                &[&id.uuid()],
            )
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    pub async fn user_by_email_full(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "select {USER_COLUMNS} from users u join accounts a on a.id = u.account_id where u.email = $1"
                ),
                &[&email],
            )
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// The user a verified identity signs in as, if it was linked before.
    pub async fn user_by_identity(&self, issuer: &str, subject: &str) -> Result<Option<UserId>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt("select user_id from identities where issuer = $1 and subject = $2", &[&issuer, &subject])
            .await?;
        Ok(row.map(|r| UserId(r.get(0))))
    }

    /// An anonymous account's secret hash and its one user, if the account is anonymous.
    pub async fn anonymous_account(&self, id: AccountId) -> Result<Option<(String, UserId)>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "select a.anonymous_secret_hash, u.id from accounts a join users u on u.account_id = a.id
                 where a.id = $1 and a.anonymous",
                &[&id.uuid()],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), UserId(r.get(1)))))
    }

    /// Whether a session token must be refused though its signature and expiry are good:
    /// it was ended (logout), or it is an anonymous account's and the account was claimed.
    pub async fn session_refused(
        &self,
        account: AccountId,
        session_id: uuid::Uuid,
        anonymous: bool,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached(
                "select exists (select 1 from ended_sessions where session_id = $2)
                     or ($3 and exists (select 1 from accounts where id = $1 and claimed_by is not null))",
            )
            .await?;
        Ok(c.query_one(&statement, &[&account.uuid(), &session_id, &anonymous]).await?.get(0))
    }

    /// The oldest sign-up from `source` since `since` (when the next one will be allowed).
    pub async fn oldest_signup(
        &self,
        source: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let c = self.client().await?;
        let statement = c
            .prepare_cached("select min(created_at) from accounts where signup_source = $1 and created_at > $2")
            .await?;
        Ok(c.query_one(&statement, &[&source, &since]).await?.get(0))
    }
}
