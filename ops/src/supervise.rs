//! `berth up` brings back the servers it runs. Every half second it looks at the
//! control-plane PostgreSQL, the tenant host's PostgreSQL and its PgBouncer; one that ended
//! (killed, crashed, out of memory) is started again on the same port, with a backoff
//! (0.5 s doubling to 30 s). Each restart is recorded as a `process_restarted` incident,
//! opened and resolved once the process answers again (for the control plane, as soon as it
//! is back to hold it). After a PgBouncer restart its pools are rendered and reloaded from
//! the store at once (stopped databases are `DISABLE`d again: that lived in its memory).
//! A process that cannot be brought back after [`MAX_TRIES`] tries in a row ends the
//! supervisor with an error, and `berth up` exits non-zero so that whatever runs it (systemd,
//! Kubernetes) starts the whole again.

use std::time::Duration;

use eventstore::incidents::IncidentReport;
use eventstore::Store;

use crate::local::{ClusterOptions, LocalHost, MariaServer, PgCluster};

/// Restarts tried in a row before giving up (about two minutes of backoff).
pub const MAX_TRIES: u32 = 8;
const LOOK_EVERY: Duration = Duration::from_millis(500);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
pub const PROCESS_RESTARTED: &str = "process_restarted";

/// What the supervisor watches, and what it needs to repair PgBouncer after a restart.
pub struct Supervised<'a> {
    pub control: &'a PgCluster,
    pub host: &'a LocalHost,
    /// The MariaDB server, when the deployment enables that engine.
    pub maria: Option<&'a MariaServer>,
    pub store: Store,
    pub host_id: domain::HostId,
    pub plans: domain::PlanQuotas,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Which {
    Control,
    TenantPostgres,
    PgBouncer,
    TenantMariaDb,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Control => "control-plane-postgresql",
            Which::TenantPostgres => "tenant-host-postgresql",
            Which::PgBouncer => "tenant-host-pgbouncer",
            Which::TenantMariaDb => "tenant-host-mariadb",
        }
    }
}

impl Supervised<'_> {
    fn ended(&self, which: Which) -> bool {
        match which {
            Which::Control => self.control.has_ended(),
            Which::TenantPostgres => self.host.pg.has_ended(),
            Which::PgBouncer => self.host.bouncer.has_ended(),
            Which::TenantMariaDb => self.maria.is_some_and(MariaServer::has_ended),
        }
    }

    async fn restart(&self, which: Which) -> anyhow::Result<()> {
        match which {
            Which::Control => self.control.restart(&ClusterOptions::default()).await,
            Which::TenantPostgres => self.host.pg.restart(&ClusterOptions::default()).await,
            Which::PgBouncer => self.host.bouncer.restart().await,
            Which::TenantMariaDb => match self.maria {
                Some(m) => m.restart(true).await,
                None => Ok(()),
            },
        }
    }

    /// Watches until a process cannot be brought back; returns why.
    pub async fn run(&self) -> anyhow::Error {
        loop {
            for which in [Which::Control, Which::TenantPostgres, Which::PgBouncer, Which::TenantMariaDb] {
                if self.ended(which) {
                    if let Err(e) = self.bring_back(which).await {
                        return e;
                    }
                }
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    async fn bring_back(&self, which: Which) -> anyhow::Result<()> {
        let name = which.name();
        tracing::error!(process = name, "a server of the platform ended; starting it again");
        metrics::counter!("berth_process_restarts_total", "process" => name).increment(1);
        let ended_at = chrono::Utc::now();
        let mut delay = BACKOFF_MIN;
        let mut last = None;
        for attempt in 1..=MAX_TRIES {
            match self.restart(which).await {
                Ok(()) => {
                    tracing::warn!(process = name, attempt, "server started again");
                    self.record(which, ended_at, attempt).await;
                    if which == Which::PgBouncer {
                        self.resync_bouncer().await;
                    }
                    return Ok(());
                }
                Err(e) => {
                    tracing::error!(process = name, attempt, error = %format!("{e:#}"), "restart failed");
                    last = Some(e);
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(BACKOFF_MAX);
        }
        let why = last.map(|e| format!("{e:#}")).unwrap_or_default();
        Err(anyhow::anyhow!("{name} could not be started again after {MAX_TRIES} tries: {why}"))
    }

    /// A `process_restarted` incident, opened and resolved: the process is back.
    async fn record(&self, which: Which, ended_at: chrono::DateTime<chrono::Utc>, attempt: u32) {
        let summary = format!(
            "{} ended at {} and was started again (attempt {attempt})",
            which.name(),
            ended_at.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let report = IncidentReport {
            kind: PROCESS_RESTARTED,
            severity: "warning",
            resource_type: "process",
            resource_id: which.name(),
            summary: &summary,
        };
        // The control plane may itself be coming back: retry for a while.
        for _ in 0..60 {
            let recorded = async {
                self.store.report_incident(&report).await?;
                self.store.resolve_incident(PROCESS_RESTARTED, which.name()).await
            };
            match recorded.await {
                Ok(_) => return,
                Err(e) => tracing::debug!(error = %e, "recording a restart: control plane not back yet"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tracing::error!(process = which.name(), "could not record the restart as an incident");
    }

    async fn resync_bouncer(&self) {
        let synced = async {
            let conn = worker::hosts::open(&hostctl::Hosts::default(), &self.store, self.host_id).await?;
            worker::hosts::sync_bouncer(&self.store, &self.plans, &conn).await
        };
        if let Err(e) = synced.await {
            // The worker's next sync, or the orphan reconciler, renders it again.
            tracing::warn!(error = %e, "re-rendering PgBouncer after its restart failed");
        }
    }
}
