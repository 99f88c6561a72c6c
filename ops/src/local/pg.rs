//! One local PostgreSQL cluster. Layout of its directory:
//! `data/` (PGDATA, created by initdb), `superuser.password` (0600), `port` (last port, reused
//! while free), `postgres.log` (server stderr), and the Unix socket.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};

use super::bins::PgBins;
use super::process::{self, StartFailure};
use super::user::{self, Account};
use super::{connect, dsn_value, files, pgconf, ports, url_escape};

/// The cluster superuser's name.
pub const SUPERUSER: &str = "berth";
const PASSWORD_FILE: &str = "superuser.password";
const PORT_FILE: &str = "port";
const LOG_FILE: &str = "postgres.log";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Off only for throwaway clusters (tests): also turns off synchronous_commit and
    /// full_page_writes, trading crash safety for speed.
    pub fsync: bool,
    pub listen_addrs: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { fsync: true, listen_addrs: vec!["127.0.0.1".into()] }
    }
}

impl ClusterOptions {
    pub fn for_tests() -> Self {
        ClusterOptions { fsync: false, ..Self::default() }
    }
}

pub struct PgCluster {
    dir: PathBuf,
    host: String,
    port: u16,
    password: String,
    /// Our child when this handle started the server (None when it reused a running one).
    child: Mutex<Option<Child>>,
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster").field("dir", &self.dir).field("port", &self.port).finish()
    }
}

/// Where clients should connect given the listen addresses: loopback when it is served.
pub(crate) fn connect_host(listen: &[String]) -> String {
    let loopback = ["127.0.0.1", "*", "0.0.0.0", "localhost"];
    match listen.first() {
        Some(first) if !listen.iter().any(|a| loopback.contains(&a.as_str())) => first.clone(),
        _ => "127.0.0.1".into(),
    }
}

/// The pid and port of a postmaster already running on `data`, from its postmaster.pid.
fn running(data: &Path) -> Option<(u32, u16)> {
    let pidfile = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let mut lines = pidfile.lines();
    let pid: u32 = lines.next()?.trim().parse().ok()?;
    let port: u16 = lines.nth(2)?.trim().parse().ok()?;
    let ours = process::is_alive(pid) && process::process_name(pid).as_deref() == Some("postgres");
    ours.then_some((pid, port))
}

