//! A whole platform in this process, for tests and benchmarks: the shared test clusters
//! (see `local::testing`), a control-plane store, the local host registered, an admin key,
//! and the API and workers running on a runtime of their own, so they outlive any one
//! test's runtime. Started once per process.

use std::sync::OnceLock;

use domain::{HostId, PlatformRole};
use eventstore::vault::Keyring;
use eventstore::Store;

use crate::local::testing::{self, TestPlatform};
use crate::platform::{control_database, open_store, register_local_host, Services};

pub mod wait;
pub use wait::{consistently, eventually, eventually_blocking, eventually_every};

pub struct Harness {
    pub platform: &'static TestPlatform,
    pub api_url: String,
    /// The admin's key (an account of its own).
    pub admin_key: String,
    pub control_url: String,
    pub keyring: Keyring,
    pub host_id: HostId,
    /// Where the platform's workers and API keep backups.
    pub backups: hostctl::objects::ObjectStoreConfig,
    /// The MariaDB tenant host and its id, when [`HarnessOptions::mariadb`] asked for one.
    pub maria: Option<(&'static crate::local::MariaServer, HostId)>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// Tunables a test binary may set before the first call to [`shared`].
#[derive(Debug, Clone)]
pub struct HarnessOptions {
    pub api: api::ApiConfig,
    pub max_attempts: u32,
    pub backoff_base: std::time::Duration,
    /// How often the watchdog probes hosts (short in tests, so incidents show up quickly).
    pub watchdog_interval: std::time::Duration,
    /// How often the lock watchdog reads the host's lock table (short in tests, so a
    /// tenant over its share is cut off quickly).
    pub lock_table_interval: std::time::Duration,
    /// How often the worker measures every database's size (short in tests, so storage
    /// quotas react quickly; it walks every database's files on the host).
    pub usage_interval: std::time::Duration,
    /// How often each database's statistics are sampled for its history (short in tests, so
    /// a history has points within seconds).
    pub metrics_interval: std::time::Duration,
    /// When the process exits, replay the read models from the log and verify the chain, and
    /// fail the process (exit 1) on any difference: every test binary then proves that the
    /// state all its scenarios left is a function of the log. See [`audit_at_exit`].
    pub audit_at_exit: bool,
    /// The orphan reconciler's period and grace. A long grace: a short one could judge other
    /// tests' objects mid-flight; its test drives rounds itself.
    pub drift: worker::drift::DriftOptions,
    /// How long the pooler's guard must turn nobody away before its incident is resolved
    /// (see [`crate::pooler_watch`]; short in tests).
    pub pooler_quiet: std::time::Duration,
    /// Run a MariaDB server beside the platform and register it as a tenant host (the
    /// engines suite); off elsewhere, so other test binaries do not pay for it.
    pub mariadb: bool,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        // Tests share 127.0.0.1 and one admin: budgets would only make them flaky. The
        // rate-limit tests set their own.
        let api = api::ApiConfig { credential_budget: None, ip_budget: None, ..api::ApiConfig::default() };
        Self {
            api,
            max_attempts: 3,
            backoff_base: std::time::Duration::from_millis(50),
            watchdog_interval: std::time::Duration::from_millis(250),
            lock_table_interval: std::time::Duration::from_millis(250),
            usage_interval: std::time::Duration::from_millis(500),
            metrics_interval: std::time::Duration::from_secs(1),
            audit_at_exit: true,
            // Rounds every second beside every test (no grace passes within a run, so they
            // only observe): what exposed the PgBouncer console shared by two tasks at once,
            // and, through the load it adds, the usage loop's panic that ended the worker.
            drift: worker::drift::DriftOptions {
                interval: std::time::Duration::from_secs(1),
                grace: std::time::Duration::from_secs(600),
            },
            pooler_quiet: std::time::Duration::from_secs(2),
            mariadb: false,
        }
    }
}

impl HarnessOptions {
    /// What an operator runs, for benchmarks: the periodic jobs at their production
    /// intervals (a size measurement every 500 ms walks every database's files and would
    /// slow the very `CREATE DATABASE` a benchmark compares against), and the request
    /// budgets on, with room for one client's benchmark traffic, so their cost is counted.
    pub fn benchmark() -> Self {
        let worker = worker::WorkerConfig::new(String::new());
        let budget = Some(api::ratelimit::Budget { rate: 1e9, burst: 1e9 });
        Self {
            api: api::ApiConfig { credential_budget: budget, ip_budget: budget, ..api::ApiConfig::default() },
            max_attempts: worker.max_attempts,
            backoff_base: worker.backoff_base,
            watchdog_interval: worker.watchdog_interval,
            lock_table_interval: worker.lock_table_interval,
            usage_interval: worker.usage_interval,
            metrics_interval: worker.metrics_interval,
            audit_at_exit: false,
            drift: worker.drift,
            pooler_quiet: std::time::Duration::from_secs(60),
            mariadb: false,
        }
    }
}

static OPTIONS: OnceLock<HarnessOptions> = OnceLock::new();

/// Sets the options [`shared`] starts with; false if it had started already.
pub fn configure(opts: HarnessOptions) -> bool {
    OPTIONS.set(opts).is_ok()
}

/// The name of the platform's threads (see [`print_platform_panics`]).
const PLATFORM_THREADS: &str = "berth-platform";

/// The platform's threads inherit the output capture of the test that started them, so a
/// panic there (in a worker loop, say) was printed into that test's captured output and lost
/// when it passed. Their panics go to the real stderr too.
fn print_platform_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name().is_some_and(|n| n.starts_with(PLATFORM_THREADS)) {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "panic on a platform thread of the test harness: {info}");
        }
        previous(info);
    }));
}

