//! Who may read what Berth keeps on disk. Everything under the data dir that holds tenant
//! data or secrets (PGDATA, password files, the master key, PgBouncer's config and auth
//! file, server logs, backups and their `.tmp`) is readable by its owner only: files 0600,
//! directories 0700 (a directory on the way to a server's own may also carry a traverse-only
//! grant for the service account, `setfacl u:berth:x`, or `o+x` where ACLs are missing).
//!
//! Two halves: the process umask is 077, so whatever it (or a server it starts, which
//! inherits it) creates is private from the start, backups written through opendal
//! included; and at start the data dir is checked and anything left readable by group or
//! others (an install made before this rule) is repaired, with a warning.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Sets the process umask to 077. Call first thing in `main` (and in the test harness).
#[allow(unsafe_code)]
pub fn restrict_umask() {
    // SAFETY: umask only swaps the process's file-creation mask; it has no memory-safety
    // preconditions and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Strips group and other read/write bits from every file and directory under `root`
/// (`root` included), keeping traverse (x) bits on directories, which are granted on
/// purpose so the service account can reach its own directories. Symlinks and sockets are
/// left alone; PGDATA directories are skipped (PostgreSQL checks their modes itself and
/// refuses to start on wrong ones). Returns the paths it changed.
pub fn protect_tree(root: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut changed = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        let mode = meta.permissions().mode() & 0o7777;
        let wanted = if meta.is_dir() {
            mode & !0o066
        } else if meta.is_file() {
            mode & !0o077
        } else {
            continue;
        };
        if wanted != mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted))?;
            changed.push(path.clone());
        }
        if meta.is_dir() && !path.join("PG_VERSION").exists() {
            for entry in std::fs::read_dir(&path)? {
                todo.push(entry?.path());
            }
        }
    }
    Ok(changed)
}

/// [`protect_tree`] on the data dir, logging what it repaired.
pub fn protect_data_dir(dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let changed = protect_tree(dir).with_context(|| format!("checking modes under {}", dir.display()))?;
    for path in &changed {
        tracing::warn!(path = %path.display(), "was readable by other users; now private to its owner");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protect_tree_makes_files_private_and_keeps_traverse_on_directories() {
        let dir = crate::local::testing::scratch_dir("modes").expect("scratch");
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let file = sub.join("secret");
        std::fs::write(&file, "x").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let changed = protect_tree(&dir).expect("walks");
        assert!(changed.contains(&file) && changed.contains(&sub), "{changed:?}");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&sub), 0o711);
        assert!(protect_tree(&dir).expect("walks").is_empty(), "a second pass changes nothing");
    }
}
