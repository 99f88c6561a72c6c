//! Locating the PostgreSQL binaries (initdb and the servers for the local platform, pg_dump and
//! psql for backups): one discovery shared by the workers and `ops`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

const INSTALL_HINT: &str = "run scripts/install-deps";

/// A PostgreSQL installation: its bin dir and, when present, its library dir.
#[derive(Debug, Clone)]
pub struct PgBins {
    pub bindir: PathBuf,
    pub pkglibdir: Option<PathBuf>,
}

fn pg_config(program: &Path, flag: &str) -> Option<PathBuf> {
    let out = Command::new(program).arg(flag).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| PathBuf::from(text.trim()))
}

/// `/usr/lib/postgresql/<major>/bin` with the highest major that has an initdb.
fn highest_debian_bindir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

impl PgBins {
    /// `BERTH_PG_BINDIR`, else `pg_config --bindir` (when it has an initdb: libpq-dev's
    /// pg_config may belong to a major with no server installed), else the highest
    /// `/usr/lib/postgresql/*/bin`.
    pub fn find() -> anyhow::Result<PgBins> {
        if let Some(dir) = std::env::var_os("BERTH_PG_BINDIR").map(PathBuf::from) {
            if !dir.join("initdb").is_file() {
                bail!("BERTH_PG_BINDIR={} has no initdb", dir.display());
            }
        }
        let bindir = std::env::var_os("BERTH_PG_BINDIR")
            .map(PathBuf::from)
            .or_else(|| pg_config(Path::new("pg_config"), "--bindir"))
            .filter(|b| b.join("initdb").is_file())
            .or_else(highest_debian_bindir);
        let Some(bindir) = bindir else {
            bail!("PostgreSQL server binaries (initdb, postgres) not found via BERTH_PG_BINDIR, pg_config or /usr/lib/postgresql/*/bin; {INSTALL_HINT}");
        };
        let pkglibdir = pg_config(&bindir.join("pg_config"), "--pkglibdir")
            .or_else(|| bindir.parent().map(|p| p.join("lib")))
            .filter(|d| d.is_dir());
        Ok(PgBins { bindir, pkglibdir })
    }

    pub fn tool(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }

    /// The server's major version (`postgres --version`), if it can be read.
    pub fn major(&self) -> Option<u32> {
        let out = Command::new(self.tool("postgres")).arg("--version").output().ok()?;
        parse_major(&String::from_utf8_lossy(&out.stdout))
    }

    /// Whether the server can load `lib` (e.g. pg_stat_statements from contrib).
    pub fn has_library(&self, lib: &str) -> bool {
        self.pkglibdir.as_ref().is_some_and(|d| d.join(format!("{lib}.so")).is_file())
    }
}

/// `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → 15.
fn parse_major(version: &str) -> Option<u32> {
    let number = version.split(')').nth(1)?.split_whitespace().next()?;
    number.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_major;

    #[test]
    fn reads_the_major_version() {
        assert_eq!(parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"), Some(15));
        assert_eq!(parse_major("postgres (PostgreSQL) 17beta1\n"), Some(17));
        assert_eq!(parse_major("postgres (PostgreSQL) 9.6.24\n"), Some(9));
        assert_eq!(parse_major("garbage"), None);
    }
}
