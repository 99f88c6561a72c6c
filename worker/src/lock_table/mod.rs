//! The lock-table watchdog. PostgreSQL's lock table is shared by every database of a host: one
//! tenant holding tens of thousands of locks (a table each, or advisory locks, microseconds
//! apiece) made other tenants' `CREATE TABLE` and every new login fail with "out of shared
//! memory". Every `interval` this loop reads the locks and backends (`pg_locks`,
//! `pg_stat_activity`) of each host, as the superuser in the maintenance database (never
//! inside a tenant database), over a session of its own kept between rounds: a login needs
//! lock-table entries, a session already open does not (see `session`).
//!
//! A database's share is its plan's `server_connections` × the host's
//! `max_locks_per_transaction`: the locks PostgreSQL budgets for the backends its pool may
//! hold. Sessions over it are terminated, biggest holders first, until the database is back
//! within it, and a `locks_over_share` incident names the database by id (nothing the tenant
//! wrote: no query text, no names). Sessions named `berth-…` are the platform's (backups,
//! verification) — or a tenant's pretending, since the name is the client's to set — so they
//! are counted apart, against a share of their own: a platform backup does not get its
//! tenant's sessions killed, and a tenant gains at most a second share by the name.
//! Superuser sessions are never counted. Every worker process runs one; a second
//! terminating the same backend is harmless.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::TenantHost;
use domain::{HostId, Plan, PlanQuotas};
use eventstore::incidents::{kinds, IncidentReport};
use eventstore::Store;
use hostctl::Hosts;
use tokio::sync::watch;

mod session;

use session::Session;

/// How long one host's round (read, terminate) may take; past it the session is dropped.
const ROUND_TIMEOUT: Duration = Duration::from_secs(5);

/// One backend holding locks on a host, outside the maintenance databases.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub datid: u32,
    pub pid: i32,
    pub started: DateTime<Utc>,
    /// Named `berth-…`: the platform's, or a tenant's claiming to be.
    pub platform: bool,
    pub locks: i64,
}

/// The holders to terminate so that each group of one database's holders (tenant-named,
/// `berth-`-named) holds at most `share` locks: the biggest first.
pub fn victims<'a>(holders: &[&'a Holder], share: i64) -> Vec<&'a Holder> {
    let mut out = Vec::new();
    for platform in [false, true] {
        let mut group: Vec<&Holder> = holders.iter().copied().filter(|h| h.platform == platform).collect();
        let mut held: i64 = group.iter().map(|h| h.locks).sum();
        group.sort_by_key(|h| std::cmp::Reverse(h.locks));
        for h in group {
            if held <= share {
                break;
            }
            held -= h.locks;
            out.push(h);
        }
    }
    out
}

