//! `berth`: the user's client (`berth login`, `berth db …`: see `ops::cli`) and the
//! operator's command line (`berth up`, `serve`, `worker`, `migrate`, `admin`, `audit`, `bench`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use domain::PlatformRole;
use ops::config::Config;
use ops::local::{ClusterOptions, PgCluster};
use ops::{accounts, bench, keyfile, platform, up};

#[derive(Parser)]
#[command(name = "berth", version, about = "Berth: a self-hosted control plane for managed PostgreSQL")]
struct Cli {
    /// Operator commands: TOML configuration file (BERTH_* environment variables override it).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Client commands: print the API's `data` as JSON, as it came.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Client(ops::cli::ClientCommand),
    /// Boot (or reuse) the local platform under DATA_DIR and serve until SIGINT/SIGTERM.
    Up {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        listen: Option<String>,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Run only the API against an existing control plane (control_dsn).
    Serve {
        #[arg(long)]
        listen: Option<String>,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Run only the workers and the event dispatcher against an existing control plane.
    Worker,
    /// Apply the control-plane migrations.
    Migrate,
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Audit the event log: replay the read models, verify the hash chain, export.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Benchmarks: our path and its baseline in the same run, with ratios.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create the platform admin if missing and print a new full-access API key.
    Bootstrap {
        #[arg(long)]
        email: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Add a new platform key, re-seal every stored secret under it, retire the old keys.
    /// Safe while the platform runs: its processes follow the key file.
    RotateMasterKey {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Seconds to wait for seals begun before the switch, before the final pass.
        #[arg(long, default_value_t = 2)]
        grace_seconds: u64,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Rebuild every read model from the log into scratch tables and compare it with the live
    /// one, table by table, at one snapshot (exact while the platform writes; pauses nothing);
    /// exit 1 and print the differences if any.
    Replay,
    /// Check the tamper-evident hash chain over the committed order; exit 1 at the first
    /// broken link, or if the chain no longer passes through an anchored head. Prints the
    /// current head: record it outside the database (only an anchor catches a rewrite of
    /// both the log and the chain).
    Verify {
        /// A head hash printed by an earlier verify: the chain must still pass through it.
        #[arg(long, conflicts_with = "expect_head_file")]
        expect_head: Option<String>,
        /// A file holding such a head hash.
        #[arg(long)]
        expect_head_file: Option<PathBuf>,
    },
    /// Write events as JSON lines (an archive for a SIEM or compliance).
    Export {
        /// RFC 3339 time; events at or after it.
        #[arg(long)]
        since: chrono::DateTime<chrono::Utc>,
        /// Only this database's events (`db_…`).
        #[arg(long)]
        database: Option<String>,
    },
}

/// Runs an audit command: exit 0 when all is well, 1 when it found a problem, 2 on error.
/// HTTPS for the API (both, or neither).
#[derive(clap::Args)]
struct TlsArgs {
    /// PEM certificate chain to serve the API over HTTPS (renewed files are picked up).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    fn apply(self, config: &mut Config) {
        if let (Some(cert), Some(key)) = (self.tls_cert, self.tls_key) {
            config.tls_cert = Some(cert);
            config.tls_key = Some(key);
        }
    }
}

async fn audit(config: &Config, command: AuditCommand) -> i32 {
    let run = async {
        let (url, _cluster) = control_url(config).await?;
        let store = eventstore::Store::connect(&url, 2)?;
        let mut out = std::io::stdout();
        match command {
            AuditCommand::Replay => ops::audit::replay(&store, &mut out).await,
            AuditCommand::Verify { expect_head, expect_head_file } => {
                let anchor = match (expect_head, expect_head_file) {
                    (Some(h), _) => Some(ops::audit::parse_head(&h)?),
                    (None, Some(f)) => {
                        let text =
                            std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("reading {}: {e}", f.display()))?;
                        Some(ops::audit::parse_head(&text).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?)
                    }
                    (None, None) => None,
                };
                ops::audit::verify(&store, anchor.as_deref(), &mut out).await
            }
            AuditCommand::Export { since, database } => {
                let database = database
                    .map(|d| domain::DatabaseId::parse(&d))
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("--database: {e}"))?;
                let n = ops::audit::export(&store, since, database, &mut out).await?;
                eprintln!("exported {n} events");
                Ok(true)
            }
        }
    };
    match run.await {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,berth=info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// The control-plane URL: configured, or the local platform's under the data dir.
async fn control_url(config: &Config) -> anyhow::Result<(String, Option<PgCluster>)> {
    if let Some(dsn) = &config.control_dsn {
        return Ok((dsn.clone(), None));
    }
    let cluster = PgCluster::start(&config.data_dir.join("control"), &ClusterOptions::default()).await?;
    let (_, url) = platform::control_database(&cluster).await?;
    Ok((url, Some(cluster)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Before anything is created: files private to their owner (backups, configs, logs).
    ops::modes::restrict_umask();
    init_tracing();
    let mut cmd = ops::cli::help::group(Cli::command());
    let cli = Cli::from_arg_matches(&cmd.clone().get_matches()).unwrap_or_else(|e| e.exit());
    let command = match cli.command {
        Command::Client(ops::cli::ClientCommand::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(clap_complete::Shell::from(shell), &mut cmd, "berth", &mut script);
            use std::io::Write;
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().write_all(&script);
            return Ok(());
        }
        Command::Client(c) => std::process::exit(ops::cli::run(c, cli.json).await),
        other => other,
    };
    let mut config = Config::load(cli.config.as_deref())?;
    match command {
        Command::Client(_) => Ok(()),
        Command::Up { data_dir, listen, tls } => {
            tls.apply(&mut config);
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            if let Some(l) = listen {
                config.listen = l;
            }
            up::run(config).await
        }
        Command::Serve { listen, tls } => {
            tls.apply(&mut config);
            if let Some(l) = listen {
                config.listen = l;
            }
            let dsn = config.control_dsn.clone().context("serve needs control_dsn (BERTH_CONTROL_DSN)")?;
            let store = platform::open_store_with_key_file(&dsn, &config.key_file(), config.store_pool).await?;
            let listener = std::net::TcpListener::bind(&config.listen)?;
            let api = platform::api_with_tls(&config, &store)?;
            let services = platform::Services::start(store, listener, Some(api), None).await?;
            println!("api: {}", services.api_url);
            println!("dashboard: {}/", services.api_url);
            if let Some(addr) = ops::metrics::serve_separately(config.metrics_listen.as_deref())? {
                println!("metrics: http://{addr}/metrics");
            }
            let mut services = services;
            tokio::select! {
                _ = up::wait_for_signal() => {
                    services.stop().await;
                    Ok(())
                }
                why = services.first_to_end() => {
                    services.stop().await;
                    Err(anyhow::anyhow!("the API ended by itself: {why}"))
                }
            }
        }
        Command::Worker => {
            let dsn = config.control_dsn.clone().context("worker needs control_dsn (BERTH_CONTROL_DSN)")?;
            let store = platform::open_store_with_key_file(&dsn, &config.key_file(), config.store_pool).await?;
            if let Some(addr) = ops::metrics::serve_separately(config.metrics_listen.as_deref())? {
                println!("metrics: http://{addr}/metrics");
            } else {
                // A worker has no API listener: record anyway, for a later metrics_listen.
                ops::metrics::install();
            }
            let (tx, rx) = tokio::sync::watch::channel(false);
            let mut work = tokio::spawn(worker::run(store, config.worker(dsn), rx));
            // A worker that ends by itself exits non-zero, for its supervisor to restart it.
            tokio::select! {
                _ = up::wait_for_signal() => {
                    let _ = tx.send(true);
                    work.await?
                }
                ended = &mut work => match ended? {
                    Ok(()) => Err(anyhow::anyhow!("the worker ended by itself")),
                    Err(e) => Err(e.context("the worker ended by itself")),
                },
            }
        }
        Command::Migrate => {
            let (url, cluster) = control_url(&config).await?;
            let store = eventstore::Store::connect(&url, 2)?;
            let n = store.migrate().await?;
            println!("applied {n} migration(s)");
            if let Some(c) = cluster {
                c.stop()?;
            }
            Ok(())
        }
        Command::Admin { command: AdminCommand::Bootstrap { email, data_dir } } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            let (url, _cluster) = control_url(&config).await?;
            let store = platform::open_store(&url, keyfile::load_or_create(&config.key_file())?, 2).await?;
            let max_keys = config.limits.api_keys_per_account;
            let b = accounts::bootstrap_user_limited(&store, &email, PlatformRole::Admin, max_keys).await?;
            if b.created_user {
                eprintln!("created platform admin {email}");
            }
            println!("admin api key: {}", b.key);
            Ok(())
        }
        Command::Audit { command } => std::process::exit(audit(&config, command).await),
        Command::Admin { command: AdminCommand::RotateMasterKey { data_dir, grace_seconds } } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            let (url, _cluster) = control_url(&config).await?;
            let grace = std::time::Duration::from_secs(grace_seconds);
            let r = ops::rotate::rotate_master_key(&config.key_file(), &url, grace).await?;
            println!("active key: {} (re-sealed {} secret(s); retired {:?})", r.new_key, r.resealed, r.retired);
            Ok(())
        }
        Command::Bench { command } => bench::run(command).await,
    }
}
