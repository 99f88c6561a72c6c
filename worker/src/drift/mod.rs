//! The orphan reconciler: every `interval` it compares what the control plane says should
//! exist (databases and their state, database users, PgBouncer pools, backup objects) with
//! what each host and the backup store have, and opens (or bumps) a `drift` incident for
//! each resource that differs, resolving it once a round finds that resource clean (not
//! merely inside its grace again, as everything is after a restart).
//!
//! Repaired, because a marker proves the object is Berth's and the log says it should not
//! exist: a marked role (and the database it owns) of a database deleted or unknown to the
//! control plane, and marked database-user roles of such a database; PgBouncer pools served
//! or missing against the control plane, and PgBouncer files that are not the store's render
//! (a re-sync renders both from the store). Only reported: a running or stopped database
//! whose role, database or users' roles are missing on its host; a marked user role of a
//! live database with no such user (dropping it needs the owner's session inside the tenant
//! database); backup objects no backup row names; succeeded backups whose object is missing;
//! two hosts registered with one PgBouncer config dir (neither is re-rendered: one host's
//! render would drop every pool of the other).
//!
//! Nothing is judged before it has been seen for `grace` (tracked in memory from round to
//! round: PostgreSQL does not record when a role was made), and nothing of a database with
//! an operation at work: a job in flight may be making or removing it.
//!
//! PostgreSQL is read only through the maintenance database, as superuser: no tenant
//! database is ever opened.

mod findings;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use domain::{DatabaseName, HostId};
use eventstore::incidents::{kinds, IncidentReport};
use eventstore::Store;
use hostctl::Hosts;
use tokio::sync::watch;

pub use findings::*;

/// When each observed thing was first seen, kept between rounds.
#[derive(Debug, Default)]
pub struct Seen {
    first: HashMap<String, Instant>,
    this_round: HashSet<String>,
}

impl Seen {
    fn age(&mut self, key: String) -> Duration {
        let first = *self.first.entry(key.clone()).or_insert_with(Instant::now);
        self.this_round.insert(key);
        first.elapsed()
    }

    /// Forgets what this round did not see.
    fn end_round(&mut self) {
        let seen = std::mem::take(&mut self.this_round);
        self.first.retain(|k, _| seen.contains(k));
    }
}

/// What the reconciler acts with.
pub struct Reconciler {
    pub store: Store,
    pub hosts: Hosts,
    pub plans: domain::PlanQuotas,
    pub objects: Option<opendal::Operator>,
    pub grace: Duration,
    pub seen: Seen,
}

pub async fn run(mut r: Reconciler, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        if let Err(e) = r.reconcile_once().await {
            tracing::warn!(error = %e, "the orphan reconciler could not finish a round");
        }
    }
}

impl Reconciler {
    pub fn new(
        store: Store,
        hosts: Hosts,
        plans: domain::PlanQuotas,
        objects: Option<opendal::Operator>,
        grace: Duration,
    ) -> Self {
        Self { store, hosts, plans, objects, grace, seen: Seen::default() }
    }

