//! Creating a cluster, and the PostgreSQL configuration Berth owns, both re-rendered on every
//! start: `pg_hba.conf` (so a cluster made by an older Berth gets today's rules) and
//! `berth.conf` (included last from postgresql.conf, so port, listen addresses and
//! durability follow the current options).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use super::bins::PgBins;
use super::pg::ClusterOptions;
use super::pg::SUPERUSER;
use super::user::Account;
use super::{files, process};

pub const BERTH_CONF: &str = "berth.conf";

/// Unix socket paths are limited to 107 bytes; `.s.PGSQL.<port>.lock` is the longest name.
pub fn check_socket_dir(dir: &Path) -> anyhow::Result<()> {
    let longest = dir.as_os_str().len() + "/.s.PGSQL.65535.lock".len();
    if longest > 107 {
        bail!("{} is too long to hold a Unix socket (max ~87 bytes); use a shorter path", dir.display());
    }
    Ok(())
}

/// Backends the cluster admits (`max_connections`).
pub const MAX_CONNECTIONS: u32 = 300;

/// The shared lock table holds `max_locks_per_transaction` × (`max_connections` + 22 other
/// backend slots on PostgreSQL 15) entries for all databases together: 256 × 322 = 82,432
/// nominal (a tenant filling it got ~130,000, PostgreSQL lending spare shared memory).
/// PostgreSQL's default, 64, gave ~20,600 nominal: one free-plan tenant locking 34,000 tables
/// made every other database's `CREATE TABLE` and every login fail with "out of shared
/// memory". The budget: each backend slot carries 256 locks, and the worker's lock watchdog
/// (`worker::locks`) holds each database to the slots its pool may take, its plan's
/// `server_connections` × 256 (a free database: 2,560), terminating the sessions of a
/// database over it; so databases within their shares can fill the table only when the
/// plans on the host promise more server connections than `max_connections` (as they may:
/// pools are sized like overbooked seats) and all use them at once. Between two rounds (5 s) one session can still fill it
/// (~150,000 locks a second): the watchdog ends that within a round. Cost: ~24 MB more
/// shared memory (PostgreSQL 15 reports 75 MB against 51 MB with the default).
pub const MAX_LOCKS_PER_TRANSACTION: u32 = 256;

/// Connections only the platform's superuser may take, whatever tenants hold: the workers'
/// pools (4 per process), the watchdogs, the reconciler, inspection and an operator's psql.
/// Tenants' sessions (through PgBouncer, each pool capped at its plan's server connections)
/// and the platform's sessions as a tenant's role (backups) share the rest: when the plans on
/// a host promise more than that and all use it at once, new tenant sessions wait in
/// PgBouncer's queue or fail, but the platform can still create, delete, stop and watch.
pub const SUPERUSER_RESERVED: u32 = 16;

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `pg_hba.conf`: password (SCRAM) logins only. Over TCP only the cluster's superuser may
/// log in, from this machine; every other role — tenant roles and database users — only
/// through the Unix socket, whose directory only the service account (PgBouncer, and the
/// platform) can reach. So a tenant's credentials work through PgBouncer alone, behind its
/// allowlist and connection caps, never straight on the PostgreSQL port.
pub fn render_hba() -> String {
    format!(
        "# Rendered by Berth on every start; changes here are overwritten.\n\
         local all all scram-sha-256\n\
         host  all {SUPERUSER} 127.0.0.0/8 scram-sha-256\n\
         host  all {SUPERUSER} ::1/128 scram-sha-256\n\
         host  all all 0.0.0.0/0 reject\n\
         host  all all ::/0 reject\n"
    )
}

pub const HBA_FILE: &str = "pg_hba.conf";

/// Applied to a fresh initdb output: our pg_hba.conf, and the include of berth.conf.
fn install(data: &Path, account: Option<Account>) -> anyhow::Result<()> {
    files::write_private(&data.join(HBA_FILE), &render_hba(), account)?;
    let conf = data.join("postgresql.conf");
    let mut f =
        std::fs::OpenOptions::new().append(true).open(&conf).with_context(|| format!("opening {}", conf.display()))?;
    writeln!(f, "\n# Berth's settings; they override the ones above.\ninclude '{BERTH_CONF}'")
        .context("appending to postgresql.conf")?;
    Ok(())
}

