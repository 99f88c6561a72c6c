//! Where the client CLI finds the API and its key: `BERTH_URL` / `BERTH_API_KEY`, else the
//! credentials file `berth login` wrote (`$BERTH_CONFIG_DIR`, else `$XDG_CONFIG_HOME/berth`,
//! else `~/.config/berth`; `credentials.toml`, mode 0600 in a 0700 directory).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where `berth up` serves by default when nothing else is known.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Serialize, Deserialize, Default, Clone)]
pub struct Credentials {
    pub url: Option<String>,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .finish()
    }
}

pub fn config_dir() -> anyhow::Result<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = var("BERTH_CONFIG_DIR") {
        return Ok(d);
    }
    if let Some(d) = var("XDG_CONFIG_HOME") {
        return Ok(d.join("berth"));
    }
    match var("HOME") {
        Some(h) => Ok(h.join(".config").join("berth")),
        None => anyhow::bail!("no config directory: set HOME, XDG_CONFIG_HOME or BERTH_CONFIG_DIR"),
    }
}

pub fn credentials_path() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("credentials.toml"))
}

/// The stored credentials (empty when there is no file).
pub fn load() -> anyhow::Result<Credentials> {
    let path = credentials_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

/// Writes the file atomically: a 0600 temporary file in the 0700 directory, renamed over.
pub fn save(creds: &Credentials) -> anyhow::Result<PathBuf> {
    let path = credentials_path()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    // An existing directory keeps its mode unless it is ours and too open.
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 && dir.file_name().is_some_and(|n| n == "berth") {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let text = toml::to_string(creds)?;
    let tmp = dir.join(format!(".credentials.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// Removes the file; false if there was none.
pub fn remove() -> anyhow::Result<bool> {
    let path = credentials_path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(anyhow::anyhow!("removing {}: {e}", path.display())),
    }
}

/// The URL and key to use: the environment first, then the file.
pub struct Resolved {
    pub url: String,
    pub api_key: Option<String>,
}

pub fn resolve() -> anyhow::Result<Resolved> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let file = load()?;
    let url = env("BERTH_URL").or(file.url).unwrap_or_else(|| DEFAULT_URL.to_owned());
    let api_key = env("BERTH_API_KEY").or(file.api_key);
    Ok(Resolved { url, api_key })
}
