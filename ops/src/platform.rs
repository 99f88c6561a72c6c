//! Assembling a platform from parts: the control-plane store, registered tenant hosts, and
//! the API and worker services. `berth up`, the split commands and the tests all use this.

use std::net::TcpListener;

use control::hosts::HostSecret;
use domain::{HostId, HostRegistration};
use eventstore::Store;
use tokio::sync::watch;

use crate::local::{LocalHost, MariaServer, PgCluster};

/// Connects to the control plane and applies migrations.
pub async fn open_store(dsn: &str, keyring: eventstore::vault::Keyring, pool: usize) -> anyhow::Result<Store> {
    let store = Store::connect(dsn, pool)?.with_keyring(keyring);
    store.migrate().await?;
    Ok(store)
}

/// [`open_store`] with the platform keys from the key file at `key_file`, followed as it is
/// rotated (or from `BERTH_MASTER_KEY`, fixed).
pub async fn open_store_with_key_file(dsn: &str, key_file: &std::path::Path, pool: usize) -> anyhow::Result<Store> {
    let (ring, source) = crate::keyfile::open(key_file)?;
    let store = match source {
        Some(source) => Store::connect(dsn, pool)?.with_key_source(ring, source),
        None => Store::connect(dsn, pool)?.with_keyring(ring),
    };
    store.migrate().await?;
    Ok(store)
}

/// The control-plane database of a local platform: `berth` in the control cluster.
pub async fn control_database(cluster: &PgCluster) -> anyhow::Result<(String, String)> {
    cluster.create_database_if_missing("berth").await?;
    Ok((cluster.dsn("berth"), cluster.url("berth")))
}

/// Registers a local tenant host under `name` unless it is registered already; its
/// credentials go to the vault, not into the event. The control plane reaches its
/// PostgreSQL through the Unix socket (the only way in for tenant roles, see
/// `pgconf::render_hba`); a host registered by an older Berth, at a TCP address, is moved
/// there. Tenants may not connect to the maintenance databases.
pub async fn register_local_host(store: &Store, name: &str, host: &LocalHost) -> anyhow::Result<HostId> {
    register_local_host_in(store, name, (domain::DEFAULT_REGION, LOCAL_CAPACITY), host).await
}

/// How many databases a local host takes.
pub const LOCAL_CAPACITY: u32 = 10_000;

/// [`register_local_host`] with its placement region and capacity.
pub async fn register_local_host_in(
    store: &Store,
    name: &str,
    (region, capacity): (&str, u32),
    host: &LocalHost,
) -> anyhow::Result<HostId> {
    close_maintenance_databases(&host.pg).await?;
    let socket_dir = host.pg.socket_dir().display().to_string();
    if let Some(existing) = store.hosts().await?.into_iter().find(|h| h.name == name) {
        // Ports may differ from the last run; credentials never do. Re-registering a moved
        // host is future work: say so rather than act on stale addresses.
        anyhow::ensure!(
            existing.pg_port == host.pg.port() && existing.bouncer_port == host.bouncer.port(),
            "host {name} is registered with other ports ({}/{}) than it now has ({}/{})",
            existing.pg_port,
            existing.bouncer_port,
            host.pg.port(),
            host.bouncer.port()
        );
        if existing.pg_host != socket_dir {
            control::hosts::change_address(store, existing.id, socket_dir).await?;
        }
        return Ok(existing.id);
    }
    let id = HostId::new();
    let secrets = vec![
        HostSecret {
            id: hostctl::host::superuser_secret_id(id),
            plaintext: host.pg.superuser_password().as_bytes().to_vec(),
        },
        HostSecret {
            id: hostctl::host::admin_secret_id(id),
            plaintext: host.bouncer.admin_password().as_bytes().to_vec(),
        },
    ];
    let registration = HostRegistration {
        name: name.to_owned(),
        pg_host: socket_dir,
        pg_port: host.pg.port(),
        superuser: host.pg.superuser().to_owned(),
        bouncer_host: host.bouncer.host().to_owned(),
        bouncer_port: host.bouncer.port(),
        admin_user: host.bouncer.admin_user().to_owned(),
        config_dir: host.bouncer.config_dir().display().to_string(),
        capacity,
        engine: domain::Engine::Postgres,
        region: region.to_owned(),
    };
    control::hosts::register(store, id, registration, secrets).await?;
    Ok(id)
}

