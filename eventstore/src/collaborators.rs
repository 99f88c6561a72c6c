//! Who a database is shared with, and as what (the `collaborators` read model; its
//! projection is in `projection_accounts`).

use chrono::{DateTime, Utc};
use domain::{DatabaseId, UserId};

use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct CollaboratorRow {
    pub user_id: UserId,
    pub email: String,
    pub role: String,
    pub added_at: DateTime<Utc>,
}

impl Store {
    /// The role `user` has on `db` as a collaborator, if any.
    pub async fn collaborator_role(&self, db: DatabaseId, user: UserId) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "select role from collaborators where database_id = $1 and user_id = $2",
                &[&db.uuid(), &user.uuid()],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn collaborators(&self, db: DatabaseId) -> Result<Vec<CollaboratorRow>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "select user_id, email, role, added_at from collaborators where database_id = $1 order by added_at",
                &[&db.uuid()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| CollaboratorRow { user_id: UserId(r.get(0)), email: r.get(1), role: r.get(2), added_at: r.get(3) })
            .collect())
    }
}
