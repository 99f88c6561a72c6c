//! Secrets at rest: sealed with XChaCha20-Poly1305 under the platform key, bound to their
//! row id as associated data (a ciphertext copied to another row does not open). The
//! keyring may hold old keys so rotation can re-seal rows while serving.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio_postgres::Transaction;

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
        let (key_id, nonce, ct) = self.keyring()?.seal(id, plaintext)?;
        tx.execute(
            "insert into secrets (id, key_id, nonce, ciphertext) values ($1, $2, $3, $4)
             on conflict (id) do update set key_id = excluded.key_id, nonce = excluded.nonce,
                 ciphertext = excluded.ciphertext, updated_at = now()",
            &[&id, &key_id, &nonce, &ct],
        )
        .await?;
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
        let row = client
            .query_opt("select key_id, nonce, ciphertext from secrets where id = $1", &[&id])
            .await?
            .ok_or(StoreError::NotFound)?;
        self.keyring()?.open(id, row.get::<_, &str>(0), row.get(1), row.get(2))
    }

    pub fn keyring(&self) -> Result<&Keyring, StoreError> {
        self.keyring.as_deref().ok_or_else(|| StoreError::Secret("no platform key configured".into()))
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
