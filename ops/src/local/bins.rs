//! Locating the PostgreSQL and PgBouncer binaries. PostgreSQL's discovery lives in `hostctl`
//! (the workers need pg_dump and psql too).

use std::path::PathBuf;

pub use hostctl::bins::PgBins;

const INSTALL_HINT: &str = "run scripts/install-deps";

/// PgBouncer from PATH, else Debian's /usr/sbin (not on a normal user's PATH).
pub fn pgbouncer() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("pgbouncer")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/pgbouncer")])
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("pgbouncer not found on PATH or in /usr/sbin; {INSTALL_HINT}"))
}
