//! Measures how much storage each tenant database uses, so account storage quotas can be
//! enforced. Sizes are observations, kept apart from the event-sourced read models; after
//! each measurement, `quota::enforce` locks or unlocks databases by them.

use std::time::Duration;

use eventstore::Store;
use hostctl::Hosts;
use tokio::sync::watch;

/// Measures every host once.
pub async fn measure(store: &Store, hosts: &Hosts) -> anyhow::Result<()> {
    for (conn, dbs) in crate::hosts::with_live_databases(hosts, store, "measure storage").await? {
        let names: Vec<String> = dbs.iter().map(|(_, n)| n.clone()).collect();
        let sizes = conn.sizes(&names).await?;
        let by_id: Vec<_> =
            dbs.iter().filter_map(|(id, name)| sizes.iter().find(|(n, _)| n == name).map(|(_, b)| (*id, *b))).collect();
        store.record_sizes(&by_id).await?;
    }
    Ok(())
}

pub async fn run(
    store: Store,
    hosts: Hosts,
    plans: domain::PlanQuotas,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match measure(&store, &hosts).await {
            Ok(()) => {
                if let Err(e) = crate::quota::enforce(&store, &plans).await {
                    tracing::warn!(error = %e, "enforcing storage quotas failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "measuring storage failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
