//! The control-plane side of the tenant-host adapters. `hostctl` takes data and returns
//! outcomes; this module reads what it needs from the store (a host's address and
//! credentials, what its PgBouncer must serve) and records what comes back (the snapshot a
//! PgBouncer sync rendered from, an incident when a RELOAD did not take). Every caller that
//! holds a store — jobs, reconcilers, the watchdog, `berth`'s supervisor, the tests — reaches
//! a host through here.

use std::sync::Arc;

use domain::{Engine, HostId, PlanQuotas};
use eventstore::incidents::IncidentReport;
use eventstore::{Store, StoreError};
use hostctl::sync::{BouncerPool, BouncerState, Synced};
use hostctl::{HostConn, HostCredentials, HostError, Hosts, TenantEngine};

use crate::queue::JobError;

/// Why reaching a host, or a step on it, failed.
#[derive(Debug, thiserror::Error)]
pub enum TenantHostError {
    /// The control plane did not answer or does not know the host (worth retrying).
    #[error("control plane: {0}")]
    Store(#[from] StoreError),
    /// The vault cannot give a credential: retrying cannot help.
    #[error("secret {id}: {source}")]
    Secret {
        id: String,
        #[source]
        source: StoreError,
    },
    /// A credential in the vault is not text: retrying cannot help.
    #[error("secret {id} is not text")]
    SecretNotText {
        id: String,
        #[source]
        source: std::string::FromUtf8Error,
    },
    /// The host itself (see [`HostError`]).
    #[error(transparent)]
    Host(#[from] HostError),
}

impl TenantHostError {
    /// Retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Store(_) => false,
            Self::Secret { .. } | Self::SecretNotText { .. } => true,
            Self::Host(e) => e.is_permanent(),
        }
    }
}

/// A job's attempt that failed on a host: retried unless retrying cannot help.
impl From<HostError> for JobError {
    fn from(e: HostError) -> Self {
        if e.is_permanent() {
            JobError::abort_from(e.to_string(), e)
        } else {
            JobError::retry_from(e.to_string(), e)
        }
    }
}

impl From<TenantHostError> for JobError {
    fn from(e: TenantHostError) -> Self {
        match e {
            TenantHostError::Host(e) => e.into(),
            e if e.is_permanent() => JobError::abort_from(e.to_string(), e),
            e => JobError::retry_from(e.to_string(), e),
        }
    }
}

/// A text secret from the vault.
pub async fn secret_string(store: &Store, id: &str) -> Result<String, TenantHostError> {
    let bytes = store.get_secret(id).await.map_err(|source| TenantHostError::Secret { id: id.to_owned(), source })?;
    String::from_utf8(bytes).map_err(|source| TenantHostError::SecretNotText { id: id.to_owned(), source })
}

/// Live databases (id, name) of a host.
pub type LiveDatabases = Vec<(domain::DatabaseId, String)>;

/// Every host (of every engine) with live databases, its adapter opened, with those
/// databases; a host that cannot be opened is logged (`what` we could not do there) and
/// left out.
pub async fn with_live_databases(
    hosts: &Hosts,
    store: &Store,
    what: &str,
) -> Result<Vec<(Arc<dyn TenantEngine>, LiveDatabases)>, StoreError> {
    let mut out = Vec::new();
    for host in store.hosts().await? {
        let dbs = store.host_databases(host.id).await?;
        if dbs.is_empty() {
            continue;
        }
        match engine(hosts, store, host.id).await {
            Ok(conn) => out.push((conn, dbs)),
            Err(e) => tracing::warn!(host = %host.name, error = %e, "cannot {what}"),
        }
    }
    Ok(out)
}

/// [`with_live_databases`] for PostgreSQL hosts only: what reads PostgreSQL's own
/// statistics (the samples behind the charts).
pub async fn with_live_postgres_databases(
    hosts: &Hosts,
    store: &Store,
    what: &str,
) -> Result<Vec<(HostConn, LiveDatabases)>, StoreError> {
    let mut out = Vec::new();
    for host in store.hosts().await?.into_iter().filter(|h| h.engine == Engine::Postgres) {
        let dbs = store.host_databases(host.id).await?;
        if dbs.is_empty() {
            continue;
        }
        match open(hosts, store, host.id).await {
            Ok(conn) => out.push((conn, dbs)),
            Err(e) => tracing::warn!(host = %host.name, error = %e, "cannot {what}"),
        }
    }
    Ok(out)
}

/// The adapter of host `id`'s engine (`hostctl::Hosts::engine`): what every job step that
/// works for every engine goes through.
pub async fn engine(hosts: &Hosts, store: &Store, id: HostId) -> Result<Arc<dyn TenantEngine>, TenantHostError> {
    let (spec, credentials) = spec_and_credentials(store, id).await?;
    Ok(hosts.engine(spec, credentials).await?)
}

async fn spec_and_credentials(
    store: &Store,
    id: HostId,
) -> Result<(domain::TenantHost, HostCredentials), TenantHostError> {
    // Three independent reads: one round trip of latency instead of three.
    let (admin_id, superuser_id) = (hostctl::host::admin_secret_id(id), hostctl::host::superuser_secret_id(id));
    let (spec, admin_password, superuser_password) = tokio::try_join!(
        async { Ok::<_, TenantHostError>(store.host(id).await?) },
        secret_string(store, &admin_id),
        secret_string(store, &superuser_id),
    )?;
    Ok((spec, HostCredentials { superuser_password, admin_password }))
}

