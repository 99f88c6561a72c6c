//! The data API's read models: each database's keys (`data_keys`: prefix, keyed hash, spec,
//! expiry, revocation; never a secret) and its auth config (`data_auth_configs`), with their
//! projection.

use chrono::{DateTime, Utc};
use domain::{AuthConfig, DataApiEvent, DataKeyId, DataKeyKind, DatabaseId, DatabaseState, KeyRateLimit, KeySpec};
use uuid::Uuid;

use crate::tables::{Key, Set, Tables};
use crate::{RecordedEvent, Store, StoreError};

/// One data-API key, as listed and as looked up.
#[derive(Debug, Clone)]
pub struct DataKeyRow {
    pub id: DataKeyId,
    pub database_id: DatabaseId,
    pub kind: DataKeyKind,
    pub name: String,
    pub prefix: String,
    /// HMAC of the secret (never shown).
    pub hash: String,
    pub spec: KeySpec,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// A key found by its prefix, with whether its database still serves.
#[derive(Debug, Clone)]
pub struct DataKeyLookup {
    pub key: DataKeyRow,
    pub database_state: DatabaseState,
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Decode(e.to_string()))
}

const COLUMNS: &str = "k.id, k.database_id, k.kind, k.name, k.prefix, k.hash, k.allowed_origins, k.exposed_schemas,
     k.exposed_tables, k.rate_limit, k.created_at, k.expires_at, k.revoked_at is not null";

fn key_row(r: &tokio_postgres::Row) -> Result<DataKeyRow, StoreError> {
    let kind: String = r.get(2);
    Ok(DataKeyRow {
        id: DataKeyId(r.get(0)),
        database_id: DatabaseId(r.get(1)),
        kind: DataKeyKind::parse(&kind).ok_or_else(|| StoreError::Decode(format!("data key kind {kind}")))?,
        name: r.get(3),
        prefix: r.get(4),
        hash: r.get(5),
        spec: KeySpec {
            allowed_origins: decode(r.get(6))?,
            exposed_schemas: decode(r.get(7))?,
            exposed_tables: decode(r.get(8))?,
            rate_limit: r.get::<_, Option<serde_json::Value>>(9).map(decode::<KeyRateLimit>).transpose()?,
        },
        created_at: r.get(10),
        expires_at: r.get(11),
        revoked: r.get(12),
    })
}

impl Store {
    /// A database's live (not revoked) keys of one kind, oldest first; expired ones included.
    pub async fn data_keys(&self, db: DatabaseId, kind: DataKeyKind) -> Result<Vec<DataKeyRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select {COLUMNS} from data_keys k
                     where k.database_id = $1 and k.kind = $2 and k.revoked_at is null order by k.created_at, k.id"
                ),
                &[&db.uuid(), &kind.as_str()],
            )
            .await?;
        rows.iter().map(key_row).collect()
    }

    /// The key with this public prefix, revoked or not, and its database's state.
    pub async fn data_key_by_prefix(&self, prefix: &str) -> Result<Option<DataKeyLookup>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "select {COLUMNS}, d.state from data_keys k join databases d on d.id = k.database_id
                 where k.prefix = $1"
            ))
            .await?;
        let Some(r) = client.query_opt(&statement, &[&prefix]).await? else { return Ok(None) };
        let state: String = r.get(13);
        let database_state =
            DatabaseState::parse(&state).ok_or_else(|| StoreError::Decode(format!("database state {state}")))?;
        Ok(Some(DataKeyLookup { key: key_row(&r)?, database_state }))
    }

    /// The database's auth config, if it has one.
    pub async fn data_auth_config(&self, db: DatabaseId) -> Result<Option<AuthConfig>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached("select config from data_auth_configs where database_id = $1").await?;
        client.query_opt(&statement, &[&db.uuid()]).await?.map(|r| decode(r.get(0))).transpose()
    }
}

fn json<V: serde::Serialize>(v: &V) -> Result<crate::tables::Val, StoreError> {
    Ok(serde_json::to_value(v)?.into())
}

pub(crate) async fn project_data_api<T: Tables>(
    t: &mut T,
    e: &RecordedEvent,
    d: &DataApiEvent,
) -> Result<(), StoreError> {
    use DataApiEvent as E;
    let db: Uuid = d.database_id().uuid();
    match d {
        E::DataKeyCreated { key_id, kind, name, prefix, hash, spec, expires_at, .. } => {
            let rate_limit = match &spec.rate_limit {
                Some(r) => json(r)?,
                None => crate::tables::Val::Null,
            };
            t.insert(
                "data_keys",
                vec![
                    ("id", key_id.uuid().into()),
                    ("database_id", db.into()),
                    ("kind", kind.as_str().into()),
                    ("name", name.into()),
                    ("prefix", prefix.into()),
                    ("hash", hash.into()),
                    ("allowed_origins", json(&spec.allowed_origins)?),
                    ("exposed_schemas", json(&spec.exposed_schemas)?),
                    ("exposed_tables", json(&spec.exposed_tables)?),
                    ("rate_limit", rate_limit),
                    ("created_at", e.occurred_at.into()),
                    ("expires_at", (*expires_at).into()),
                ],
            )
            .await?;
        }
        E::DataKeyRevoked { key_id, .. } => {
            let set = vec![("revoked_at", Set::To(e.occurred_at.into()))];
            t.update("data_keys", Key::id(key_id.uuid()), set).await?;
        }
        E::AuthConfigChanged { config, .. } => {
            t.delete("data_auth_configs", Key::Eq(vec![("database_id", db.into())])).await?;
            t.insert(
                "data_auth_configs",
                vec![("database_id", db.into()), ("config", json(config)?), ("updated_at", e.occurred_at.into())],
            )
            .await?;
        }
    }
    crate::sql::activity(t, e, db, d.activity()).await
}