pub async fn run(
    store: Store,
    hosts: Hosts,
    plans: PlanQuotas,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut sessions: HashMap<HostId, Session> = HashMap::new();
    loop {
        // PostgreSQL's shared lock table; a MariaDB host has none (its locks are per table,
        // bounded by `lock_wait_timeout` on our side and the per-login caps).
        match store.hosts().await.map(|rows| rows.into_iter().filter(|h| h.engine == domain::Engine::Postgres)) {
            Ok(rows) => {
                let rows: Vec<_> = rows.collect();
                let kept: Vec<_> = rows.iter().map(|row| (row, sessions.remove(&row.id))).collect();
                let rounds = kept.into_iter().map(|(row, session)| {
                    let (store, hosts, plans) = (&store, &hosts, &plans);
                    async move {
                        let mut session = match session {
                            Some(s) => s,
                            None => match tokio::time::timeout(ROUND_TIMEOUT, Session::open(store, hosts, row)).await {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => return warn(row, e),
                                Err(_) => return warn(row, anyhow::anyhow!("no session within {ROUND_TIMEOUT:?}")),
                            },
                        };
                        let round = tokio::time::timeout(ROUND_TIMEOUT, round(store, plans, row, &mut session)).await;
                        let healthy = match round {
                            Ok((judged, healthy)) => {
                                if let Err(e) = judged {
                                    warn::<()>(row, e);
                                }
                                healthy
                            }
                            Err(_) => warn(row, anyhow::anyhow!("no answer within {ROUND_TIMEOUT:?}")).unwrap_or(false),
                        };
                        // Kept while healthy: with the lock table full, a new login could not
                        // get in, nor take the catalog locks the session holds.
                        (healthy && !session.is_closed()).then_some((row.id, session))
                    }
                });
                sessions.extend(futures::future::join_all(rounds).await.into_iter().flatten());
            }
            Err(e) => tracing::warn!(error = %e, "lock watchdog cannot list hosts"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

fn warn<T>(row: &TenantHost, e: anyhow::Error) -> Option<T> {
    tracing::warn!(host = %row.name, error = %format!("{e:#}"), "lock watchdog round failed");
    None
}

/// One round on one host, in a savepoint of the session's transaction: what it judged, and
/// whether the session is fit for the next round.
async fn round(
    store: &Store,
    plans: &PlanQuotas,
    row: &TenantHost,
    session: &mut Session,
) -> (anyhow::Result<()>, bool) {
    let judged = match session.begin_round().await {
        Ok(()) => judge(store, plans, row, session).await,
        Err(e) => Err(e),
    };
    let renew = matches!(judged, Ok(false));
    match session.end_round(judged.is_ok(), renew).await {
        Ok(()) => (judged.map(drop), true),
        Err(e) => (judged.map(drop).and(Err(e)), false),
    }
}

/// Terminates the sessions of databases over their share; true when the tenants' locks fill
/// half of what the table is sized for or more.
async fn judge(store: &Store, plans: &PlanQuotas, row: &TenantHost, session: &Session) -> anyhow::Result<bool> {
    let (per_backend, max_connections, holders) = session.holders().await?;
    let pressure = holders.iter().map(|h| h.locks).sum::<i64>() >= per_backend * max_connections / 2;
    let mut by_db: HashMap<u32, Vec<&Holder>> = HashMap::new();
    for h in &holders {
        by_db.entry(h.datid).or_default().push(h);
    }
    // The control plane is asked only when a database holds more than the smallest share.
    let smallest = [Plan::Free, Plan::Pro, Plan::Business].map(|p| share(plans, p, per_backend)).into_iter().min();
    by_db.retain(|_, hs| hs.iter().map(|h| h.locks).sum::<i64>() > smallest.unwrap_or(0));
    if by_db.is_empty() {
        return Ok(pressure);
    }
    let plan_of: HashMap<String, Plan> =
        store.host_pools(row.id).await?.into_iter().map(|p| (p.name.as_str().to_owned(), p.plan)).collect();
    let id_of: HashMap<String, domain::DatabaseId> =
        store.host_databases(row.id).await?.into_iter().map(|(id, name)| (name, id)).collect();
    for (datid, hs) in by_db {
        let name = session.name(datid);
        // A database the control plane does not know (a scratch copy, or one too new for the
        // session's reading of the catalogs) gets the smallest share.
        let plan = name.and_then(|n| plan_of.get(n)).copied().unwrap_or(Plan::Free);
        let share = share(plans, plan, per_backend);
        let kill = victims(&hs, share);
        if kill.is_empty() {
            continue;
        }
        let terminated = session.terminate(datid, &kill).await?;
        let held: i64 = hs.iter().map(|h| h.locks).sum();
        metrics::counter!("berth_lock_watchdog_terminations_total").increment(terminated as u64);
        let (resource_type, resource_id, what) = match name.and_then(|n| id_of.get(n)) {
            Some(id) => ("database", id.to_string(), format!("database {id}")),
            None => ("host", row.id.to_string(), format!("a database unknown to the control plane (oid {datid})")),
        };
        tracing::warn!(host = %row.name, resource = %resource_id, held, share, terminated,
            "sessions over their database's lock share terminated");
        // Only what the platform knows: ids, counts, settings; nothing the tenant wrote.
        let summary = format!(
            "{what} on host {host} held {held} locks, over its share of {share} ({plan} plan: {conns} server \
             connections x max_locks_per_transaction {per_backend}); {terminated} of its sessions terminated",
            host = row.name,
            plan = plan.as_str(),
            conns = plans.of(plan).server_connections,
        );
        report_soon(store, kinds::LOCKS_OVER_SHARE, resource_type, resource_id, summary);
    }
    Ok(pressure)
}

/// Opens (or bumps) the incident, retrying for a minute in a task of its own: sessions were
/// terminated, and an operator must hear of it even when the control plane's pool is busy
/// for a moment; the watchdog's next round does not wait for it.
fn report_soon(store: &Store, kind: &'static str, resource_type: &'static str, resource_id: String, summary: String) {
    let store = store.clone();
    tokio::spawn(async move {
        let report =
            IncidentReport { kind, severity: "warning", resource_type, resource_id: &resource_id, summary: &summary };
        for attempt in 1..=12 {
            match store.report_incident(&report).await {
                Ok(_) => return,
                Err(e) => tracing::warn!(error = %e, attempt, "lock watchdog cannot open an incident yet"),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        tracing::error!(resource = %resource_id, "lock watchdog gave up opening an incident");
    });
}

fn share(plans: &PlanQuotas, plan: Plan, per_backend: i64) -> i64 {
    i64::from(plans.of(plan).server_connections.max(1)) * per_backend
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(pid: i32, platform: bool, locks: i64) -> Holder {
        Holder { datid: 1, pid, started: Utc::now(), platform, locks }
    }

    fn pids(v: Vec<&Holder>) -> Vec<i32> {
        v.iter().map(|h| h.pid).collect()
    }

    #[test]
    fn the_biggest_holders_go_until_the_database_is_within_its_share() {
        let (a, b, c) = (holder(1, false, 600), holder(2, false, 3), holder(3, false, 500));
        assert_eq!(pids(victims(&[&a, &b, &c], 1000)), vec![1]);
        assert_eq!(pids(victims(&[&a, &b, &c], 2000)), Vec::<i32>::new());
        assert_eq!(pids(victims(&[&a, &b, &c], 2)), vec![1, 3, 2]);
    }

    #[test]
    fn berth_named_sessions_have_a_share_of_their_own() {
        let (tenant, small, named) = (holder(1, false, 1500), holder(2, false, 3), holder(3, true, 1500));
        assert_eq!(pids(victims(&[&tenant, &small, &named], 1024)), vec![1, 3]);
        let backup = holder(4, true, 900);
        assert_eq!(pids(victims(&[&small, &backup], 1024)), Vec::<i32>::new());
    }
}
