//! Secrets at rest: sealed with XChaCha20-Poly1305 under the platform key, bound to their
//! row id as associated data (a ciphertext copied to another row does not open). The
//! keyring may hold old keys so rotation can re-seal rows while serving.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use deadpool_postgres::Transaction;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// The platform's keys: AEAD keys by id (one active) and the key for hashing API keys.
/// Its on-disk form (TOML, base64 values) is written by the operator CLI with mode 0600.
#[derive(Clone, Serialize, Deserialize)]
pub struct Keyring {
    pub active: String,
    #[serde(with = "b64_map")]
    pub keys: BTreeMap<String, [u8; 32]>,
    #[serde(with = "b64")]
    pub hash_key: [u8; 32],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("active", &self.active).finish_non_exhaustive()
    }
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

impl Keyring {
    pub fn generate() -> Self {
        let mut keys = BTreeMap::new();
        keys.insert("k1".to_owned(), random_key());
        Self { active: "k1".into(), keys, hash_key: random_key() }
    }

    /// A keyring from a single master key (`BERTH_MASTER_KEY`, 32 bytes base64); the hash key
    /// is derived from it, so the one variable is enough to run.
    pub fn from_master_key(b64_key: &str) -> Result<Self, StoreError> {
        use base64::Engine;
        use hmac::Mac;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64_key.trim())
            .map_err(|_| StoreError::Secret("BERTH_MASTER_KEY is not base64".into()))?;
        let key: [u8; 32] =
            raw.try_into().map_err(|_| StoreError::Secret("BERTH_MASTER_KEY must be 32 bytes".into()))?;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(b"berth api key hashing");
        let hash_key: [u8; 32] = mac.finalize().into_bytes().into();
        let mut keys = BTreeMap::new();
        keys.insert("env".to_owned(), key);
        Ok(Self { active: "env".into(), keys, hash_key })
    }

    pub fn seal(&self, id: &str, plaintext: &[u8]) -> Result<(String, Vec<u8>, Vec<u8>), StoreError> {
        let key = self.keys.get(&self.active).ok_or_else(|| StoreError::Secret("active key missing".into()))?;
        let cipher = XChaCha20Poly1305::new(key.into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: id.as_bytes() })
            .map_err(|_| StoreError::Secret("seal failed".into()))?;
        Ok((self.active.clone(), nonce.to_vec(), ct))
    }

    pub fn open(&self, id: &str, key_id: &str, nonce: &[u8], ct: &[u8]) -> Result<Vec<u8>, StoreError> {
        let key = self.keys.get(key_id).ok_or_else(|| StoreError::Secret(format!("key {key_id} not in keyring")))?;
        if nonce.len() != 24 {
            return Err(StoreError::Secret("bad nonce".into()));
        }
        XChaCha20Poly1305::new(key.into())
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: id.as_bytes() })
            .map_err(|_| StoreError::Secret(format!("secret {id} does not open")))
    }
}

/// Where the platform keys come from, when they may change while the process runs (key
/// rotation re-writes the key file; running processes follow it without a restart).
pub trait KeySource: Send + Sync {
    /// The keyring, if it changed since the last call (cheap when it did not: a `stat`).
    fn refresh(&self) -> Result<Option<Keyring>, StoreError>;
}

/// The keyring a store uses, and the source it follows.
pub struct Keys {
    ring: RwLock<Arc<Keyring>>,
    source: Option<Arc<dyn KeySource>>,
}

impl Keys {
    pub fn new(ring: Keyring, source: Option<Arc<dyn KeySource>>) -> Self {
        Self { ring: RwLock::new(Arc::new(ring)), source }
    }