impl PgCluster {
    /// Starts (initialising on first use) the cluster kept in `dir`; reuses a server that is
    /// already running there. Restarting keeps data, password and, while free, the port.
    pub async fn start(dir: &Path, opts: &ClusterOptions) -> anyhow::Result<PgCluster> {
        if opts.listen_addrs.is_empty() {
            bail!("ClusterOptions.listen_addrs is empty");
        }
        let bins = PgBins::find()?;
        let account = user::service_account().await?;
        let dir = user::prepare_dir(dir, account).await?;
        pgconf::check_socket_dir(&dir)?;
        let data = dir.join("data");
        let initialised = data.join("PG_VERSION").is_file();
        let password_file = dir.join(PASSWORD_FILE);
        if initialised && !password_file.exists() {
            bail!("{} holds a cluster but its {PASSWORD_FILE} is missing", dir.display());
        }
        let password = files::read_or_create_secret(&password_file, account)?;
        if !initialised {
            pgconf::initdb(&bins, &dir, &password_file, account).await?;
        }
        let mut cluster =
            PgCluster { host: connect_host(&opts.listen_addrs), port: 0, password, child: Mutex::new(None), dir };
        if let Some((_, port)) = running(&data) {
            cluster.port = port;
            let deadline = tokio::time::Instant::now() + START_TIMEOUT;
            while let Err(e) = cluster.probe().await {
                if tokio::time::Instant::now() >= deadline {
                    return Err(e.context("a postgres is running on this dir but does not accept us"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            return Ok(cluster);
        }
        let mut previous = files::read_port(&cluster.dir.join(PORT_FILE));
        for _ in 0..3 {
            cluster.port = ports::choose(previous.take(), &opts.listen_addrs)?;
            match cluster.spawn(&bins, opts, account).await {
                Ok(child) => {
                    *cluster.child.lock().expect("child lock poisoned") = Some(child);
                    return Ok(cluster);
                }
                Err(StartFailure::PortInUse) => continue,
                Err(StartFailure::Failed(e)) => return Err(e),
            }
        }
        bail!("postgres in {} lost the race for a free port three times", cluster.dir.display())
    }

    async fn spawn(
        &self,
        bins: &PgBins,
        opts: &ClusterOptions,
        account: Option<Account>,
    ) -> Result<Child, StartFailure> {
        let fail = StartFailure::Failed;
        let data = self.dir.join("data");
        files::write_private(&self.dir.join(PORT_FILE), &format!("{}\n", self.port), account).map_err(fail)?;
        let conf = pgconf::render(&self.dir, self.port, opts, pgconf::ServerSupport::of(bins));
        files::write_if_changed(&data.join(pgconf::BERTH_CONF), &conf, account).map_err(fail)?;
        files::write_if_changed(&data.join(pgconf::HBA_FILE), &pgconf::render_hba(), account).map_err(fail)?;
        let log = self.log_file();
        let log_offset = process::file_len(&log);
        let out = files::open_log(&log, account).map_err(fail)?;
        let err = out.try_clone().context("duplicating the log handle").map_err(fail)?;
        // postgres directly, not `pg_ctl start`: pg_ctl forks the postmaster off through a
        // shell, which would lose the parent-death signal that ties it to our lifetime.
        let mut cmd = process::command(&bins.tool("postgres"), account, &self.dir);
        cmd.arg("-D").arg(&data).stdin(Stdio::null()).stdout(out).stderr(err);
        let mut child = process::spawn_server(cmd, libc::SIGQUIT).await.map_err(fail)?;
        let what = format!("postgres in {}", self.dir.display());
        process::wait_until_ready(&mut child, &what, &log, log_offset, START_TIMEOUT, libc::SIGINT, || self.probe())
            .await?;
        Ok(child)
    }

    /// A real login: proves the server is up, accepting connections and our password.
    async fn probe(&self) -> anyhow::Result<()> {
        let dsn = format!("{} connect_timeout=2", self.dsn("postgres"));
        connect(&dsn).await.map(drop).map_err(Into::into)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }
    pub fn superuser_password(&self) -> &str {
        &self.password
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Where the cluster's Unix socket is: the only way in for roles other than the superuser.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn log_file(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }
    /// The postmaster's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        running(&self.data_dir()).map(|(pid, _)| pid)
    }

    /// key=value DSN for tokio-postgres, as the superuser.
    pub fn dsn(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user={} password={} dbname={}",
            dsn_value(&self.host),
            self.port,
            SUPERUSER,
            dsn_value(&self.password),
            dsn_value(dbname)
        )
    }

    /// postgres:// URL (for sqlx and psql), as the superuser.
    pub fn url(&self, dbname: &str) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("postgres://{SUPERUSER}:{}@{host}:{}/{}", url_escape(&self.password), self.port, url_escape(dbname))
    }

    /// Idempotent `CREATE DATABASE`, safe against a concurrent creator.
    pub async fn create_database_if_missing(&self, name: &str) -> anyhow::Result<()> {
        if name.is_empty() || name.len() > 63 || name.contains('\0') {
            bail!("invalid database name {name:?}");
        }
        let client = connect(&self.dsn("postgres")).await?;
        let exists = client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?;
        if exists.is_some() {
            return Ok(());
        }
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match client.batch_execute(&sql).await {
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => Ok(()),
            other => other.with_context(|| format!("creating database {name:?}")),
        }
    }

    /// Whether the server has ended: a child of ours that exited (reaped here), or a server
    /// this handle found running at start whose postmaster is gone.
    pub fn has_ended(&self) -> bool {
        process::has_ended(&self.child, || running(&self.dir.join("data")).is_none())
    }

    /// Starts the server again, on the same port (clients and the control plane know it),
    /// after it ended. PostgreSQL runs its crash recovery first.
    pub async fn restart(&self, opts: &ClusterOptions) -> anyhow::Result<()> {
        let bins = PgBins::find()?;
        let account = user::service_account().await?;
        process::restarted(&self.child, self.spawn(&bins, opts, account).await, self.port)
    }

    /// Fast shutdown (SIGINT: abort transactions, checkpoint, exit), waiting for it.
    pub fn stop(&self) -> anyhow::Result<()> {
        let mut child = self.child.lock().expect("child lock poisoned");
        let pid = self.pid().or_else(|| child.as_ref().map(Child::id));
        if let Some(pid) = pid {
            process::terminate(pid, libc::SIGINT, STOP_GRACE, "postgres")?;
        }
        process::reap(&mut child);
        Ok(())
    }
}
