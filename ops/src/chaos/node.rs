//! One `berth up` under test: started as a child process on a fixed data dir and address,
//! killed with SIGKILL at a moment the trial picks, restarted on the same data dir.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Settings of the platform under test that make a trial settle in seconds: the stuck-
/// operation deadline (production: 10 min) and no periodic orphan reconciler (the check runs
/// its own round, so that it counts what the jobs left behind, not what a reconciler mended).
const ENV: &[(&str, &str)] = &[
    ("BERTH_LOG", "warn"),
    ("BERTH_STUCK_OPERATION_SECS", "20"),
    ("BERTH_DRIFT_INTERVAL_SECS", "86400"),
    ("BERTH_CREATE_WAIT_MS", "0"),
];

/// What a trial kills: the whole `berth up`, or one of the servers it runs (which its
/// supervisor must bring back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    BerthUp,
    Server(Server),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    PgBouncer,
    TenantPostgres,
    ControlPostgres,
}

impl Server {
    fn pidfile(self) -> &'static str {
        match self {
            Server::PgBouncer => "hosts/local/pgbouncer/pgbouncer.pid",
            Server::TenantPostgres => "hosts/local/pg/data/postmaster.pid",
            Server::ControlPostgres => "control/data/postmaster.pid",
        }
    }
}

impl Target {
    /// Trial `n` (from 1) kills these in turn: berth up, PgBouncer, the tenant PostgreSQL,
    /// the control-plane PostgreSQL.
    pub fn of_trial(n: usize) -> Self {
        match n % 4 {
            1 => Target::BerthUp,
            2 => Target::Server(Server::PgBouncer),
            3 => Target::Server(Server::TenantPostgres),
            _ => Target::Server(Server::ControlPostgres),
        }
    }
}

pub struct Node {
    exe: PathBuf,
    pub dir: PathBuf,
    pub listen: String,
    pub api: String,
    child: Option<Child>,
}

impl Node {
    /// Boots `berth up` on `dir`; returns the node and, the first time, the admin key.
    pub async fn boot(exe: &Path, dir: &Path, listen: &str) -> anyhow::Result<(Node, Option<String>)> {
        let mut node = Node {
            exe: exe.to_owned(),
            dir: dir.to_owned(),
            listen: listen.to_owned(),
            api: String::new(),
            child: None,
        };
        let key = node.start().await?;
        Ok((node, key))
    }

    async fn start(&mut self) -> anyhow::Result<Option<String>> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.with_extension("log"))?;
        let mut cmd = Command::new(&self.exe);
        cmd.args(["up", "--data-dir"])
            .arg(&self.dir)
            .args(["--listen", &self.listen])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        for (k, v) in ENV {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {}", self.exe.display()))?;
        let out = child.stdout.take().context("berth up's stdout")?;
        self.child = Some(child);
        let mut lines = BufReader::new(out).lines();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut key = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match tokio::time::timeout(left, lines.next_line()).await {
                Ok(Ok(Some(l))) => l,
                Ok(_) => bail!("berth up exited before it printed its API URL (see {})", self.log().display()),
                Err(_) => bail!("berth up printed no API URL within 120 s (see {})", self.log().display()),
            };
            if let Some(api) = line.strip_prefix("api: ") {
                self.api = api.to_owned();
                // The key line, when there is one, follows at once.
                if let Ok(Ok(Some(l))) = tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await {
                    key = l.strip_prefix("admin api key: ").map(str::to_owned);
                }
                break;
            }
        }
        // Keep draining stdout so that berth up never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(key)
    }

    pub fn log(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    /// SIGKILL: no shutdown path runs; the servers it started get their parent-death signal.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        self.wait_servers_gone().await
    }

    /// SIGKILL of one server `berth up` runs, then waits (up to 60 s) until its supervisor
    /// has started it again: a new process in the server's pid file.
    pub async fn kill_server(&self, server: Server) -> anyhow::Result<()> {
        let pidfile = self.dir.join(server.pidfile());
        let read = || -> Option<u32> { std::fs::read_to_string(&pidfile).ok()?.lines().next()?.trim().parse().ok() };
        let pid = read().with_context(|| format!("no pid in {}", pidfile.display()))?;
        crate::local::signal(pid, libc::SIGKILL)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if read().is_some_and(|p| p != pid && crate::local::is_running(p)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{server:?} was not started again within 60 s (see {})", self.log().display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The same data dir and address again, after a crash.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.start().await.map(|_| ())
    }

    /// SIGTERM, the orderly way out, with a deadline.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        if let Some(pid) = child.id() {
            crate::local::signal(pid, libc::SIGTERM)?;
        }
        match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                child.start_kill()?;
                child.wait().await?;
            }
        }
        self.wait_servers_gone().await
    }

    /// Waits until every PostgreSQL and PgBouncer that the killed node had started is gone,
    /// so that the next start does not adopt a server on its way down.
    async fn wait_servers_gone(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let alive: Vec<u32> = server_pids(&self.dir).into_iter().filter(|p| crate::local::is_running(*p)).collect();
            if alive.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("servers {alive:?} under {} still run 60 s after berth up died", self.dir.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The pids in every `postmaster.pid` and `pgbouncer.pid` under `dir` (a few levels down).
fn server_pids(dir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_owned(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            if p.is_dir() && depth < 4 {
                stack.push((p, depth + 1));
            } else if name == "postmaster.pid" || name == "pgbouncer.pid" {
                let pid: Option<u32> =
                    std::fs::read_to_string(&p).ok().and_then(|t| t.lines().next()?.trim().parse().ok());
                out.extend(pid);
            }
        }
    }
    out
}