pub fn shared() -> &'static Harness {
    HARNESS.get_or_init(|| {
        print_platform_panics();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(PLATFORM_THREADS.into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(PLATFORM_THREADS)
                    .enable_all()
                    .build()
                    .expect("a runtime for the harness");
                rt.block_on(async move {
                    let started = start().await;
                    let failed = started.is_err();
                    let _ = tx.send(started);
                    if !failed {
                        std::future::pending::<()>().await;
                    }
                });
            })
            .expect("spawning the harness thread");
        match rx.recv().expect("the harness thread answers") {
            Ok(h) => h,
            Err(e) => panic!("starting the test harness: {e:#}"),
        }
    })
}

async fn start() -> anyhow::Result<Harness> {
    // As `berth` does: whatever the platform creates is private to its owner.
    crate::modes::restrict_umask();
    let opts = OPTIONS.get_or_init(HarnessOptions::default).clone();
    let platform = testing::shared().await;
    let (_, control_url) = control_database(&platform.control).await?;
    let keyring = Keyring::generate();
    let store = open_store(&control_url, keyring.clone(), 16).await?;
    let host_id = register_local_host(&store, "local", &platform.host).await?;
    let maria = match opts.mariadb {
        false => None,
        true => {
            // Lives as long as the process, like the rest of the platform.
            let server: &'static crate::local::MariaServer =
                Box::leak(Box::new(crate::local::MariaServer::start(&platform.dir.join("mariadb"), false).await?));
            Some((server, crate::platform::register_local_maria(&store, "local-mariadb", server).await?))
        }
    };
    let admin = crate::accounts::bootstrap_user(&store, "admin@berth.test", PlatformRole::Admin).await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut worker = worker::WorkerConfig::new(control_url.clone());
    // Backups go to a directory of the test platform; tests drive the scheduler themselves
    // (with an injected clock) rather than have it act on every test's databases.
    let backups = hostctl::objects::ObjectStoreConfig::Fs { root: platform.dir.join("backups") };
    worker.backups = Some(backups.clone());
    worker.scheduler = false;
    let mut api = opts.api.clone();
    api.backups = Some(backups.clone());
    worker.max_attempts = opts.max_attempts;
    worker.backoff_base = opts.backoff_base;
    worker.backoff_max = std::time::Duration::from_secs(1);
    worker.plans = opts.api.plans.clone();
    worker.usage_interval = opts.usage_interval;
    worker.metrics_interval = opts.metrics_interval;
    worker.watchdog_interval = opts.watchdog_interval;
    worker.lock_table_interval = opts.lock_table_interval;
    worker.drift = opts.drift;
    if api.metrics.is_none() {
        api.metrics = Some(crate::metrics::install());
    }
    api.ca_pem = platform.host.ca.as_ref().map(|ca| ca.pem().to_owned());
    if let (Some(cert), Some(ca)) = (&platform.host.tls, &platform.host.ca) {
        tokio::spawn(crate::tls::keep_fresh(cert.clone(), ca.clone(), store.clone(), crate::tls::LOOK_EVERY));
    }
    tokio::spawn(crate::pooler_watch::run(&platform.host.bouncer, store.clone(), opts.pooler_quiet));
    let services = Services::start(store, listener, Some(api), Some(worker)).await?;
    let api_url = services.api_url.clone();
    // Runs for the life of the process; the servers die with it.
    std::mem::forget(services);
    if opts.audit_at_exit {
        register_exit_audit(&control_url);
    }
    Ok(Harness { platform, api_url, admin_key: admin.key, control_url, keyring, host_id, backups, maria })
}

