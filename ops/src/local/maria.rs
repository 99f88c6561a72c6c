//! One local MariaDB server (Debian's `mariadb-server`), run as the service account like
//! PostgreSQL. Layout of its directory: `data/` (created by `mariadb-install-db`),
//! `admin.password` (0600), `port` (last port, reused while free), `mariadb.log`, the pid
//! file and the Unix socket `mysqld.sock` — the platform's way in; tenants connect over TCP
//! on loopback.
//!
//! The platform's account `berth_admin@localhost` is (re)made at every start by an init file
//! (0600, removed once the server is up), so the password never appears on a command line.
//! The event scheduler is off: no tenant's `CREATE EVENT` ever runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};

use super::process::{self, StartFailure};
use super::user::{self, Account};
use super::{files, ports};

/// The platform's account on the server.
pub const MARIA_ADMIN: &str = "berth_admin";
const PASSWORD_FILE: &str = "admin.password";
const PORT_FILE: &str = "port";
const LOG_FILE: &str = "mariadb.log";
const PID_FILE: &str = "mariadb.pid";
const SOCKET: &str = "mysqld.sock";
const INIT_FILE: &str = "init.sql";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(60);
/// Sessions the server admits, all tenants together; each login is capped by its plan
/// (`MAX_USER_CONNECTIONS`), and the server keeps one more for the platform's account (it
/// holds `SUPER`). A tenant's session waits at most `lock_wait_timeout` (60 s, the server's
/// default here) for a lock another session of it holds, so a backup's dump cannot be held
/// for longer than that by its own tenant.
pub const MAX_CONNECTIONS: u32 = 300;

/// The server's programs, from `PATH` or Debian's places.
fn program(name: &str) -> anyhow::Result<PathBuf> {
    let dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    dirs.into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not found: install Debian's mariadb-server and mariadb-client"))
}

/// Whether this machine can run a MariaDB server (what `engines = ["mariadb"]` needs).
pub fn available() -> bool {
    program("mariadbd").is_ok() && program("mariadb-install-db").is_ok() && program("mariadb-dump").is_ok()
}

pub struct MariaServer {
    dir: PathBuf,
    port: u16,
    password: String,
    child: Mutex<Option<Child>>,
}

impl std::fmt::Debug for MariaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariaServer").field("dir", &self.dir).field("port", &self.port).finish()
    }
}

/// The pid of a mariadbd already running on `dir`, from its pid file.
fn running(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join(PID_FILE)).ok()?.trim().parse().ok()?;
    (process::is_alive(pid) && process::process_name(pid).as_deref() == Some("mariadbd")).then_some(pid)
}

