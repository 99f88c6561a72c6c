//! Samples how every tenant database is doing (transactions, the tenant's statements and
//! their time, sessions, size — `hostctl::observe`) once per interval, so its observability
//! page shows the past day and not only what was read while a page was open. Samples older
//! than the retention are forgotten at each round: a database keeps at most retention ÷
//! interval of them.

use std::time::Duration;

use chrono::Utc;
use eventstore::samples::Sample;
use eventstore::Store;
use hostctl::Hosts;
use tokio::sync::watch;

/// Samples every host's live databases once.
pub async fn sample(store: &Store, hosts: &Hosts) -> anyhow::Result<()> {
    for (conn, dbs) in crate::hosts::with_live_postgres_databases(hosts, store, "sample the host's databases").await? {
        let names: Vec<String> = dbs.iter().map(|(_, n)| n.clone()).collect();
        let at = Utc::now();
        let counters = match conn.database_counters(&names).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(host = %conn.spec.name, error = %e, "sampling the host's databases failed");
                continue;
            }
        };
        let samples: Vec<_> = dbs
            .iter()
            .filter_map(|(id, name)| {
                let c = counters.iter().find(|c| &c.name == name)?;
                Some((
                    *id,
                    Sample {
                        at,
                        transactions: c.transactions,
                        calls: c.calls,
                        exec_ms: c.exec_ms,
                        active_connections: c.active_connections,
                        size_bytes: c.size_bytes,
                    },
                ))
            })
            .collect();
        store.record_samples(&samples).await?;
    }
    Ok(())
}

pub async fn run(
    store: Store,
    hosts: Hosts,
    every: Duration,
    retention: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = sample(&store, &hosts).await {
            tracing::warn!(error = %e, "sampling databases failed");
        }
        let before = Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(1));
        if let Err(e) = store.prune_samples(before).await {
            tracing::warn!(error = %e, "forgetting old database samples failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
