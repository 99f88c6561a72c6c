//! System incidents: what operators read to see what broke. Not events — an incident is the
//! platform's observation, opened by failures and watchdogs, bumped on repeats.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct IncidentReport<'a> {
    pub kind: &'a str,
    pub severity: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub summary: &'a str,
}

impl Store {
    /// Opens an incident, or bumps `occurrences` and `last_seen_at` of the open one of the
    /// same kind on the same resource. Returns its id.
    pub async fn report_incident(&self, r: &IncidentReport<'_>) -> Result<Uuid, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "insert into incidents (id, kind, severity, state, resource_type, resource_id, summary,
                                        first_seen_at, last_seen_at)
                 values ($1, $2, $3, 'open', $4, $5, $6, now(), now())
                 on conflict (kind, resource_id) where state = 'open'
                 do update set occurrences = incidents.occurrences + 1, last_seen_at = now(),
                               summary = excluded.summary
                 returning id",
                &[&Uuid::now_v7(), &r.kind, &r.severity, &r.resource_type, &r.resource_id, &r.summary],
            )
            .await?;
        metrics::counter!("berth_incidents_reported_total", "kind" => r.kind.to_owned()).increment(1);
        Ok(row.get(0))
    }

    /// Resolves the open incident of `kind` on `resource_id`, if any (the condition cleared).
    pub async fn resolve_incident(&self, kind: &str, resource_id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "update incidents set state = 'resolved', resolved_at = now()
                 where kind = $1 and resource_id = $2 and state = 'open'",
                &[&kind, &resource_id],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn open_incidents(&self, kind: &str, resource_id: &str) -> Result<Vec<(Uuid, i32)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select id, occurrences from incidents where kind = $1 and resource_id = $2 and state = 'open'",
                &[&kind, &resource_id],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// The kinds of incident the platform opens.
pub mod kinds {
    pub const PROVISIONING_FAILED: &str = "provisioning_failed";
    pub const JOB_FAILED: &str = "job_failed";
    pub const BACKUP_FAILED: &str = "backup_failed";
    pub const BACKUP_STALE: &str = "backup_stale";
    /// A tenant host's PostgreSQL or PgBouncer does not answer the watchdog.
    pub const HOST_UNREACHABLE: &str = "host_unreachable";
    /// A burst of 5xx answers from the API.
    pub const API_ERRORS: &str = "api_errors";
    /// An operation stayed unfinished past its deadline with no job and was failed.
    pub const OPERATION_STUCK: &str = "operation_stuck";
    /// What a host or the backup store has differs from what the control plane says.
    pub const DRIFT: &str = "drift";
    /// One of the worker's background loops panicked (a bug); it was started again.
    pub const WORKER_TASK_PANICKED: &str = "worker_task_panicked";
    /// A database's sessions held more locks than its share of the host's lock table and
    /// were terminated (the lock watchdog).
    pub const LOCKS_OVER_SHARE: &str = "locks_over_share";
    /// No tenant host of an engine (in a region) could take a new database.
    pub const NO_CAPACITY: &str = "no_capacity";
    /// A TLS certificate (the pooler's, the API's) could not be renewed or reloaded.
    pub const TLS_CERTIFICATE: &str = "tls_certificate";
}

#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub id: Uuid,
    pub kind: String,
    pub severity: String,
    pub state: String,
    pub resource_type: String,
    pub resource_id: String,
    pub summary: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub occurrences: i32,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub state: Option<String>,
    pub kind: Option<String>,
    /// The resource's id as the incident names it (a `db_…`, a host id, `api`).
    pub resource_id: Option<String>,
    /// Return incidents strictly older than this one (ids are time-ordered).
    pub before: Option<Uuid>,
}

const INCIDENT_COLUMNS: &str = "id, kind, severity, state, resource_type, resource_id, summary, first_seen_at,
     last_seen_at, occurrences, resolved_at";

fn incident_row(r: &tokio_postgres::Row) -> IncidentRow {
    IncidentRow {
        id: r.get(0),
        kind: r.get(1),
        severity: r.get(2),
        state: r.get(3),
        resource_type: r.get(4),
        resource_id: r.get(5),
        summary: r.get(6),
        first_seen_at: r.get(7),
        last_seen_at: r.get(8),
        occurrences: r.get(9),
        resolved_at: r.get(10),
    }
}

impl Store {
    /// Incidents, newest first (by when first seen, which a bump does not move, so paging
    /// is stable).
    pub async fn incidents(&self, f: &IncidentFilter, limit: i64) -> Result<Vec<IncidentRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select {INCIDENT_COLUMNS} from incidents
                     where ($1::text is null or state = $1) and ($2::text is null or kind = $2)
                       and ($3::text is null or resource_id = $3) and ($4::uuid is null or id < $4)
                     order by id desc limit $5"
                ),
                &[&f.state, &f.kind, &f.resource_id, &f.before, &limit],
            )
            .await?;
        Ok(rows.iter().map(incident_row).collect())
    }

    /// Resolves an incident by id (an operator's call); resolving a resolved one changes
    /// nothing. `NotFound` if there is no such incident.
    pub async fn resolve_incident_by_id(&self, id: Uuid) -> Result<IncidentRow, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "update incidents set state = 'resolved', resolved_at = now() where id = $1 and state = 'open'",
                &[&id],
            )
            .await?;
        let row = client.query_opt(&format!("select {INCIDENT_COLUMNS} from incidents where id = $1"), &[&id]).await?;
        row.as_ref().map(incident_row).ok_or(StoreError::NotFound)
    }

    /// Open incidents per kind (for the metrics gauge).
    pub async fn open_incident_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("select kind, count(*) from incidents where state = 'open' group by kind order by kind", &[])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