impl Harness {
    /// A store handle for the calling runtime (pools are tied to the runtime that made them).
    pub fn store(&self) -> Store {
        Store::connect(&self.control_url, 4).expect("control-plane URL parses").with_keyring(self.keyring.clone())
    }

    /// A new user with an account of their own (pro plan), and their API key.
    pub async fn new_user(&self, label: &str) -> anyhow::Result<crate::accounts::Bootstrapped> {
        self.new_user_on(label, domain::Plan::Pro).await
    }

    pub async fn new_user_on(&self, label: &str, plan: domain::Plan) -> anyhow::Result<crate::accounts::Bootstrapped> {
        let email = format!("{label}-{}@berth.test", uuid::Uuid::new_v4().simple());
        crate::accounts::bootstrap_user_on(&self.store(), &email, PlatformRole::User, plan).await
    }
}

/// Where the exit audit looks: the control-plane database of this process's platform.
static EXIT_AUDIT: OnceLock<String> = OnceLock::new();

/// Environment variable that turns the exit audit off (e.g. while iterating on one test).
pub const SKIP_EXIT_AUDIT: &str = "BERTH_SKIP_EXIT_AUDIT";

#[allow(unsafe_code)]
fn register_exit_audit(control_url: &str) {
    if std::env::var_os(SKIP_EXIT_AUDIT).is_some_and(|v| v != "0") || EXIT_AUDIT.set(control_url.to_owned()).is_err() {
        return;
    }
    // SAFETY: registers a plain `extern "C"` function with no arguments, as atexit requires.
    let rc = unsafe { libc::atexit(exit_audit) };
    if rc != 0 {
        tracing::warn!("could not register the exit audit");
    }
}

/// Runs at process exit (after the test harness has printed its results, while the
/// platform's servers, which die with the process, still run): `berth audit replay` and
/// `berth audit verify` against the platform's control-plane database. On a difference, a
/// broken chain or an audit that cannot run, prints why and ends the process with exit code 1,
/// so `cargo test` (and `scripts/test`) fails the binary.
#[allow(unsafe_code)]
extern "C" fn exit_audit() {
    let Some(url) = EXIT_AUDIT.get() else { return };
    let verdict =
        std::panic::catch_unwind(|| audit_at_exit(url)).unwrap_or_else(|_| Err("the exit audit panicked".into()));
    match verdict {
        Ok(summary) => eprintln!("exit audit of this test binary's platform: {summary}"),
        Err(why) => {
            eprintln!("exit audit of this test binary's platform FAILED:\n{why}");
            // SAFETY: ends the process at once; exit() must not be called again from an
            // atexit handler.
            unsafe { libc::_exit(1) }
        }
    }
}

/// Replays and verifies the control-plane database at `url`; Ok(summary) when both pass.
pub fn audit_at_exit(url: &str) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime for the exit audit: {e}"))?;
    rt.block_on(async {
        let run = async {
            let store = Store::connect(url, 2)?;
            let mut replayed = Vec::new();
            let replay_ok = crate::audit::replay(&store, &mut replayed).await?;
            let mut verified = Vec::new();
            let verify_ok = crate::audit::verify(&store, None, &mut verified).await?;
            anyhow::Ok((replay_ok && verify_ok, replayed, verified))
        };
        match tokio::time::timeout(std::time::Duration::from_secs(300), run).await {
            Err(_) => Err("the audit did not finish within 5 minutes".to_owned()),
            Ok(Err(e)) => Err(format!("the audit could not run: {e:#}")),
            Ok(Ok((ok, replayed, verified))) => {
                let text = format!("{}{}", String::from_utf8_lossy(&replayed), String::from_utf8_lossy(&verified));
                if ok {
                    let first = text.lines().next().unwrap_or_default();
                    Ok(format!("{first}; read models match the log; chain intact"))
                } else {
                    Err(text)
                }
            }
        }
    })
}