impl MariaServer {
    /// Starts (initialising on first use) the server kept in `dir`, or adopts one running
    /// there. Restarting keeps data, password and, while free, the port.
    pub async fn start(dir: &Path, fsync: bool) -> anyhow::Result<MariaServer> {
        let account = user::service_account().await?;
        let dir = user::prepare_dir(dir, account).await?;
        if dir.join(SOCKET).as_os_str().len() > 107 {
            bail!("{} is too long to hold a Unix socket; use a shorter path", dir.display());
        }
        let data = dir.join("data");
        let password_file = dir.join(PASSWORD_FILE);
        let initialised = data.join("mysql").is_dir();
        if initialised && !password_file.exists() {
            bail!("{} holds a MariaDB server but its {PASSWORD_FILE} is missing", dir.display());
        }
        let password = files::read_or_create_secret(&password_file, account)?;
        if !initialised {
            install(&dir, account).await?;
        }
        let mut server = MariaServer { dir, port: 0, password, child: Mutex::new(None) };
        if running(&server.dir).is_some() {
            server.port = files::read_port(&server.dir.join(PORT_FILE))
                .context("a mariadbd runs on this dir but its port file is missing")?;
            let deadline = tokio::time::Instant::now() + START_TIMEOUT;
            loop {
                match server.probe().await {
                    Ok(()) => return Ok(server),
                    // The previous Berth's server, shutting down since its parent died: once
                    // it is gone, start ours on the same dir.
                    Err(_) if running(&server.dir).is_none() => break,
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        return Err(e.context("a mariadbd is running on this dir but does not accept us"))
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }
        let mut previous = files::read_port(&server.dir.join(PORT_FILE));
        let loopback = ["127.0.0.1".to_owned()];
        for _ in 0..3 {
            server.port = ports::choose(previous.take(), &loopback)?;
            match server.spawn(account, fsync).await {
                Ok(child) => {
                    *server.child.lock().expect("child lock poisoned") = Some(child);
                    return Ok(server);
                }
                Err(StartFailure::PortInUse) => continue,
                Err(StartFailure::Failed(e)) => return Err(e),
            }
        }
        bail!("mariadbd in {} lost the race for a free port three times", server.dir.display())
    }

    async fn spawn(&self, account: Option<Account>, fsync: bool) -> Result<Child, StartFailure> {
        let fail = StartFailure::Failed;
        files::write_private(&self.dir.join(PORT_FILE), &format!("{}\n", self.port), account).map_err(fail)?;
        let init = self.dir.join(INIT_FILE);
        files::write_private(&init, &init_sql(&self.password), account).map_err(fail)?;
        let log = self.log_file();
        let log_offset = process::file_len(&log);
        let tmp = user::prepare_dir(&self.dir.join("tmp"), account).await.map_err(fail)?;
        let mut cmd = process::command(&program("mariadbd").map_err(fail)?, account, &self.dir);
        private_files(&mut cmd);
        cmd.env("TMPDIR", &tmp)
            .arg("--no-defaults")
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--pid-file={}", self.dir.join(PID_FILE).display()))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--init-file={}", init.display()))
            .arg(format!("--port={}", self.port))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve", "--event-scheduler=DISABLED"])
            .arg(format!("--max-connections={MAX_CONNECTIONS}"))
            .args(["--character-set-server=utf8mb4", "--local-infile=0"])
            // Every table is InnoDB, in a file of its own: no tenant can hold MEMORY tables
            // in the server's RAM, and a database's size is its files' (`sizes`).
            .args(["--enforce-storage-engine=InnoDB", "--innodb-file-per-table=ON"])
            .args(["--skip-symbolic-links", "--lock-wait-timeout=60", "--innodb-buffer-pool-size=64M"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !fsync {
            // Throwaway servers (tests) trade crash safety for speed, as PostgreSQL's do.
            cmd.args(["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--sync-binlog=0"]);
        }
        let mut child = process::spawn_server(cmd, libc::SIGTERM).await.map_err(fail)?;
        let what = format!("mariadbd in {}", self.dir.display());
        let ready =
            process::wait_until_ready(&mut child, &what, &log, log_offset, START_TIMEOUT, libc::SIGTERM, || {
                self.probe()
            })
            .await;
        // Read once at start: the password need not stay in a second file.
        let _ = std::fs::remove_file(&init);
        ready?;
        Ok(child)
    }

    /// A real login of the platform's account on the socket.
    async fn probe(&self) -> anyhow::Result<()> {
        use mysql_async::prelude::Queryable;
        let opts = mysql_async::OptsBuilder::default()
            .socket(Some(self.socket().display().to_string()))
            .user(Some(MARIA_ADMIN))
            .pass(Some(self.password.clone()));
        let mut conn = tokio::time::timeout(Duration::from_secs(2), mysql_async::Conn::new(opts))
            .await
            .context("no answer within 2 s")??;
        conn.query_drop("SELECT 1").await?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    /// Where tenants connect.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }
    pub fn admin_user(&self) -> &str {
        MARIA_ADMIN
    }
    pub fn admin_password(&self) -> &str {
        &self.password
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join(SOCKET)
    }
    pub fn log_file(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }
    pub fn pid(&self) -> Option<u32> {
        running(&self.dir)
    }

    /// Whether the server has ended (see `PgCluster::has_ended`).
    pub fn has_ended(&self) -> bool {
        process::has_ended(&self.child, || running(&self.dir).is_none())
    }

    /// Starts the server again on the same port after it ended; InnoDB recovers first.
    pub async fn restart(&self, fsync: bool) -> anyhow::Result<()> {
        let account = user::service_account().await?;
        process::restarted(&self.child, self.spawn(account, fsync).await, self.port)
    }

    /// Clean shutdown (SIGTERM), waiting for it.
    pub fn stop(&self) -> anyhow::Result<()> {
        let mut child = self.child.lock().expect("child lock poisoned");
        let pid = self.pid().or_else(|| child.as_ref().map(Child::id));
        if let Some(pid) = pid {
            process::terminate(pid, libc::SIGTERM, STOP_GRACE, "mariadbd")?;
        }
        process::reap(&mut child);
        Ok(())
    }
}

/// The server makes its files 0660 and directories 0700 unless told otherwise (its `UMASK`
/// and `UMASK_DIR` are the modes themselves, not masks): tenant data and the pid file are
/// for the service account alone, like PostgreSQL's.
fn private_files(cmd: &mut std::process::Command) {
    cmd.env("UMASK", "0600").env("UMASK_DIR", "0700");
}

/// A MariaDB string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

fn init_sql(password: &str) -> String {
    let who = format!("{}@'localhost'", lit(MARIA_ADMIN));
    format!(
        "CREATE USER IF NOT EXISTS {who} IDENTIFIED BY {pw};\n\
         ALTER USER {who} IDENTIFIED BY {pw};\n\
         GRANT ALL PRIVILEGES ON *.* TO {who} WITH GRANT OPTION;\n",
        pw = lit(password)
    )
}

/// Creates the server's system tables in `dir/data` (through a side directory renamed on
/// success, so "data/mysql exists" always means a complete install).
async fn install(dir: &Path, account: Option<Account>) -> anyhow::Result<()> {
    let staging = dir.join("data.install");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    let mut cmd = process::command(&program("mariadb-install-db")?, account, dir);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", staging.display()))
        .args(["--auth-root-authentication-method=socket", "--skip-test-db"])
        .arg("--skip-name-resolve");
    // Already the service account (`process::command`): no `--user`, which would have it
    // chown the server's plugin directory.
    let tmp = user::prepare_dir(&dir.join("tmp"), account).await?;
    private_files(&mut cmd);
    cmd.env("TMPDIR", &tmp).arg(format!("--tmpdir={}", tmp.display()));
    process::run(cmd, "mariadb-install-db", Duration::from_secs(120)).await?;
    std::fs::rename(&staging, dir.join("data")).context("moving the new MariaDB data dir into place")?;
    Ok(())
}
