//! Small private files: secrets, ports, configs. Written to a temp name and renamed so a
//! crash never leaves a half-written password or config behind.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context};
use rand::distributions::{Alphanumeric, DistString};

use super::user::{self, Account};

/// 32 alphanumerics (~190 bits): safe unquoted in DSNs, URLs and PgBouncer's auth file.
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

/// Writes `contents` with mode 0600, owned by the service account.
pub fn write_private(path: &Path, contents: &str, account: Option<Account>) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(contents.as_bytes()).with_context(|| format!("writing {}", tmp.display()))?;
    user::give(tmp, account)?;
    std::fs::rename(tmp, path).with_context(|| format!("renaming onto {}", path.display()))?;
    Ok(())
}

/// Rewrites `path` only when its contents differ, so an unchanged config keeps its mtime;
/// true when it wrote.
pub fn write_if_changed(path: &Path, contents: &str, account: Option<Account>) -> anyhow::Result<bool> {
    match std::fs::read_to_string(path) {
        Ok(old) if old == contents => Ok(false),
        _ => write_private(path, contents, account).map(|()| true),
    }
}

/// Reads the secret kept at `path`, generating and storing one on first use, so restarts
/// keep their passwords.
pub fn read_or_create_secret(path: &Path, account: Option<Account>) -> anyhow::Result<String> {
    if path.exists() {
        let secret =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?.trim().to_owned();
        if secret.is_empty() {
            bail!("{} is empty", path.display());
        }
        return Ok(secret);
    }
    let secret = generate_password();
    write_private(path, &format!("{secret}\n"), account)?;
    Ok(secret)
}

pub fn read_port(path: &Path) -> Option<u16> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Opens a server log for appending (0600: statements in error messages may be sensitive).
pub fn open_log(path: &Path, account: Option<Account>) -> anyhow::Result<std::fs::File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    user::give(path, account)?;
    Ok(f)
}