/// Registers the local MariaDB server as tenant host `name` unless it is registered already
/// (its admin password goes to the vault). The control plane reaches it on its Unix socket;
/// tenants on its TCP port.
pub async fn register_local_maria(store: &Store, name: &str, server: &MariaServer) -> anyhow::Result<HostId> {
    let socket = server.socket().display().to_string();
    if let Some(existing) = store.hosts().await?.into_iter().find(|h| h.name == name) {
        anyhow::ensure!(
            existing.engine == domain::Engine::MariaDb && existing.bouncer_port == server.port(),
            "host {name} is registered as {} on port {} but the MariaDB server now listens on {}",
            existing.engine.as_str(),
            existing.bouncer_port,
            server.port()
        );
        if existing.pg_host != socket {
            control::hosts::change_address(store, existing.id, socket).await?;
        }
        return Ok(existing.id);
    }
    let id = HostId::new();
    let password = server.admin_password().as_bytes().to_vec();
    let secrets = vec![
        HostSecret { id: hostctl::host::superuser_secret_id(id), plaintext: password.clone() },
        // No pooler: the second credential of a host is the same account's.
        HostSecret { id: hostctl::host::admin_secret_id(id), plaintext: password },
    ];
    let registration = HostRegistration {
        name: name.to_owned(),
        pg_host: socket,
        pg_port: server.port(),
        superuser: server.admin_user().to_owned(),
        bouncer_host: server.host().to_owned(),
        bouncer_port: server.port(),
        admin_user: String::new(),
        config_dir: server.dir().display().to_string(),
        capacity: LOCAL_CAPACITY,
        engine: domain::Engine::MariaDb,
        region: domain::DEFAULT_REGION.into(),
    };
    control::hosts::register(store, id, registration, secrets).await?;
    Ok(id)
}

/// The API and the workers, running until `stop` is called.
pub struct Services {
    pub api_url: String,
    shutdown: watch::Sender<bool>,
    server: actix_web::dev::ServerHandle,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Services {
    pub async fn start(
        store: Store,
        listener: TcpListener,
        api: Option<api::ApiConfig>,
        worker: Option<worker::WorkerConfig>,
    ) -> anyhow::Result<Self> {
        let (shutdown, rx) = watch::channel(false);
        let addr = listener.local_addr()?;
        let scheme = if api.as_ref().is_some_and(|a| a.tls.is_some()) { "https" } else { "http" };
        let mut tasks = Vec::new();
        let server = match api {
            Some(config) => {
                let server = api::server(store.clone(), config, listener).await?;
                let handle = server.handle();
                tasks.push(tokio::spawn(async move { Ok(server.await?) }));
                Some(handle)
            }
            None => None,
        };
        if let Some(config) = worker {
            let store = store.clone();
            tasks.push(tokio::spawn(worker::run(store, config, rx)));
        }
        let server = server.ok_or_else(|| anyhow::anyhow!("services without an API are not supported here"))?;
        Ok(Self { api_url: format!("{scheme}://{addr}"), shutdown, server, tasks })
    }

    /// Waits until one of the services ends by itself (none should before `stop`), and says
    /// how. Pending for ever when there is none.
    pub async fn first_to_end(&mut self) -> String {
        if self.tasks.is_empty() {
            return std::future::pending().await;
        }
        let (ended, index, _) = futures::future::select_all(self.tasks.iter_mut()).await;
        self.tasks.remove(index);
        match ended {
            Ok(Ok(())) => "it returned".to_owned(),
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) => format!("it panicked: {e}"),
        }
    }

    /// Stops the API (finishing requests in flight) and the workers (releasing their jobs).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.server.stop(true).await;
        for t in self.tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "service ended with an error"),
                Err(e) => tracing::warn!(error = %e, "service task panicked"),
            }
        }
    }
}

/// Nobody but the superuser may connect to `postgres` and `template1`: PUBLIC keeps `CONNECT`
/// there by default, which would let every tenant role in (and plant objects where the
/// platform's own superuser sessions run). Idempotent.
async fn close_maintenance_databases(pg: &PgCluster) -> anyhow::Result<()> {
    let client = crate::local::connect(&pg.dsn("postgres")).await?;
    client.batch_execute("REVOKE CONNECT, TEMPORARY ON DATABASE postgres, template1 FROM PUBLIC").await?;
    Ok(())
}

/// The API's configuration from `config`, serving HTTPS when `tls_cert`/`tls_key` are set
/// (their files watched for renewal, failures as incidents through `store`).
pub fn api_with_tls(config: &crate::config::Config, store: &Store) -> anyhow::Result<api::ApiConfig> {
    let mut api = config.api();
    if let Some(cert) = config.api_tls()? {
        api.tls = Some(cert.server_config());
        tokio::spawn(crate::api_tls::watch(cert, store.clone(), crate::api_tls::LOOK_EVERY));
    }
    Ok(api)
}