    /// One round over every host and the backup store: reports, repairs, and resolves the
    /// `drift` incidents of resources found clean. Returns what it found.
    pub async fn reconcile_once(&mut self) -> anyhow::Result<Vec<Finding>> {
        let mut findings = Vec::new();
        // Observed first, intent after: what a job did between the two reads is in the intent.
        let mut observed = Vec::new();
        let mut complete = true;
        // Role and PgBouncer drift are PostgreSQL hosts' (a MariaDB host's accounts are
        // re-rendered whole by every front-door sync).
        let rows: Vec<_> =
            self.store.hosts().await?.into_iter().filter(|h| h.engine == domain::Engine::Postgres).collect();
        let shared = shared_config_dirs(
            &rows.iter().map(|r| (r.id, r.name.as_str(), r.config_dir.as_str())).collect::<Vec<_>>(),
        );
        for row in rows {
            match self.observe(row.id).await {
                Ok(o) => observed.push((row.id, o)),
                Err(e) => {
                    complete = false;
                    tracing::warn!(host = %row.name, error = %e, "the orphan reconciler cannot read a host");
                }
            }
        }
        let objects = match &self.objects {
            Some(op) => match list_objects(op).await {
                Ok(keys) => Some(
                    keys.into_iter().map(|k| (k.clone(), self.seen.age(format!("object:{k}")))).collect::<Vec<_>>(),
                ),
                Err(e) => {
                    complete = false;
                    tracing::warn!(error = %e, "the orphan reconciler cannot list the backup store");
                    None
                }
            },
            None => None,
        };
        self.seen.end_round();
        let intent = self.store.intent_databases().await?;
        let users = self.store.intent_users().await?;
        // What differs right now, judged or not: a resource with a difference still inside
        // its grace keeps its incident open (after a restart every age starts again at zero,
        // and a reconciler with a longer grace must not clear what a shorter one reported).
        let mut unclean: HashSet<String> = HashSet::new();
        for (host, o) in &observed {
            unclean.extend(host_findings(*host, &intent, &users, o, Duration::ZERO).into_iter().map(|f| f.resource));
            let sharing = shared.get(host);
            for f in host_findings(*host, &intent, &users, o, self.grace) {
                // Never render PgBouncer's files for a host whose config dir another host uses.
                let repaired = match (&f.repair, sharing) {
                    (Repair::SyncBouncer, Some(_)) => None,
                    _ => self.repair(*host, &f.repair).await,
                };
                findings.push((f, repaired));
            }
            if let Some(others) = sharing {
                let what = format!(
                    "host shares its PgBouncer config dir with {}: PgBouncer is not re-rendered for it",
                    others.join(", ")
                );
                findings.push((Finding { resource: host.to_string(), what, repair: Repair::None }, None));
            }
        }
        if let Some(objects) = objects {
            let rows = self.store.intent_objects().await?;
            unclean.extend(backup_findings(&rows, &objects, Duration::ZERO).into_iter().map(|f| f.resource));
            findings.extend(backup_findings(&rows, &objects, self.grace).into_iter().map(|f| (f, None)));
        }
        self.record(&findings, &unclean, complete).await?;
        Ok(findings.into_iter().map(|(f, _)| f).collect())
    }

    async fn observe(&mut self, host: HostId) -> anyhow::Result<ObservedHost> {
        let conn = crate::hosts::open(&self.hosts, &self.store, host).await?;
        let client = conn.pool.get().await?;
        let rows = client
            .query(
                "select r.rolname::text, shobj_description(r.oid, 'pg_authid'),
                        coalesce(array(select d.datname::text from pg_database d where d.datdba = r.oid
                                       order by 1), '{}')
                 from pg_roles r
                 where shobj_description(r.oid, 'pg_authid') like 'berth:%'",
                &[],
            )
            .await?;
        let mut roles = Vec::with_capacity(rows.len());
        for r in &rows {
            // A role whose comment went away between the filter and the read is not ours now.
            let (name, Some(comment)): (String, Option<String>) = (r.get(0), r.get(1)) else { continue };
            let age = self.seen.age(format!("role:{host}:{name}:{comment}"));
            roles.push(ObservedRole { name, comment, owns: r.get(2), age });
        }
        let mut databases = Vec::new();
        let mut scratch = Vec::new();
        for r in client.query("select datname::text, pg_get_userbyid(datdba)::text from pg_database", &[]).await? {
            let (name, owner): (String, String) = (r.get(0), r.get(1));
            if ObservedScratch::is_scratch(&name) {
                let age = self.seen.age(format!("scratch:{host}:{name}"));
                scratch.push(ObservedScratch { name: name.clone(), owner, age });
            }
            databases.push(name);
        }
        let served = {
            let admin = conn.admin().await?;
            hostctl::host::served_databases(&admin).await?.into_iter().filter(|n| n != "pgbouncer").collect()
        };
        // Pools with their addresses and caps, logins and HBA: after an upgrade that changed
        // how pools reach PostgreSQL, the old files would cut every tenant off.
        let stale = crate::hosts::stale_bouncer_files(&self.store, &self.plans, &conn).await?;
        let files_stale = (!stale.is_empty()).then(|| (self.seen.age(format!("bouncer:{host}")), stale));
        Ok(ObservedHost { roles, databases, served, files_stale, scratch })
    }

