//! Who the servers run as. PostgreSQL and PgBouncer refuse to run as root, so when we are
//! root they run as the unprivileged system user `berth`, created on first use.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use super::process;

/// The system user the servers run as when Berth itself runs as root.
pub const SERVICE_USER: &str = "berth";

/// A uid/gid pair to drop to; `None` where an `Option<Account>` is expected means "stay
/// who we are" (not root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
}

/// Our effective uid, read from /proc so no unsafe FFI is needed for it.
pub fn effective_uid() -> anyhow::Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .context("no effective uid in /proc/self/status")
}

fn lookup(name: &str) -> anyhow::Result<Option<Account>> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == name {
            let uid = fields[2].parse().context("bad uid in /etc/passwd")?;
            let gid = fields[3].parse().context("bad gid in /etc/passwd")?;
            return Ok(Some(Account { uid, gid }));
        }
    }
    Ok(None)
}

/// The account servers run as: `None` when we are not root, else `berth` (created if
/// missing).
pub async fn service_account() -> anyhow::Result<Option<Account>> {
    if effective_uid()? != 0 {
        return Ok(None);
    }
    if let Some(a) = lookup(SERVICE_USER)? {
        return Ok(Some(a));
    }
    tokio::task::spawn_blocking(create_service_user).await.context("the useradd task panicked")?.map(Some)
}

/// Creates the user under an exclusive lock shared with other processes (parallel test
/// binaries): concurrent useradd calls were seen to race and leave a half-made user.
fn create_service_user() -> anyhow::Result<Account> {
    let lock_path = std::env::temp_dir().join(".berth-useradd.lock");
    let lock = std::fs::File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock().context("locking the useradd lock file")?;
    if let Some(a) = lookup(SERVICE_USER)? {
        return Ok(a);
    }
    let out = Command::new("useradd")
        .args(["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"])
        .args(["--shell", "/usr/sbin/nologin", SERVICE_USER])
        .output()
        .context("running useradd")?;
    if !out.status.success() {
        bail!("useradd {SERVICE_USER} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    let account = lookup(SERVICE_USER)?.context("useradd succeeded but the user is not in /etc/passwd")?;
    tracing::info!(user = SERVICE_USER, uid = account.uid, "created the service user");
    Ok(account)
}

/// Hands a file or directory we created to the service account.
pub fn give(path: &Path, account: Option<Account>) -> anyhow::Result<()> {
    if let Some(a) = account {
        std::os::unix::fs::chown(path, Some(a.uid), Some(a.gid))
            .with_context(|| format!("chown {} to {SERVICE_USER}", path.display()))?;
    }
    Ok(())
}

/// Creates a server directory (mode 0700, owned by the service account) and makes sure the
/// account can reach it; returns its canonical path.
pub async fn prepare_dir(dir: &Path, account: Option<Account>) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 0700 {}", dir.display()))?;
    give(&dir, account)?;
    if let Some(a) = account {
        ensure_traversable(&dir, a).await?;
    }
    Ok(dir)
}

async fn can_traverse(path: &Path, account: Account) -> bool {
    let mut cmd = process::command(Path::new("test"), Some(account), Path::new("/"));
    cmd.arg("-x").arg(path);
    process::run(cmd, "test -x", Duration::from_secs(10)).await.is_ok()
}

/// A data dir under e.g. /root (0700) is unreachable for `berth`: grant it traverse (x)
/// on each blocking ancestor, by ACL when setfacl exists (narrowest), else `o+x`.
async fn ensure_traversable(dir: &Path, account: Account) -> anyhow::Result<()> {
    if can_traverse(dir, account).await {
        return Ok(());
    }
    let mut ancestors: Vec<&Path> = dir.ancestors().collect();
    ancestors.reverse();
    for path in ancestors {
        if can_traverse(path, account).await {
            continue;
        }
        let mut setfacl = Command::new("setfacl");
        setfacl.arg("-m").arg(format!("u:{SERVICE_USER}:x")).arg(path);
        match process::run(setfacl, "setfacl", Duration::from_secs(10)).await {
            Ok(_) => tracing::info!(
                path = %path.display(),
                "granted {SERVICE_USER} traverse on an ancestor of its data dir (setfacl u:{SERVICE_USER}:x)"
            ),
            Err(e) => {
                let mode = std::fs::metadata(path)?.permissions().mode();
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o001))
                    .with_context(|| format!("chmod o+x {}", path.display()))?;
                tracing::warn!(
                    path = %path.display(),
                    "setfacl unavailable ({e:#}); granted traverse to all users (chmod o+x) so {SERVICE_USER} can reach its data dir"
                );
            }
        }
    }
    if !can_traverse(dir, account).await {
        bail!("{SERVICE_USER} still cannot reach {} after granting traverse", dir.display());
    }
    Ok(())
}