/// What the installed server can do, as far as the rendered configuration cares.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerSupport {
    /// contrib's pg_stat_statements is installed.
    pub pg_stat_statements: bool,
    /// `recovery_init_sync_method = syncfs` exists (PostgreSQL 14+ on Linux).
    pub syncfs: bool,
}

impl ServerSupport {
    pub fn of(bins: &PgBins) -> ServerSupport {
        ServerSupport {
            pg_stat_statements: bins.has_library("pg_stat_statements"),
            syncfs: cfg!(target_os = "linux") && bins.major().is_some_and(|m| m >= 14),
        }
    }
}

pub fn render(dir: &Path, port: u16, opts: &ClusterOptions, support: ServerSupport) -> String {
    let dir = dir.to_string_lossy();
    let durable = if opts.fsync { "on" } else { "off" };
    let mut out = format!(
        "# Rendered by Berth on every start; put local overrides in postgresql.auto.conf\n\
         # (ALTER SYSTEM), which is read after this file.\n\
         listen_addresses = {listen}\n\
         port = {port}\n\
         unix_socket_directories = {dir}\n\
         password_encryption = 'scram-sha-256'\n\
         shared_buffers = '32MB'\n\
         max_connections = {MAX_CONNECTIONS}\n\
         max_locks_per_transaction = {MAX_LOCKS_PER_TRANSACTION}\n\
         superuser_reserved_connections = {SUPERUSER_RESERVED}\n\
         fsync = {durable}\n\
         synchronous_commit = {durable}\n\
         full_page_writes = {durable}\n\
         logging_collector = off\n\
         log_line_prefix = '%m [%p] %q%u@%d '\n\
         lc_messages = 'C'\n",
        listen = quote(&opts.listen_addrs.join(",")),
        dir = quote(&dir),
    );
    // Loaded when contrib is installed: query statistics for later issues; optional so a
    // bare server package still works.
    if support.pg_stat_statements {
        out.push_str("shared_preload_libraries = 'pg_stat_statements'\n");
    }
    // After a crash PostgreSQL makes the whole data directory durable before redo. The
    // default walks and fsyncs every file, which takes seconds per hundred tenant
    // databases; syncfs syncs the file system once per tablespace instead.
    if support.syncfs {
        out.push_str("recovery_init_sync_method = 'syncfs'\n");
    }
    out
}

/// Creates the cluster in `dir/data`, superuser `berth` with the password in `password_file`.
pub async fn initdb(bins: &PgBins, dir: &Path, password_file: &Path, account: Option<Account>) -> anyhow::Result<()> {
    // initdb into a side directory and rename on success, so "data/ exists" always means a
    // complete cluster (an interrupted initdb is simply redone).
    let staging = dir.join("data.initdb");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    let mut cmd = process::command(&bins.tool("initdb"), account, dir);
    cmd.arg("-D").arg(&staging).arg(format!("--pwfile={}", password_file.display()));
    cmd.args(["--no-sync", "--auth=scram-sha-256", "--username", SUPERUSER, "--encoding=UTF8", "--locale=C"]);
    process::run(cmd, "initdb", Duration::from_secs(120)).await?;
    install(&staging, account)?;
    std::fs::rename(&staging, dir.join("data")).context("moving the new cluster into place")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{render, ServerSupport};
    use crate::local::pg::ClusterOptions;
    use std::path::Path;

    fn options() -> ClusterOptions {
        ClusterOptions { listen_addrs: vec!["127.0.0.1".into()], fsync: true }
    }

    #[test]
    fn the_lock_table_is_sized_from_the_budget() {
        let conf = render(Path::new("/d"), 5432, &options(), ServerSupport::default());
        assert!(conf.contains("max_connections = 300\n"), "{conf}");
        assert!(conf.contains("max_locks_per_transaction = 256\n"), "{conf}");
        assert!(conf.contains("superuser_reserved_connections = 16\n"), "{conf}");
    }

    #[test]
    fn crash_recovery_syncs_the_file_system_once_when_the_server_can() {
        let conf = render(Path::new("/d"), 5432, &options(), ServerSupport { syncfs: true, ..Default::default() });
        assert!(conf.contains("recovery_init_sync_method = 'syncfs'\n"), "{conf}");
        let old = render(Path::new("/d"), 5432, &options(), ServerSupport::default());
        assert!(!old.contains("recovery_init_sync_method"), "an older server would refuse to start: {old}");
    }
}