/// The PostgreSQL connection to host `id` (its pool made on first use by `hosts`), for
/// what only a PostgreSQL host has (PgBouncer's console, pg_locks, role drift); another
/// engine's host is an error that retrying cannot help.
pub async fn open(hosts: &Hosts, store: &Store, id: HostId) -> Result<HostConn, TenantHostError> {
    let (spec, credentials) = spec_and_credentials(store, id).await?;
    if spec.engine != Engine::Postgres {
        let e = format!("host {} serves {}, not PostgreSQL", spec.name, spec.engine.as_str());
        return Err(HostError::Permanent(e).into());
    }
    Ok(hosts.get(spec, credentials).await?)
}

/// What the PgBouncer of `host` must serve, as the store holds it now: live pools with their
/// plans' caps, database users' logins, allowlists, and the pools of stopped databases.
pub async fn bouncer_state(store: &Store, plans: &PlanQuotas, host: HostId) -> Result<BouncerState, StoreError> {
    // Five independent reads: one round trip of latency instead of five.
    let (pools, users, mut allowlists, closed, forwarders) = tokio::try_join!(
        store.host_pools(host),
        store.host_user_verifiers(host),
        store.host_allowlists(host),
        store.host_closed_pools(host),
        store.host_forwarders(host),
    )?;
    let pools = pools
        .into_iter()
        .map(|p| BouncerPool {
            max_db_connections: plans.of(p.plan).server_connections,
            name: p.name,
            verifier: p.verifier,
            forward_to: p.forward_to,
        })
        .collect();
    admit_forwarders(&mut allowlists, forwarders);
    let users = users.into_iter().map(|(user, secret)| hostctl::pgbouncer::AuthEntry { user, secret }).collect();
    Ok(BouncerState { pools, users, allowlists, closed })
}

/// A database moved here keeps its allowlist at the poolers that forward its old clients
/// here (the clients' addresses are checked there); those poolers come from their own
/// address, so this host's allowlist admits each of them too. An address that is a name, not
/// an IP, cannot be written as a network: its forwarded clients are refused (fail closed).
fn admit_forwarders(
    allowlists: &mut [(domain::DatabaseName, Vec<domain::Cidr>)],
    forwarders: Vec<(domain::DatabaseName, String)>,
) {
    for (name, address) in forwarders {
        let Some((_, cidrs)) = allowlists.iter_mut().find(|(n, _)| *n == name) else { continue };
        let ip = match address.as_str() {
            "localhost" => Some(std::net::IpAddr::from([127, 0, 0, 1])),
            other => other.parse::<std::net::IpAddr>().ok(),
        };
        match ip.and_then(|ip| domain::Cidr::parse(&ip.to_string()).ok()) {
            Some(cidr) if !cidrs.contains(&cidr) => cidrs.push(cidr),
            Some(_) => {}
            None => {
                tracing::warn!(database = %name, %address, "a forwarding pooler's address is not an IP; its clients are refused")
            }
        }
    }
}

/// Makes the host's PgBouncer serve exactly what the control plane held when this was
/// called (or later): its pools, logins and HBA rules, and DISABLE on stopped databases.
/// Returns without rendering when a sync that began after the call has done it.
pub async fn sync_bouncer(store: &Store, plans: &PlanQuotas, conn: &dyn TenantEngine) -> Result<(), TenantHostError> {
    sync_bouncer_reporting(store, plans, conn).await.map(|_| ())
}

/// [`sync_bouncer`], saying whether this call rendered. The coalescing is described in
/// `hostctl::sync`; the steps on the control plane are here.
pub async fn sync_bouncer_reporting(
    store: &Store,
    plans: &PlanQuotas,
    conn: &dyn TenantEngine,
) -> Result<Synced, TenantHostError> {
    let host = conn.host().id;
    // Both taken after whatever the caller committed.
    let asked = store.snapshot_xmax().await?;
    let Some(turn) = conn.ask_front_door_sync().turn().await else { return Ok(Synced::Covered) };
    let _mutex = store.host_mutex(host.uuid()).await?;
    if store.bouncer_synced_xmin(host).await? > asked {
        return Ok(turn.covered());
    }
    let render = turn.begin();
    // Before reading anything: what is committed below it is in this render.
    let xmin = store.snapshot_xmin().await?;
    let state = bouncer_state(store, plans, host).await?;
    if let Err(e) = conn.apply_front_door(&state).await {
        if matches!(e, HostError::ReloadNotTaken(_)) {
            reload_incident(store, conn, &e).await;
        }
        return Err(e.into());
    }
    store.record_bouncer_sync(host, xmin).await?;
    Ok(render.finish())
}

/// A RELOAD that did not take (its HBA file was put back) is for an operator to look at.
async fn reload_incident(store: &Store, conn: &dyn TenantEngine, error: &HostError) {
    let resource = conn.host().id.to_string();
    let summary = format!("PgBouncer reload on host {} did not take: {error}", conn.host().name);
    let report = IncidentReport {
        kind: "pgbouncer_reload_failed",
        severity: "error",
        resource_type: "host",
        resource_id: &resource,
        summary: &summary,
    };
    if let Err(e) = store.report_incident(&report).await {
        tracing::error!(error = %e, "could not open an incident");
    }
}

/// The names of the host's PgBouncer files that differ from what the store renders.
pub async fn stale_bouncer_files(
    store: &Store,
    plans: &PlanQuotas,
    conn: &HostConn,
) -> Result<Vec<&'static str>, TenantHostError> {
    // The files first, the store after: a change between the two is in the render.
    let on_disk = conn.bouncer_files().await?;
    let state = bouncer_state(store, plans, conn.spec.id).await?;
    Ok(conn.stale_bouncer_files(&on_disk, &state)?)
}
