//! The pooler's guard turning connections away on arrival — every client slot held, or the
//! share one address may hold — is for an operator to look at (a flood, an application
//! leaking connections, a host too small): a `pooler_saturated` incident, opened (and bumped)
//! while it happens and resolved once `quiet` has passed without any. `berth up` and the test
//! harness run it beside the supervisor.

use std::time::{Duration, Instant};

use eventstore::incidents::IncidentReport;
use eventstore::Store;

use crate::local::{Bouncer, MAX_CLIENT_CONN, MAX_PER_SOURCE};

pub const POOLER_SATURATED: &str = "pooler_saturated";
/// The resource the incident names: the same as the supervisor's for PgBouncer.
pub const RESOURCE: &str = "tenant-host-pgbouncer";
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// Watches `bouncer`'s guard for ever.
pub async fn run(bouncer: &Bouncer, store: Store, quiet: Duration) {
    let mut seen = bouncer.turned_away();
    // Also resolves, after `quiet`, an incident a previous run left open.
    let mut last_turned_away = Some(Instant::now());
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        let total = bouncer.turned_away();
        if total > seen {
            let summary = format!(
                "the connection pooler's guard turned away {} connection(s) on arrival: all {MAX_CLIENT_CONN} \
                 client slots, or the {MAX_PER_SOURCE} one address may hold, were taken \
                 (berth_guard_refused_total says which)",
                total - seen
            );
            let report = IncidentReport {
                kind: POOLER_SATURATED,
                severity: "warning",
                resource_type: "process",
                resource_id: RESOURCE,
                summary: &summary,
            };
            match store.report_incident(&report).await {
                Ok(_) => {
                    seen = total;
                    last_turned_away = Some(Instant::now());
                }
                // Counted again next round.
                Err(e) => tracing::warn!(error = %e, "recording the pooler's saturation"),
            }
        } else if last_turned_away.is_some_and(|at| at.elapsed() >= quiet) {
            match store.resolve_incident(POOLER_SATURATED, RESOURCE).await {
                Ok(_) => last_turned_away = None,
                Err(e) => tracing::warn!(error = %e, "resolving the pooler's saturation"),
            }
        }
    }
}
