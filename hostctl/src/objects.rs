//! The object store backups live in: a directory on this machine by default, any
//! S3-protocol service by configuration. Both only show an object once it is complete: the
//! filesystem writes into `.tmp/` under the root and renames on close, and S3 completes a
//! multipart upload (or sends the single PUT) only on close. A writer dropped before close,
//! as when a worker is killed mid-backup, leaves nothing at the object's key.

use std::path::PathBuf;

use opendal::{services, Operator};
use serde::Deserialize;

use crate::HostError;

/// Where backups are stored.
#[derive(Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObjectStoreConfig {
    Fs {
        root: PathBuf,
    },
    S3 {
        bucket: String,
        /// e.g. `https://s3.eu-west-1.amazonaws.com`, or a compatible service's URL.
        endpoint: String,
        #[serde(default = "default_region")]
        region: String,
        access_key_id: String,
        secret_access_key: String,
        /// A prefix inside the bucket.
        #[serde(default)]
        root: Option<String>,
    },
}

fn default_region() -> String {
    "us-east-1".into()
}

// Hand-written so the secret key never reaches a log line.
impl std::fmt::Debug for ObjectStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fs { root } => f.debug_struct("Fs").field("root", root).finish(),
            Self::S3 { bucket, endpoint, region, root, .. } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("endpoint", endpoint)
                .field("region", region)
                .field("root", root)
                .finish_non_exhaustive(),
        }
    }
}

/// Temporary files of unfinished filesystem writes, under the root.
pub const FS_TMP_DIR: &str = ".tmp";

/// Creates the filesystem store's root and `.tmp` (0700), and takes group and other bits
/// off anything already under the root (a store made before backups were private): its
/// directories are 0700 and its objects 0600, owned by the user the platform runs as.
/// Objects written later get 0600 from the process umask (077, set at start) as opendal
/// creates them.
fn make_private(root: &std::path::Path, tmp: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(tmp)?;
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o7777;
        if (meta.is_dir() || meta.is_file()) && mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "backup store entry was readable by other users; now private");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & !0o077))?;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                todo.push(entry?.path());
            }
        }
    }
    Ok(())
}

impl ObjectStoreConfig {
    pub fn operator(&self) -> Result<Operator, HostError> {
        let op = match self {
            Self::Fs { root } => {
                let tmp = root.join(FS_TMP_DIR);
                make_private(root, &tmp)
                    .map_err(|e| HostError::Permanent(format!("backup directory {}: {e}", root.display())))?;
                let builder =
                    services::Fs::default().root(&root.to_string_lossy()).atomic_write_dir(&tmp.to_string_lossy());
                Operator::new(builder).map(|b| b.finish())
            }
            Self::S3 { bucket, endpoint, region, access_key_id, secret_access_key, root } => {
                let mut builder = services::S3::default()
                    .bucket(bucket)
                    .endpoint(endpoint)
                    .region(region)
                    .access_key_id(access_key_id)
                    .secret_access_key(secret_access_key)
                    .disable_config_load()
                    .disable_ec2_metadata();
                if let Some(r) = root {
                    builder = builder.root(r);
                }
                Operator::new(builder).map(|b| b.finish())
            }
        };
        op.map_err(|e| HostError::Permanent(format!("object store: {e}")))
    }
}

impl ObjectStoreConfig {
    /// Removes the temporary files of filesystem writes that never finished (a worker killed
    /// mid-backup leaves its `.tmp/<name>.<random>` behind) whose last change is at least
    /// `grace` old. Another worker process sharing the store may be writing the younger
    /// ones. S3 keeps nothing of an unfinished upload under its keys: nothing to do there.
    /// Returns how many files were removed.
    pub fn remove_stale_tmp(&self, grace: std::time::Duration) -> std::io::Result<usize> {
        let Self::Fs { root } = self else { return Ok(0) };
        let Some(cutoff) = std::time::SystemTime::now().checked_sub(grace) else { return Ok(0) };
        let entries = match std::fs::read_dir(root.join(FS_TMP_DIR)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            if !meta.is_file() || meta.modified()? > cutoff {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                // Finished and renamed, or removed by another process meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

/// A missing object cannot appear by retrying; anything else (network, throttling) may pass.
pub fn store_error(e: opendal::Error) -> HostError {
    match e.kind() {
        opendal::ErrorKind::NotFound => HostError::Permanent(format!("object store: {e}")),
        _ => HostError::Transient(format!("object store: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::{ObjectStoreConfig, FS_TMP_DIR};

    #[test]
    fn stale_temporary_files_go_and_young_ones_stay() {
        let root = std::env::temp_dir().join(format!("berth-stale-tmp-{}", uuid::Uuid::new_v4()));
        let config = ObjectStoreConfig::Fs { root: root.clone() };
        config.operator().expect("the store opens");
        let tmp = root.join(FS_TMP_DIR);
        let old = tmp.join("20260101_000000.sql.gz.abcdef");
        let young = tmp.join("20260101_000001.sql.gz.123456");
        let hours_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
        std::fs::File::create(&old).expect("old file").set_modified(hours_ago).expect("backdating");
        std::fs::write(&young, b"partial").expect("young file");

        assert_eq!(config.remove_stale_tmp(Duration::from_secs(3600)).expect("cleanup"), 1);
        assert!(!old.exists(), "a temporary file older than the grace is removed");
        assert!(young.exists(), "a temporary file younger than the grace may be another writer's");

        // With no grace (berth up, which owns its store), every leftover goes.
        assert_eq!(config.remove_stale_tmp(Duration::ZERO).expect("cleanup"), 1);
        assert!(!young.exists());
        assert!(tmp.is_dir(), "the directory itself stays");
        std::fs::remove_dir_all(&root).expect("cleaning up");
    }
}