    /// Carries out a repair; what happened, for the incident.
    async fn repair(&self, host: HostId, repair: &Repair) -> Option<Result<(), String>> {
        let conn = match crate::hosts::open(&self.hosts, &self.store, host).await {
            Ok(c) => c,
            Err(e) => return Some(Err(e.to_string())),
        };
        let engine: &dyn hostctl::TenantEngine = &conn;
        let outcome = match repair {
            Repair::None => return None,
            Repair::DropDatabase { id, name } => match DatabaseName::parse(name) {
                Ok(name) => engine.drop_database(*id, &name).await.map_err(Into::into),
                Err(e) => return Some(Err(format!("its name is not one Berth makes ({e}); left for an operator"))),
            },
            Repair::DropUsers { id } => engine.drop_users_of(*id).await.map_err(Into::into),
            Repair::SyncBouncer => crate::hosts::sync_bouncer(&self.store, &self.plans, engine).await,
            Repair::DropScratch { name } => engine.drop_scratch(name).await.map_err(Into::into),
            // PostgreSQL's own leftovers (roles renamed away at a deletion): the reconciler
            // observes this engine's catalog, so it repairs it on the connection itself.
            Repair::DropGoneRole { name } => match conn.drop_gone_role(name).await {
                Ok(None) => Ok(()),
                Ok(Some(closed)) => {
                    return Some(Err(format!(
                        "it still has privileges in {closed:?}, which accept no connections (stopped): it goes \
                         once they start"
                    )))
                }
                Err(e) => Err(e.into()),
            },
        };
        Some(outcome.map_err(|e| e.to_string()))
    }

    async fn record(
        &self,
        findings: &[(Finding, Option<Result<(), String>>)],
        unclean: &HashSet<String>,
        complete: bool,
    ) -> anyhow::Result<()> {
        let mut by_resource: HashMap<&str, Vec<String>> = HashMap::new();
        for (f, repaired) in findings {
            let line = match repaired {
                None => format!("{} (reported)", f.what),
                Some(Ok(())) => format!("{} (repaired)", f.what),
                Some(Err(e)) => format!("{} (repair failed: {e})", f.what),
            };
            tracing::warn!(resource = f.resource, finding = %line, "drift");
            metrics::counter!("berth_drift_findings_total").increment(1);
            by_resource.entry(&f.resource).or_default().push(line);
        }
        for (resource, lines) in &by_resource {
            let resource_type = if *resource == BACKUPS_RESOURCE {
                "backups"
            } else if resource.starts_with(HostId::PREFIX) {
                "host"
            } else {
                "database"
            };
            let summary = lines.join("; ");
            let report = IncidentReport {
                kind: kinds::DRIFT,
                severity: "warning",
                resource_type,
                resource_id: resource,
                summary: &summary,
            };
            self.store.report_incident(&report).await?;
        }
        if complete {
            for resource in self.store.open_incident_resources(kinds::DRIFT).await? {
                if !by_resource.contains_key(resource.as_str())
                    && !unclean.contains(&resource)
                    && self.store.resolve_incident(kinds::DRIFT, &resource).await?
                {
                    tracing::info!(resource, "drift cleared; incident resolved");
                }
            }
        }
        Ok(())
    }
}

/// Every object key in the backup store (temporary files of writes under way excluded).
async fn list_objects(op: &opendal::Operator) -> anyhow::Result<Vec<String>> {
    let entries = op.list_with("").recursive(true).await?;
    Ok(entries
        .into_iter()
        .filter(|e| e.metadata().is_file() && !e.path().starts_with(".tmp/"))
        .map(|e| e.path().to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn what_a_round_does_not_see_is_forgotten() {
        let mut seen = Seen::default();
        seen.age("x".into());
        seen.end_round();
        assert!(seen.first.contains_key("x"));
        seen.end_round();
        assert!(!seen.first.contains_key("x"));
    }
}
