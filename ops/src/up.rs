//! `berth up`: the whole platform on this machine, in the foreground.

use std::net::TcpListener;
use std::path::Path;

use anyhow::Context;
use domain::PlatformRole;

use crate::config::Config;
use crate::local::{ClusterOptions, LocalHost, LocalHostOptions, MariaServer, PgCluster};
use crate::platform::{
    control_database, open_store_with_key_file, register_local_host, register_local_maria, Services,
};
use crate::{accounts, keyfile};

/// Binds `listen`; with port 0, reuses the port of the last run when it is free.
pub fn bind(listen: &str, remember: &Path) -> anyhow::Result<TcpListener> {
    let addr: std::net::SocketAddr = listen.parse().with_context(|| format!("listen address {listen}"))?;
    if addr.port() == 0 {
        if let Some(port) = std::fs::read_to_string(remember).ok().and_then(|s| s.trim().parse::<u16>().ok()) {
            if let Ok(l) = TcpListener::bind((addr.ip(), port)) {
                return Ok(l);
            }
        }
    }
    let l = TcpListener::bind(addr).with_context(|| format!("binding {listen}"))?;
    std::fs::write(remember, l.local_addr()?.port().to_string())?;
    Ok(l)
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    // Tenant data and secrets live here: nothing in it may be readable by other users.
    crate::modes::protect_data_dir(&dir)?;
    // Created (mode 0600) on the first run, before anything needs it.
    keyfile::load_or_create(&config.key_file())?;
    eprintln!("starting control plane and tenant host under {}", dir.display());
    let control = PgCluster::start(&dir.join("control"), &ClusterOptions::default()).await?;
    // The platform's CA, kept across restarts: clients that trust it keep trusting us.
    let ca = match crate::tls::Ca::load_or_create(&crate::tls::ca_dir(&dir)) {
        Ok(ca) => std::sync::Arc::new(ca),
        Err(e) => {
            let _ = control.stop();
            return Err(e.context("the platform's certificate authority"));
        }
    };
    let host_opts = LocalHostOptions { ca: Some(ca), ..LocalHostOptions::default() };
    let host = match LocalHost::start(&dir.join("hosts/local"), &host_opts).await {
        Ok(h) => h,
        Err(e) => {
            let _ = control.stop();
            return Err(e);
        }
    };
    let maria = match config.mariadb() {
        Ok(false) => Ok(None),
        Ok(true) => MariaServer::start(&dir.join("hosts/mariadb"), true).await.map(Some),
        Err(e) => Err(e),
    };
    let maria = match maria {
        Ok(m) => m,
        Err(e) => {
            let _ = host.stop();
            let _ = control.stop();
            return Err(e.context("starting the MariaDB tenant host"));
        }
    };
    let result = serve(&config, &dir, &control, &host, maria.as_ref()).await;
    eprintln!("stopping tenant hosts and control plane");
    if let Some(m) = &maria {
        if let Err(e) = m.stop() {
            eprintln!("stopping the MariaDB server: {e:#}");
        }
    }
    if let Err(e) = host.stop() {
        eprintln!("stopping tenant host: {e:#}");
    }
    if let Err(e) = control.stop() {
        eprintln!("stopping control plane: {e:#}");
    }
    result
}

