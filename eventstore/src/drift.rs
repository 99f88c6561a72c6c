//! What the orphan reconciler reads of the control plane's intent: every database with its
//! state (deleted ones included: their markers say what may be dropped), and every backup
//! row's object.

use domain::{DatabaseId, DatabaseState, HostId, UserState};

use crate::error::decode_column;
use crate::{Store, StoreError};

/// A database as the reconciler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentDatabase {
    pub id: DatabaseId,
    pub host_id: HostId,
    pub name: String,
    pub state: DatabaseState,
    /// An operation of it is pending or running: a job may be changing the host right now.
    pub busy: bool,
    /// A backup or verification of it is pending or running: its scratch copy may be in use.
    pub verifying: bool,
    /// The hosts it was moved off, whose poolers forward its name to `host_id`.
    pub forwarded_from: Vec<HostId>,
}

/// A backup's object as the reconciler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentObject {
    pub backup_id: uuid::Uuid,
    pub key: String,
    /// Succeeded and not deleted: its object must exist.
    pub required: bool,
}

/// A database user as the reconciler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentUser {
    pub database_id: DatabaseId,
    pub role_name: String,
    pub state: UserState,
}

impl Store {
    /// Every database user not removed yet.
    pub async fn intent_users(&self) -> Result<Vec<IntentUser>, StoreError> {
        let client = self.client().await?;
        let rows = client.query("select database_id, role_name, state from database_users", &[]).await?;
        rows.iter()
            .map(|r| {
                Ok(IntentUser {
                    database_id: DatabaseId(r.get(0)),
                    role_name: r.get(1),
                    state: decode_column("database_users.state", r.get(2), UserState::parse)?,
                })
            })
            .collect()
    }

    /// Every database, whatever its state or host.
    pub async fn intent_databases(&self) -> Result<Vec<IntentDatabase>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select d.id, d.host_id, d.name, d.state,
                        coalesce(o.state in ('pending', 'running'), false),
                        exists(select 1 from operations v
                                where v.database_id = d.id and v.kind in ('backup', 'verify_backup')
                                  and v.state in ('pending', 'running')),
                        array(select f.from_host_id from database_forwards f where f.database_id = d.id)
                 from databases d left join operations o on o.id = d.operation_id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(IntentDatabase {
                    id: DatabaseId(r.get(0)),
                    host_id: HostId(r.get(1)),
                    name: r.get(2),
                    state: decode_column("databases.state", r.get(3), DatabaseState::parse)?,
                    busy: r.get(4),
                    verifying: r.get(5),
                    forwarded_from: r.get::<_, Vec<uuid::Uuid>>(6).into_iter().map(HostId).collect(),
                })
            })
            .collect()
    }

    /// Every backup row that names an object, deleted ones included (their purge may still
    /// be under way).
    pub async fn intent_objects(&self) -> Result<Vec<IntentObject>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select id, object_key, state = 'succeeded' and deleted_at is null
                 from backups where object_key is not null",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| IntentObject { backup_id: r.get(0), key: r.get(1), required: r.get(2) }).collect())
    }

    /// The resources with an open incident of `kind`.
    pub async fn open_incident_resources(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows =
            client.query("select resource_id from incidents where kind = $1 and state = 'open'", &[&kind]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
