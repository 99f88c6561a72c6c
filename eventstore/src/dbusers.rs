//! Database users read model: projection and queries.

use chrono::{DateTime, Utc};
use domain::{DatabaseId, DatabaseUserEvent};
use tokio_postgres::Transaction;

use crate::{RecordedEvent, Store, StoreError};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub name: String,
    pub role_name: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
}

pub(crate) async fn project_user(
    tx: &Transaction<'_>,
    e: &RecordedEvent,
    u: &DatabaseUserEvent,
) -> Result<(), StoreError> {
    use DatabaseUserEvent as E;
    let db = u.database_id().uuid();
    let name = u.name().as_str();
    match u {
        E::DatabaseUserCreated { role_name, .. } => {
            tx.execute(
                "insert into database_users (database_id, name, role_name, state, created_at)
                 values ($1, $2, $3, 'creating', $4)",
                &[&db, &name, role_name, &e.occurred_at],
            )
            .await?;
        }
        E::DatabaseUserReady { .. } | E::DatabaseUserRemovalRequested { .. } => {
            let state = if matches!(u, E::DatabaseUserReady { .. }) { "ready" } else { "removing" };
            tx.execute(
                "update database_users set state = $3 where database_id = $1 and name = $2",
                &[&db, &name, &state],
            )
            .await?;
        }
        E::DatabaseUserRemoved { role_name, .. } => {
            tx.execute("delete from database_users where database_id = $1 and name = $2", &[&db, &name]).await?;
            tx.execute("delete from database_user_verifiers where role_name = $1", &[role_name]).await?;
        }
    }
    Ok(())
}

impl Store {
    pub async fn database_users(&self, database: DatabaseId) -> Result<Vec<UserRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select name, role_name, state, created_at from database_users where database_id = $1 order by name",
                &[&database.uuid()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| UserRow { name: r.get(0), role_name: r.get(1), state: r.get(2), created_at: r.get(3) })
            .collect())
    }

    pub async fn user_verifier(&self, role_name: &str) -> Result<String, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("select verifier from database_user_verifiers where role_name = $1", &[&role_name])
            .await?;
        row.map(|r| r.get(0)).ok_or(StoreError::NotFound)
    }
}