    fn current(&self) -> Arc<Keyring> {
        self.ring.read().map(|r| r.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The keyring after checking the source for a newer one.
    fn refreshed(&self) -> Result<Arc<Keyring>, StoreError> {
        if let Some(newer) = self.source.as_ref().map(|s| s.refresh()).transpose()?.flatten() {
            let newer = Arc::new(newer);
            match self.ring.write() {
                Ok(mut r) => *r = newer.clone(),
                Err(p) => *p.into_inner() = newer.clone(),
            }
            return Ok(newer);
        }
        Ok(self.current())
    }
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(k: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(k))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = base64::engine::general_purpose::STANDARD.decode(s).map_err(serde::de::Error::custom)?;
        v.try_into().map_err(|_| serde::de::Error::custom("key must be 32 bytes"))
    }
}

mod b64_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct K(#[serde(with = "super::b64")] [u8; 32]);

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, [u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        m.iter().map(|(k, v)| (k.clone(), K(*v))).collect::<BTreeMap<_, _>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, [u8; 32]>, D::Error> {
        Ok(BTreeMap::<String, K>::deserialize(d)?.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

impl Store {
    pub(crate) async fn vault_put(&self, tx: &Transaction<'_>, id: &str, plaintext: &[u8]) -> Result<(), StoreError> {
        // Always under the newest active key: a rotation in progress must not get rows
        // sealed under the key it is about to retire.
        let (key_id, nonce, ct) = self.keys()?.refreshed()?.seal(id, plaintext)?;
        let statement = tx
            .prepare_cached(
                "insert into secrets (id, key_id, nonce, ciphertext) values ($1, $2, $3, $4)
                 on conflict (id) do update set key_id = excluded.key_id, nonce = excluded.nonce,
                     ciphertext = excluded.ciphertext, updated_at = now()",
            )
            .await?;
        tx.execute(&statement, &[&id, &key_id, &nonce, &ct]).await?;
        Ok(())
    }

    /// Stores a secret outside any event append (host credentials at registration).
    pub async fn put_secret(&self, id: &str, plaintext: &[u8]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        self.vault_put(&tx, id, plaintext).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_secret(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached("select key_id, nonce, ciphertext from secrets where id = $1").await?;
        let row = client.query_opt(&statement, &[&id]).await?.ok_or(StoreError::NotFound)?;
        self.open_row(id, row.get::<_, &str>(0), row.get(1), row.get(2))
    }

    /// Opens a sealed row; a key id this process does not know sends it to the key source
    /// first (another process rotated the key).
    fn open_row(&self, id: &str, key_id: &str, nonce: &[u8], ct: &[u8]) -> Result<Vec<u8>, StoreError> {
        let keys = self.keys()?;
        let ring = keys.current();
        if ring.keys.contains_key(key_id) {
            return ring.open(id, key_id, nonce, ct);
        }
        keys.refreshed()?.open(id, key_id, nonce, ct)
    }

    fn keys(&self) -> Result<&Keys, StoreError> {
        self.keys.as_deref().ok_or_else(|| StoreError::Secret("no platform key configured".into()))
    }

    /// The current keyring (its `hash_key` never changes with rotation).
    pub fn keyring(&self) -> Result<Arc<Keyring>, StoreError> {
        Ok(self.keys()?.current())
    }

    /// Re-seals, in batches of `batch` rows (one transaction each, rows locked so a
    /// concurrent writer waits), every secret not sealed under the active key. Returns how
    /// many rows it re-sealed. Rows another transaction holds are left for the next call.
    pub async fn reseal_secrets(&self, batch: i64) -> Result<usize, StoreError> {
        let ring = self.keys()?.refreshed()?;
        let mut total = 0;
        loop {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let rows = tx
                .query(
                    "select id, key_id, nonce, ciphertext from secrets where key_id <> $1
                     order by id limit $2 for update skip locked",
                    &[&ring.active, &batch],
                )
                .await?;
            for row in &rows {
                let id: &str = row.get(0);
                let plaintext = self.open_row(id, row.get(1), row.get(2), row.get(3))?;
                let (key_id, nonce, ct) = ring.seal(id, &plaintext)?;
                tx.execute(
                    "update secrets set key_id = $2, nonce = $3, ciphertext = $4, updated_at = now() where id = $1",
                    &[&id, &key_id, &nonce, &ct],
                )
                .await?;
            }
            tx.commit().await?;
            total += rows.len();
            if (rows.len() as i64) < batch {
                return Ok(total);
            }
        }
    }

    /// How many secrets are sealed under each key id.
    pub async fn secrets_by_key(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.client().await?;
        let rows = client.query("select key_id, count(*) from secrets group by key_id order by key_id", &[]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

impl Store {
    /// Forgets a deleted database's password and verifier.
    pub async fn forget_database_secrets(&self, id: domain::DatabaseId) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.execute("delete from secrets where id = $1", &[&format!("database:{}:password", id.uuid())]).await?;
        client.execute("delete from role_verifiers where database_id = $1", &[&id.uuid()]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_under_their_id() {
        let ring = Keyring::generate();
        let (kid, nonce, ct) = ring.seal("db:1", b"hunter2").expect("seals");
        assert_eq!(ring.open("db:1", &kid, &nonce, &ct).expect("opens"), b"hunter2");
        assert!(ring.open("db:2", &kid, &nonce, &ct).is_err());
        assert!(!ct.windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn keyring_round_trips_through_toml_shape() {
        let ring = Keyring::generate();
        let json = serde_json::to_string(&ring).expect("serialises");
        let back: Keyring = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.keys, ring.keys);
        assert_eq!(back.hash_key, ring.hash_key);
    }
}
