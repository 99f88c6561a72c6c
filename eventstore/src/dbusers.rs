//! Database users read model: projection and queries.

use crate::tables::{Key, Set, Tables};
use chrono::{DateTime, Utc};
use domain::{DatabaseId, DatabaseUserEvent, UserState};

use crate::error::decode_column;
use crate::{RecordedEvent, Store, StoreError};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub name: String,
    pub role_name: String,
    pub state: UserState,
    pub created_at: DateTime<Utc>,
}

pub(crate) async fn project_user<T: Tables>(
    t: &mut T,
    e: &RecordedEvent,
    u: &DatabaseUserEvent,
) -> Result<(), StoreError> {
    use DatabaseUserEvent as E;
    let db = u.database_id().uuid();
    let name = u.name().as_str();
    let key = || Key::Eq(vec![("database_id", db.into()), ("name", name.into())]);
    match u {
        E::DatabaseUserCreated { role_name, .. } => {
            t.insert(
                "database_users",
                vec![
                    ("database_id", db.into()),
                    ("name", name.into()),
                    ("role_name", role_name.into()),
                    ("state", UserState::Creating.as_str().into()),
                    ("created_at", e.occurred_at.into()),
                ],
            )
            .await?;
        }
        E::DatabaseUserReady { .. } | E::DatabaseUserRemovalRequested { .. } => {
            let state = if matches!(u, E::DatabaseUserReady { .. }) { UserState::Ready } else { UserState::Removing };
            t.update("database_users", key(), vec![("state", Set::To(state.as_str().into()))]).await?;
        }
        E::DatabaseUserRemoved { role_name, .. } => {
            t.delete("database_users", key()).await?;
            t.delete("database_user_verifiers", Key::Eq(vec![("role_name", role_name.into())])).await?;
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
        rows.iter()
            .map(|r| {
                Ok(UserRow {
                    name: r.get(0),
                    role_name: r.get(1),
                    state: decode_column("database_users.state", r.get(2), UserState::parse)?,
                    created_at: r.get(3),
                })
            })
            .collect()
    }

    pub async fn user_verifier(&self, role_name: &str) -> Result<String, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("select verifier from database_user_verifiers where role_name = $1", &[&role_name])
            .await?;
        row.map(|r| r.get(0)).ok_or(StoreError::NotFound)
    }
}
