//! The watchdog: every `interval` it probes each registered tenant host (its PostgreSQL and
//! its PgBouncer admin console), opens or bumps a `host_unreachable` incident for a host that
//! does not answer and resolves it once the host answers again, and refreshes the gauges
//! that need a query (open incidents, queue depth, consumer lag, host reachability).
//!
//! Every worker process runs one: probing is read-only and reporting an incident is an
//! upsert, so replicas agree rather than duplicate.

use std::time::Duration;

use domain::TenantHost;
use eventstore::incidents::{kinds, IncidentReport};
use eventstore::Store;
use hostctl::Hosts;
use tokio::sync::watch;

/// How long one probe may take before the host counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The consumers whose lag is reported.
const CONSUMERS: &[&str] = &[crate::dispatch::CONSUMER, eventstore::audit::CONSUMER];

pub async fn run(
    store: Store,
    hosts: Hosts,
    queue: crate::Lanes,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        check_hosts(&store, &hosts).await;
        refresh_gauges(&store, &queue).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// Probes every host once, all at once (one slow host must not delay the verdict on the
/// others), and records what it saw.
pub async fn check_hosts(store: &Store, hosts: &Hosts) {
    let rows = match store.hosts().await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "watchdog cannot list hosts");
            return;
        }
    };
    futures::future::join_all(rows.iter().map(|row| check_host(store, hosts, row))).await;
}

async fn check_host(store: &Store, hosts: &Hosts, row: &TenantHost) {
    let resource = row.id.to_string();
    let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe(store, hosts, row)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
    };
    metrics::gauge!("berth_host_reachable", "host" => row.name.clone()).set(if outcome.is_ok() { 1.0 } else { 0.0 });
    // What the admins' host list shows, and what marks its databases unavailable.
    let facts = outcome.as_ref().ok();
    let status = store
        .record_host_status(
            row.id,
            outcome.is_ok(),
            facts.map(|f| f.version.as_str()),
            facts.and_then(|f| f.free_bytes),
            chrono::Utc::now(),
        )
        .await;
    if let Err(e) = status {
        tracing::warn!(error = ?e, host = %row.name, "watchdog cannot record the host's status");
    }
    let recorded = match outcome {
        Ok(_) => store.resolve_incident(kinds::HOST_UNREACHABLE, &resource).await.map(|resolved| {
            if resolved {
                tracing::info!(host = %row.name, "tenant host reachable again; incident resolved");
            }
        }),
        Err(why) => {
            tracing::warn!(host = %row.name, error = %why, "tenant host unreachable");
            let summary = format!("tenant host {} is unreachable: {why}", row.name);
            let report = IncidentReport {
                kind: kinds::HOST_UNREACHABLE,
                severity: "critical",
                resource_type: "host",
                resource_id: &resource,
                summary: &summary,
            };
            store.report_incident(&report).await.map(|_| ())
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "watchdog cannot record what it saw");
    }
}

/// The server answers with its version (PostgreSQL as superuser), and PgBouncer's admin
/// console answers.
async fn probe(store: &Store, hosts: &Hosts, row: &TenantHost) -> Result<hostctl::HostFacts, String> {
    use hostctl::TenantEngine;
    if row.engine != domain::Engine::Postgres {
        // No pooler: the server answering is the whole front door.
        let engine = crate::hosts::engine(hosts, store, row.id).await.map_err(|e| e.to_string())?;
        return engine.facts().await.map_err(|e| format!("{}: {e}", row.engine.as_str()));
    }
    let conn = crate::hosts::open(hosts, store, row.id).await.map_err(|e| e.to_string())?;
    let facts = conn.facts().await.map_err(|e| format!("postgresql: {e}"))?;
    let admin = conn.connect_admin().await.map_err(|e| format!("pgbouncer: {e}"))?;
    admin.simple_query("SHOW VERSION").await.map_err(|e| format!("pgbouncer: {e}"))?;
    Ok(facts)
}

async fn refresh_gauges(store: &Store, queue: &crate::Lanes) {
    match store.open_incident_counts().await {
        Ok(counts) => {
            for kind in [
                kinds::PROVISIONING_FAILED,
                kinds::JOB_FAILED,
                kinds::BACKUP_FAILED,
                kinds::BACKUP_STALE,
                kinds::HOST_UNREACHABLE,
                kinds::API_ERRORS,
                kinds::OPERATION_STUCK,
                kinds::LOCKS_OVER_SHARE,
                kinds::NO_CAPACITY,
                kinds::TLS_CERTIFICATE,
            ] {
                let n = counts.iter().find(|(k, _)| k == kind).map(|(_, n)| *n).unwrap_or(0);
                metrics::gauge!("berth_incidents_open", "kind" => kind).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "watchdog cannot count incidents"),
    }
    for queue in queue.all() {
        match queue.depth().await {
            Ok(n) => metrics::gauge!("berth_queue_depth", "queue" => queue.name().to_owned()).set(n as f64),
            Err(e) => tracing::warn!(error = %e, "watchdog cannot read the queue depth"),
        }
    }
    for consumer in CONSUMERS {
        match store.consumer_lag(consumer).await {
            Ok(n) => metrics::gauge!("berth_consumer_lag_events", "consumer" => *consumer).set(n as f64),
            Err(e) => tracing::warn!(error = %e, "watchdog cannot read consumer lag"),
        }
    }
}
