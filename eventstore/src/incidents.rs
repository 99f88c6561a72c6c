//! System incidents: what operators read to see what broke. Not events — an incident is the
//! platform's observation, opened by failures and watchdogs, bumped on repeats.

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
