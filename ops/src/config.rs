//! Configuration: a TOML file (`--config`) overridden by `BERTH_*` environment variables,
//! overridden by command-line flags.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where `berth up` keeps its clusters, key file and logs.
    pub data_dir: PathBuf,
    /// API listen address; port 0 picks a free port (remembered in the data dir).
    pub listen: String,
    /// Control-plane DSN for `serve`/`worker`/`migrate` (`berth up` makes its own).
    pub control_dsn: Option<String>,
    /// Key file; `BERTH_MASTER_KEY` takes precedence.
    pub key_file: Option<PathBuf>,
    /// How long `POST /databases` waits before answering 202.
    pub create_wait_ms: u64,
    pub body_limit_bytes: usize,
    pub http_workers: usize,
    pub worker_concurrency: usize,
    /// Data-lane jobs (backups, verifications, restores, branches) running at once per
    /// worker, and at most this many of one account's; see README "Isolation model".
    pub data_jobs_running: usize,
    pub data_jobs_per_account: usize,
    /// Deadline of one attempt of a control-lane job and of a data-lane job.
    pub job_deadline_secs: u64,
    pub data_job_deadline_secs: u64,
    pub job_max_attempts: u32,
    pub store_pool: usize,
    /// Quotas of each plan.
    pub plans: domain::PlanQuotas,
    /// OIDC sign-in (`POST /auth/session`); absent disables it.
    pub oidc: Option<api::oidc::OidcConfig>,
    pub session_ttl_secs: u64,
    /// Request budgets (token buckets); absent disables each.
    pub credential_budget: Option<api::ratelimit::Budget>,
    pub ip_budget: Option<api::ratelimit::Budget>,
    pub usage_interval_secs: u64,
    /// Each tenant database's statistics are sampled this often (60 s) for its charts and
    /// kept this long (25 h: a full day and the minute before it).
    pub metrics_interval_secs: u64,
    pub metrics_retention_hours: u64,
    /// The lock watchdog reads each host's lock table this often (5000 ms) and terminates
    /// the sessions of a database holding more than its share; 0 turns it off.
    pub lock_watchdog_interval_ms: u64,
    /// Serve `GET /metrics` on this address instead of on the API listener.
    pub metrics_listen: Option<String>,
    /// Where backups go: `[backup_store] kind = "s3", bucket = …, endpoint = …,
    /// access_key_id = …, secret_access_key = …` or `kind = "fs", root = …`. Default: the
    /// directory `backups` under the data dir.
    pub backup_store: Option<hostctl::objects::ObjectStoreConfig>,
    /// Daily backup time, `HH:MM` UTC.
    pub backup_at: String,
    pub backup_retention_days: u32,
    /// A database with no successful backup for this long gets a `backup_stale` incident.
    pub backup_stale_hours: u32,
    /// Run the backup scheduler in this worker process.
    pub backup_scheduler: bool,
    /// At worker start, temporary files of unfinished backup writes (fs store) at least this
    /// old are removed; `berth up` removes them all.
    pub stale_tmp_grace_secs: u64,
    /// An operation pending or running this long with no job is queued again (twice), then
    /// failed with an `operation_stuck` incident.
    pub stuck_operation_secs: u64,
    /// The orphan reconciler compares hosts and the backup store with the control plane this
    /// often (60 s), judging only what it has seen for `drift_grace_secs` (`drift` incidents);
    /// 0 turns it off.
    pub drift_interval_secs: u64,
    pub drift_grace_secs: u64,
    /// `[limits] api_keys_per_account = 50, manual_backups_per_day = 20,
    /// anonymous_signups_per_hour = 10` (per client address), `sql_timeout_secs = 30,
    /// sql_max_rows = 10000, sql_max_bytes = 10485760, sql_per_database = 4, sql_total = 32`.
    pub limits: control::limits::Limits,
    /// Mark the dashboard's cookies `Secure` even on plain HTTP (behind a TLS-terminating
    /// proxy that does not say so in `Forwarded` / `X-Forwarded-Proto`).
    pub cookie_secure: bool,
    /// Engines the deployment offers besides PostgreSQL (always on): `engines = ["postgres",
    /// "mariadb"]` makes `berth up` run a MariaDB server and register it as a tenant host.
    /// Unset: MariaDB when its server is installed. `BERTH_ENGINES=postgres,mariadb`.
    pub engines: Option<Vec<String>>,
    /// Serve the API over HTTPS with this PEM certificate chain and key (`--tls-cert`,
    /// `--tls-key`, `BERTH_TLS_CERT`, `BERTH_TLS_KEY`); replaced files are picked up without
    /// a restart (`ops::api_tls`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".berth"),
            listen: "127.0.0.1:0".into(),
            control_dsn: None,
            key_file: None,
            create_wait_ms: 10_000,
            body_limit_bytes: 1 << 20,
            http_workers: 2,
            worker_concurrency: 16,
            data_jobs_running: 4,
            data_jobs_per_account: 1,
            job_deadline_secs: 300,
            data_job_deadline_secs: 3600,
            job_max_attempts: 5,
            store_pool: 16,
            plans: domain::PlanQuotas::default(),
            oidc: None,
            session_ttl_secs: 3600,
            credential_budget: api::ApiConfig::default().credential_budget,
            ip_budget: api::ApiConfig::default().ip_budget,
            usage_interval_secs: 60,
            metrics_interval_secs: 60,
            metrics_retention_hours: 25,
            lock_watchdog_interval_ms: 5_000,
            metrics_listen: None,
            backup_store: None,
            backup_at: "02:00".into(),
            backup_retention_days: 30,
            backup_stale_hours: 26,
            backup_scheduler: true,
            stale_tmp_grace_secs: 3600,
            stuck_operation_secs: 600,
            drift_interval_secs: 60,
            drift_grace_secs: 120,
            limits: control::limits::Limits::default(),
            cookie_secure: false,
            engines: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Config {
    /// Whether `berth up` runs a MariaDB server: configured so (its server must then be
    /// installed), or by default when it is installed.
    pub fn mariadb(&self) -> anyhow::Result<bool> {
        match &self.engines {
            None => Ok(crate::local::maria::available()),
            Some(list) => {
                for e in list {
                    match domain::Engine::parse(e) {
                        Some(domain::Engine::Postgres | domain::Engine::MariaDb) => {}
                        Some(domain::Engine::MongoDb) => {
                            anyhow::bail!("engine 'mongodb' cannot be enabled: no MongoDB server is packaged here")
                        }
                        None => anyhow::bail!("unknown engine {e:?} in `engines` (postgres, mariadb)"),
                    }
                }
                let on = list.iter().any(|e| e == "mariadb");
                if on && !crate::local::maria::available() {
                    anyhow::bail!(
                        "`engines` enables mariadb but its server is not installed (mariadb-server, mariadb-client)"
                    );
                }
                Ok(on)
            }
        }
    }

    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut c: Config = match file {
            Some(p) => toml::from_str(&std::fs::read_to_string(p)?)?,
            None => Config::default(),
        };
        let env = |k: &str| std::env::var(format!("BERTH_{k}")).ok();
        if let Some(v) = env("DATA_DIR") {
            c.data_dir = v.into();
        }
        if let Some(v) = env("LISTEN") {
            c.listen = v;
        }
        if let Some(v) = env("ENGINES") {
            c.engines = Some(v.split(',').map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect());
        }
        if let Some(v) = env("CONTROL_DSN") {
            c.control_dsn = Some(v);
        }
        if let Some(v) = env("METRICS_LISTEN") {
            c.metrics_listen = Some(v);
        }
        if let Some(v) = env("KEY_FILE") {
            c.key_file = Some(v.into());
        }
        let num = |k: &str| env(k).map(|v| v.parse::<u64>()).transpose();
        if let Some(v) = num("CREATE_WAIT_MS")? {
            c.create_wait_ms = v;
        }
        if let Some(v) = num("BODY_LIMIT_BYTES")? {
            c.body_limit_bytes = v as usize;
        }
        if let Some(v) = num("WORKER_CONCURRENCY")? {
            c.worker_concurrency = v as usize;
        }
        if let Some(v) = num("DATA_JOBS_RUNNING")? {
            c.data_jobs_running = v as usize;
        }
        if let Some(v) = num("DATA_JOBS_PER_ACCOUNT")? {
            c.data_jobs_per_account = v as usize;
        }
        if let Some(v) = num("JOB_DEADLINE_SECS")? {
            c.job_deadline_secs = v;
        }
        if let Some(v) = num("DATA_JOB_DEADLINE_SECS")? {
            c.data_job_deadline_secs = v;
        }
        if let Some(v) = num("JOB_MAX_ATTEMPTS")? {
            c.job_max_attempts = v as u32;
        }
        if let Some(v) = num("STALE_TMP_GRACE_SECS")? {
            c.stale_tmp_grace_secs = v;
        }
        if let Some(v) = num("STUCK_OPERATION_SECS")? {
            c.stuck_operation_secs = v;
        }
        if let Some(v) = num("DRIFT_INTERVAL_SECS")? {
            c.drift_interval_secs = v;
        }
        if let Some(v) = num("DRIFT_GRACE_SECS")? {
            c.drift_grace_secs = v;
        }
        if let Some(v) = env("BACKUP_AT") {
            c.backup_at = v;
        }
        if let Some(v) = num("BACKUP_RETENTION_DAYS")? {
            c.backup_retention_days = v as u32;
        }
        if let Some(v) = num("BACKUP_STALE_HOURS")? {
            c.backup_stale_hours = v as u32;
        }
        if let Some(v) = env("TLS_CERT") {
            c.tls_cert = Some(v.into());
        }
        if let Some(v) = env("TLS_KEY") {
            c.tls_key = Some(v.into());
        }
        if let Some(v) = env("COOKIE_SECURE") {
            c.cookie_secure = matches!(v.as_str(), "1" | "true");
        }
        c.backup_time()?;
        Ok(c)
    }

    /// The API's certificate from `tls_cert`/`tls_key`, when both are set (one alone is a
    /// mistake, said as such).
    pub fn api_tls(&self) -> anyhow::Result<Option<std::sync::Arc<crate::api_tls::FileCert>>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::api_tls::FileCert::load(cert, key).map(Some),
            (None, None) => Ok(None),
            _ => anyhow::bail!("TLS for the API needs both tls_cert and tls_key (--tls-cert, --tls-key)"),
        }
    }

    pub fn key_file(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    pub fn backup_store(&self) -> hostctl::objects::ObjectStoreConfig {
        self.backup_store
            .clone()
            .unwrap_or_else(|| hostctl::objects::ObjectStoreConfig::Fs { root: self.data_dir.join("backups") })
    }

    fn backup_time(&self) -> anyhow::Result<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(&self.backup_at, "%H:%M")
            .map_err(|e| anyhow::anyhow!("backup_at {:?} is not HH:MM: {e}", self.backup_at))
    }

    pub fn api(&self) -> api::ApiConfig {
        api::ApiConfig {
            create_wait: Duration::from_millis(self.create_wait_ms),
            body_limit: self.body_limit_bytes,
            workers: self.http_workers,
            session_ttl: Duration::from_secs(self.session_ttl_secs),
            oidc: self.oidc.clone(),
            plans: self.plans.clone(),
            credential_budget: self.credential_budget,
            ip_budget: self.ip_budget,
            // Metrics go on the API listener unless they have one of their own.
            metrics: self.metrics_listen.is_none().then(crate::metrics::install),
            backups: Some(self.backup_store()),
            limits: self.limits,
            cookie_secure: self.cookie_secure,
            ..api::ApiConfig::default()
        }
    }

    pub fn worker(&self, database_url: String) -> worker::WorkerConfig {
        let mut w = worker::WorkerConfig::new(database_url);
        w.concurrency = self.worker_concurrency;
        w.data_running = self.data_jobs_running;
        w.data_per_account = self.data_jobs_per_account;
        w.control_deadline = Duration::from_secs(self.job_deadline_secs);
        w.data_deadline = Duration::from_secs(self.data_job_deadline_secs);
        w.max_attempts = self.job_max_attempts;
        w.plans = self.plans.clone();
        w.usage_interval = Duration::from_secs(self.usage_interval_secs);
        w.metrics_interval = Duration::from_secs(self.metrics_interval_secs.max(1));
        w.metrics_retention = Duration::from_secs(self.metrics_retention_hours.max(1) * 3600);
        w.lock_table_interval = Duration::from_millis(self.lock_watchdog_interval_ms);
        w.backups = Some(self.backup_store());
        w.scheduler = self.backup_scheduler;
        w.stale_tmp_grace = Duration::from_secs(self.stale_tmp_grace_secs);
        let deadline = Duration::from_secs(self.stuck_operation_secs);
        // Looked for a few times per deadline, at most once a minute.
        w.stuck = worker::stuck::StuckOptions {
            deadline,
            interval: (deadline / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)),
        };
        w.drift = worker::drift::DriftOptions {
            interval: Duration::from_secs(self.drift_interval_secs),
            grace: Duration::from_secs(self.drift_grace_secs),
        };
        w.schedule = worker::scheduler::BackupSchedule {
            at: self.backup_time().unwrap_or(w.schedule.at),
            retention: chrono::Duration::days(i64::from(self.backup_retention_days)),
            stale_after: chrono::Duration::hours(i64::from(self.backup_stale_hours)),
            ..w.schedule
        };
        w
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn the_apis_tls_needs_both_files_and_readable_ones() {
        let mut c = Config { tls_cert: Some("/nonexistent/api.pem".into()), ..Config::default() };
        let half = c.api_tls().expect_err("a certificate without its key");
        assert!(half.to_string().contains("both tls_cert and tls_key"), "{half}");
        c.tls_key = Some("/nonexistent/api.key".into());
        let missing = c.api_tls().expect_err("files that are not there");
        assert!(format!("{missing:#}").contains("/nonexistent/api.pem"), "{missing:#}");
        assert!(Config::default().api_tls().expect("no TLS").is_none());
    }
}
