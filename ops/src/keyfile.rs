//! The platform key file: the AEAD keys that seal secrets at rest and the key API keys are
//! hashed under. `BERTH_MASTER_KEY` (32 bytes, base64) takes precedence; otherwise the file
//! is read, or created with mode 0600 on first run.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::Context;
use eventstore::vault::{KeySource, Keyring};
use eventstore::StoreError;

/// The key file as a [`KeySource`]: a store re-reads it when its modification time or size
/// changed, so running processes follow `berth admin rotate-master-key` without a restart.
pub struct FileKeySource {
    path: PathBuf,
    seen: Mutex<Option<(SystemTime, u64)>>,
}

fn stamp(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

impl FileKeySource {
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), seen: Mutex::new(stamp(path).ok()) }
    }
}

impl KeySource for FileKeySource {
    fn refresh(&self) -> Result<Option<Keyring>, StoreError> {
        let secret = |e: String| StoreError::Secret(format!("key file {}: {e}", self.path.display()));
        let now = stamp(&self.path).map_err(|e| secret(e.to_string()))?;
        let mut seen = self.seen.lock().map_err(|_| secret("lock poisoned".into()))?;
        if *seen == Some(now) {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&self.path).map_err(|e| secret(e.to_string()))?;
        let ring: Keyring = toml::from_str(&text).map_err(|e| secret(e.to_string()))?;
        *seen = Some(now);
        Ok(Some(ring))
    }
}

/// The platform keys and, when they come from the key file (not `BERTH_MASTER_KEY`), the
/// source that follows rotations.
pub fn open(path: &Path) -> anyhow::Result<(Keyring, Option<Arc<dyn KeySource>>)> {
    let ring = load_or_create(path)?;
    if std::env::var("BERTH_MASTER_KEY").is_ok() {
        return Ok((ring, None));
    }
    Ok((ring, Some(Arc::new(FileKeySource::new(path)))))
}

/// Replaces the key file atomically (temporary file with mode 0600, fsync, rename).
pub fn write(path: &Path, ring: &Keyring) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(toml::to_string(ring)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

pub fn load_or_create(path: &Path) -> anyhow::Result<Keyring> {
    if let Ok(key) = std::env::var("BERTH_MASTER_KEY") {
        return Ok(Keyring::from_master_key(&key)?);
    }
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("reading key file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let ring = Keyring::generate();
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating key file {}", path.display()))?;
            f.write_all(toml::to_string(&ring)?.as_bytes())?;
            f.sync_all()?;
            Ok(ring)
        }
        Err(e) => Err(e).with_context(|| format!("reading key file {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn creates_a_private_key_file_once_and_reads_it_back() {
        let dir = tempfile_dir();
        let path = dir.join("master.key");
        let a = load_or_create(&path).expect("creates");
        let mode = std::fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = load_or_create(&path).expect("reads");
        assert_eq!(a.keys, b.keys);
        assert_eq!(a.hash_key, b.hash_key);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("berth-keyfile-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }
}
