//! The `berth` binary as a user runs it, against one real platform per test binary (the
//! shared harness: real PostgreSQL, PgBouncer, API and workers): login, databases through
//! psql, backups, restore, `--json`, exit codes, the credentials file, and which outputs may
//! show a secret.

mod admin;
mod api_tls;
mod codes;
mod data_api_commands;
mod db_commands;
mod flow;
mod follow;
mod sql;
mod sql_commands;
mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use ops::harness::{self, Harness, HarnessOptions};

/// The platform, with `POST /databases` (and restore, branch, lifecycle) answering 202 at
/// once, so every operation is followed by the CLI's own progress, and a MariaDB host beside
/// PostgreSQL's (`berth db create --engine mariadb`).
pub fn platform() -> &'static Harness {
    let mut opts = HarnessOptions::default();
    opts.api.create_wait = Duration::ZERO;
    opts.mariadb = true;
    harness::configure(opts);
    harness::shared()
}

/// A new user (pro plan, an account of its own) and their API key.
pub fn new_user(label: &str) -> String {
    let h = platform();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    rt.block_on(h.new_user(label)).expect("a new user").key
}

/// What a run printed, and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "berth failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    /// The value of a `key: value` line of stdout.
    pub fn field(&self, key: &str) -> String {
        let prefix = format!("{key}:");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no `{key}:` line in:\n{}", self.stdout))
    }
}

/// A user of the CLI: their own config directory, and every output they saw (for the
/// secret scans).
pub struct User {
    pub dir: tempfile::TempDir,
    pub url: String,
    /// (arguments, stdout + stderr) of every run.
    pub seen: Mutex<Vec<(String, String)>>,
}

#[allow(clippy::new_without_default)]
impl User {
    pub fn new() -> Self {
        let h = platform();
        Self { dir: tempfile::tempdir().expect("a temp dir"), url: h.api_url.clone(), seen: Mutex::new(Vec::new()) }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// The command with this user's config dir and nothing from the caller's environment
    /// that could redirect it (BERTH_URL, BERTH_API_KEY, PG*).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(args).current_dir(self.dir.path()).env("BERTH_CONFIG_DIR", self.config_dir());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("BERTH_") || k.starts_with("PG") {
                cmd.env_remove(k.as_ref());
            }
        }
        cmd.env("BERTH_CONFIG_DIR", self.config_dir()).env("BERTH_LOG", "warn");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, |_| {}, None)
    }

    /// Runs `berth args`, with `stdin` written to it, and records what it printed.
    pub fn run_with(&self, args: &[&str], tweak: impl FnOnce(&mut Command), stdin: Option<&str>) -> Run {
        let mut cmd = self.command(args);
        tweak(&mut cmd);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("berth runs");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("writing stdin");
        }
        drop(input);
        let out: Output = child.wait_with_output().expect("berth ends");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if std::env::var_os("CLI_TEST_SHOW").is_some() {
            eprintln!("$ berth {}  → {}\n{}{}", args.join(" "), run.code, run.stdout, run.stderr);
        }
        self.seen.lock().expect("lock").push((args.join(" "), format!("{}\n{}", run.stdout, run.stderr)));
        run
    }

    /// `berth login` with the key on stdin (so it is in no process's arguments).
    pub fn login(&self, key: &str) -> Run {
        self.run_with(&["login", "--api-key", "-", "--url", &self.url], |_| {}, Some(key)).ok()
    }

    /// The outputs (by command line) in which `secret` appeared.
    pub fn shown_in(&self, secret: &str) -> Vec<String> {
        self.seen.lock().expect("lock").iter().filter(|(_, out)| out.contains(secret)).map(|(a, _)| a.clone()).collect()
    }
}

/// A fresh database name.
pub fn db_name(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// The real psql with the login of a `postgresql://` connection string in its environment.
fn psql_command(connection_string: &str, sql: &str) -> Command {
    let url = reqwest::Url::parse(connection_string).expect("the connection string is a URL");
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGHOST", url.host_str().expect("host"))
        .env("PGPORT", url.port().expect("port").to_string())
        .env("PGUSER", url.username())
        .env("PGPASSWORD", url.password().expect("password"))
        .env("PGDATABASE", url.path().trim_start_matches('/'))
        .env("PGCONNECT_TIMEOUT", "5");
    cmd
}

/// Runs `sql` through the real psql; returns its stdout.
pub fn psql(connection_string: &str, sql: &str) -> String {
    let out = psql_command(connection_string, sql).output().expect("psql runs");
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Whether psql can log in and run `select 1`.
pub fn psql_ok(connection_string: &str) -> bool {
    psql_command(connection_string, "select 1").output().expect("psql runs").status.success()
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
}

/// The body of an authenticated GET, as the server sent it.
pub fn get_body(url: &str, path: &str, key: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    rt.block_on(async {
        let resp = reqwest::Client::new().get(format!("{url}{path}")).bearer_auth(key).send().await.expect("GET");
        assert!(resp.status().is_success());
        resp.text().await.expect("a body")
    })
}