async fn serve(
    config: &Config,
    dir: &Path,
    control: &PgCluster,
    host: &LocalHost,
    maria: Option<&MariaServer>,
) -> anyhow::Result<()> {
    let (dsn, url) = control_database(control).await?;
    let store = open_store_with_key_file(&url, &config.key_file(), config.store_pool).await?;
    let released = release_jobs_of_dead_runs(&dsn).await?;
    if released > 0 {
        eprintln!("queued again {released} job(s) that the previous run left unfinished");
    }
    let host_id = register_local_host(&store, "local", host).await?;
    if let Some(m) = maria {
        register_local_maria(&store, "local-mariadb", m).await?;
    }
    let first_key = if accounts::is_fresh(&store).await? {
        let max_keys = config.limits.api_keys_per_account;
        Some(accounts::bootstrap_user_limited(&store, "admin@localhost", PlatformRole::Admin, max_keys).await?.key)
    } else {
        None
    };
    let listener = bind(&config.listen, &dir.join("api.port"))?;
    let mut worker = config.worker(url);
    // berth up owns its data dir: no other process writes into its backup store, so every
    // temporary file there at start is a dead attempt's.
    worker.stale_tmp_grace = std::time::Duration::ZERO;
    let supervised = crate::supervise::Supervised {
        control,
        host,
        maria,
        store: store.clone(),
        host_id,
        plans: config.plans.clone(),
    };
    let watched = store.clone();
    let mut api = crate::platform::api_with_tls(config, &store)?;
    api.ca_pem = host.ca.as_ref().map(|ca| ca.pem().to_owned());
    if let (Some(cert), Some(ca)) = (&host.tls, &host.ca) {
        tokio::spawn(crate::tls::keep_fresh(cert.clone(), ca.clone(), store.clone(), crate::tls::LOOK_EVERY));
    }
    let services = Services::start(store, listener, Some(api), Some(worker)).await?;
    wait_healthy(&services.api_url).await?;
    println!("api: {}", services.api_url);
    if let Some(addr) = crate::metrics::serve_separately(config.metrics_listen.as_deref())? {
        println!("metrics: http://{addr}/metrics");
    }
    if let Some(key) = first_key {
        println!("admin api key: {key}");
    }
    // After the key line, which scripts expect right after `api:`.
    println!("dashboard: {}/", services.api_url);
    let mut services = services;
    let ended = tokio::select! {
        _ = wait_for_signal() => None,
        ended = services.first_to_end() => Some(ended),
        // A server that cannot be brought back: exit non-zero (see `supervise`).
        gave_up = supervised.run() => Some(format!("{gave_up:#}")),
        () = crate::pooler_watch::run(&supervised.host.bouncer, watched, POOLER_QUIET) => None,
    };
    eprintln!("shutting down");
    services.stop().await;
    // A service that ends on its own leaves the platform half-working (an API whose jobs
    // never run): exit non-zero so that whatever runs `berth up` starts it again.
    match ended {
        None => Ok(()),
        Some(why) => Err(anyhow::anyhow!("a service ended by itself: {why}")),
    }
}

/// berth up owns its control plane: no other process runs its workers, so every job a
/// previous run had taken (`Running`, or fetched and `Queued` under its worker) died with it.
/// Those go back to `Pending` now, before this run's workers register, instead of after the
/// queue's orphan timeout (60 s, which must allow for live workers of split deployments).
/// Like the orphan path, it counts an attempt for the run that died.
pub async fn release_jobs_of_dead_runs(dsn: &str) -> anyhow::Result<u64> {
    let client = crate::local::connect(dsn).await?;
    let exists: bool = client.query_one("select to_regclass('apalis.jobs') is not null", &[]).await?.get(0);
    if !exists {
        return Ok(0);
    }
    let n = client
        .execute(
            "update apalis.jobs set status = 'Pending', done_at = null, lock_by = null, lock_at = null, \
             attempts = attempts + 1, last_result = '{\"Err\": \"Re-enqueued: the platform restarted.\"}' \
             where status in ('Running', 'Queued') and lock_by is not null",
            &[],
        )
        .await?;
    Ok(n)
}

async fn wait_healthy(base: &str) -> anyhow::Result<()> {
    // Our own listener, probed on loopback with no credential: its certificate (the
    // operator's, for a public name) is not what this checks.
    let client = reqwest::Client::builder().danger_accept_invalid_certs(true).build()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "the API did not become ready at {base}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// How long the pooler's guard must turn nobody away before its incident is resolved.
const POOLER_QUIET: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
