//! `berth admin rotate-master-key`: a new platform key, every secret re-sealed under it,
//! the old keys retired — with the platform running.
//!
//! 1. A new key is added to the key file and made active (old keys stay, so everything
//!    sealed so far still opens). Running stores re-read the file before each seal
//!    ([`crate::keyfile::FileKeySource`]), so from here on they seal under the new key, and
//!    re-read it when they meet a row sealed under a key they lack.
//! 2. Every `secrets` row under another key is re-sealed, in batches (row-locked, one
//!    transaction per batch).
//! 3. After a grace period (a seal that read the file just before step 1 may still commit
//!    under the old key), a second pass catches such rows.
//! 4. The old keys are removed from the file, if no row still needs them.
//!
//! `BERTH_MASTER_KEY` (a key from the environment) cannot be rotated this way: the operator
//! owns that variable.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use eventstore::Store;
use rand::RngCore;

use crate::keyfile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub new_key: String,
    pub retired: Vec<String>,
    pub resealed: usize,
}

/// Rotates the key in `key_file` and re-seals the secrets of the control plane at `control_url`.
pub async fn rotate_master_key(key_file: &Path, control_url: &str, grace: Duration) -> anyhow::Result<Rotation> {
    if std::env::var("BERTH_MASTER_KEY").is_ok() {
        bail!("the platform key comes from BERTH_MASTER_KEY; rotate it by re-sealing with a new variable, not the key file");
    }
    let text = std::fs::read_to_string(key_file).with_context(|| format!("reading {}", key_file.display()))?;
    let mut ring: eventstore::vault::Keyring = toml::from_str(&text).context("parsing the key file")?;
    let new_key = (1..).map(|n| format!("k{n}")).find(|k| !ring.keys.contains_key(k)).context("no free key id")?;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    ring.keys.insert(new_key.clone(), key);
    ring.active = new_key.clone();
    keyfile::write(key_file, &ring)?;

    let (ring, source) = keyfile::open(key_file)?;
    let store = match source {
        Some(source) => Store::connect(control_url, 2)?.with_key_source(ring.clone(), source),
        None => Store::connect(control_url, 2)?.with_keyring(ring.clone()),
    };
    let mut resealed = store.reseal_secrets(500).await?;
    tokio::time::sleep(grace).await;
    resealed += store.reseal_secrets(500).await?;
    let left: Vec<(String, i64)> = store.secrets_by_key().await?.into_iter().filter(|(k, _)| *k != new_key).collect();
    if !left.is_empty() {
        bail!("secrets still sealed under old keys ({left:?}); run the rotation again to finish");
    }
    let mut retired_ring = ring.clone();
    let retired: Vec<String> = ring.keys.keys().filter(|k| **k != new_key).cloned().collect();
    retired_ring.keys.retain(|k, _| *k == new_key);
    keyfile::write(key_file, &retired_ring)?;
    Ok(Rotation { new_key, retired, resealed })
}
