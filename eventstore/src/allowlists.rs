//! Allowlists: each database's network rules (projection and queries), and what a host's
//! PgBouncer must enforce of them: its restricted databases' networks, its database users'
//! logins, and which commits its last sync covers.

use chrono::{DateTime, Utc};
use domain::{AllowlistEvent, Cidr, DatabaseId, DatabaseName, HostId, RuleId};

use crate::error::decode_column;
use crate::projection::{database_owner, insert_activity, Resource};
use crate::queries::database_name;
use crate::tables::{Key, Tables};
use crate::{RecordedEvent, Store, StoreError};

#[derive(Debug, Clone)]
pub struct RuleRow {
    pub id: RuleId,
    pub database_id: DatabaseId,
    pub cidr: String,
    pub label: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub open_to_all: bool,
    pub created_at: DateTime<Utc>,
}

pub(crate) async fn project_allowlist<T: Tables>(
    t: &mut T,
    e: &RecordedEvent,
    a: &AllowlistEvent,
) -> Result<(), StoreError> {
    let db = a.database_id().uuid();
    match a {
        AllowlistEvent::AllowlistRuleAdded { rule_id, cidr, label, expires_at, open_to_all, .. } => {
            t.insert(
                "allowlist_rules",
                vec![
                    ("id", rule_id.uuid().into()),
                    ("database_id", db.into()),
                    ("cidr", cidr.to_string().into()),
                    ("label", label.into()),
                    ("expires_at", (*expires_at).into()),
                    ("open_to_all", (*open_to_all).into()),
                    ("created_at", e.occurred_at.into()),
                ],
            )
            .await?;
        }
        AllowlistEvent::AllowlistRuleRemoved { rule_id, .. } | AllowlistEvent::AllowlistRuleExpired { rule_id, .. } => {
            t.delete("allowlist_rules", Key::id(rule_id.uuid())).await?;
        }
    }
    if let Some(activity) = a.activity() {
        let (account, name) = database_owner(t, db).await?;
        let resource = Resource { kind: "database", id: db, name: Some(name) };
        insert_activity(t, e, account, Some(db), activity.action, resource, &activity.details).await?;
    }
    Ok(())
}

fn rule_row(r: &tokio_postgres::Row) -> RuleRow {
    RuleRow {
        id: RuleId(r.get(0)),
        database_id: DatabaseId(r.get(1)),
        cidr: r.get(2),
        label: r.get(3),
        expires_at: r.get(4),
        open_to_all: r.get(5),
        created_at: r.get(6),
    }
}

const RULE_COLUMNS: &str = "r.id, r.database_id, r.cidr, r.label, r.expires_at, r.open_to_all, r.created_at";

impl Store {
    /// A database's rules, oldest first.
    pub async fn allowlist(&self, database: DatabaseId) -> Result<Vec<RuleRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select {RULE_COLUMNS} from allowlist_rules r where r.database_id = $1 order by r.created_at, r.id"
                ),
                &[&database.uuid()],
            )
            .await?;
        Ok(rows.iter().map(rule_row).collect())
    }

    /// Rules whose expiry time has passed but whose expiry is not recorded yet (the sweeper's
    /// work), oldest expiry first.
    pub async fn overdue_rules(&self, limit: i64) -> Result<Vec<RuleRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select {RULE_COLUMNS} from allowlist_rules r
                     where r.expires_at is not null and r.expires_at <= now() order by r.expires_at limit $1"
                ),
                &[&limit],
            )
            .await?;
        Ok(rows.iter().map(rule_row).collect())
    }

    /// The networks admitted to each restricted database on a host (databases without rules
    /// are open and absent here). Deleted databases have no pool, so no rule either.
    pub async fn host_allowlists(&self, host: HostId) -> Result<Vec<(DatabaseName, Vec<Cidr>)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select d.name, array_agg(r.cidr order by r.cidr) from allowlist_rules r
                     join databases d on d.id = r.database_id
                     where {} and d.state not in ('deleted', 'deleting')
                     group by d.name order by d.name",
                    crate::queries::SERVED_HERE
                ),
                &[&host.uuid()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let name = database_name(r.get(0))?;
                let cidrs: Vec<String> = r.get(1);
                let cidrs = cidrs
                    .iter()
                    .map(|c| decode_column("allowlist_rules.cidr", c, |c| Cidr::parse(c).ok()))
                    .collect::<Result<_, _>>()?;
                Ok((name, cidrs))
            })
            .collect()
    }

    /// The poolers that forward clients of this host's databases to it (moved here from
    /// them): each database with allowlist rules and the address of each forwarding pooler,
    /// which the allowlist must admit (the clients' own addresses were checked there).
    pub async fn host_forwarders(&self, host: HostId) -> Result<Vec<(DatabaseName, String)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select distinct d.name, h.bouncer_host from database_forwards f
                 join databases d on d.id = f.database_id
                 join hosts h on h.id = f.from_host_id
                 where d.host_id = $1 and d.state not in ('deleted', 'deleting')
                 order by 1, 2",
                &[&host.uuid()],
            )
            .await?;
        rows.iter().map(|r| Ok((database_name(r.get(0))?, r.get(1)))).collect()
    }

    /// The hosts whose pooler forwards database `id` (it was moved off them), deleted
    /// databases' too (their pools must go).
    pub async fn forwarding_hosts(&self, id: DatabaseId) -> Result<Vec<HostId>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("select from_host_id from database_forwards where database_id = $1 order by 1", &[&id.uuid()])
            .await?;
        Ok(rows.iter().map(|r| HostId(r.get(0))).collect())
    }

    /// Logins of the extra users of a host's live databases, for PgBouncer's auth_file.
    pub async fn host_user_verifiers(&self, host: HostId) -> Result<Vec<(String, String)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select u.role_name, v.verifier from database_users u
                     join database_user_verifiers v on v.role_name = u.role_name
                     join databases d on d.id = u.database_id
                     where {} and d.state not in ('deleted', 'deleting') and u.state <> 'removing'
                     order by u.role_name",
                    crate::queries::SERVED_HERE
                ),
                &[&host.uuid()],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The oldest transaction still running: everything committed below it is visible to
    /// any query that starts after this call. A PgBouncer sync takes it before it reads.
    pub async fn snapshot_xmin(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let xmin: String = client.query_one("select pg_snapshot_xmin(pg_current_snapshot())::text", &[]).await?.get(0);
        xmin.parse().map_err(|_| StoreError::Codec(format!("bad xmin {xmin}")))
    }

    /// The first transaction id not yet handed out: every transaction committed before this
    /// call is below it, and it is itself handed out only later. A PgBouncer sync takes it when
    /// it is asked for (see `hostctl::sync`).
    pub async fn snapshot_xmax(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let xmax: String = client.query_one("select pg_snapshot_xmax(pg_current_snapshot())::text", &[]).await?.get(0);
        xmax.parse().map_err(|_| StoreError::Codec(format!("bad xmax {xmax}")))
    }

    /// The snapshot xmin the latest recorded PgBouncer sync of `host` rendered from (0 if none).
    pub async fn bouncer_synced_xmin(&self, host: HostId) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row =
            client.query_opt("select synced_xmin::text from bouncer_syncs where host_id = $1", &[&host.uuid()]).await?;
        let Some(row) = row else { return Ok(0) };
        let xmin: String = row.get(0);
        xmin.parse().map_err(|_| StoreError::Codec(format!("bad xmin {xmin}")))
    }

    /// Records that `host`'s PgBouncer now enforces everything committed below `xmin`.
    pub async fn record_bouncer_sync(&self, host: HostId, xmin: u64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "insert into bouncer_syncs (host_id, synced_xmin, synced_at) values ($1, $2::text::xid8, now())
                 on conflict (host_id) do update
                 set synced_xmin = greatest(bouncer_syncs.synced_xmin, excluded.synced_xmin), synced_at = now()",
                &[&host.uuid(), &xmin.to_string()],
            )
            .await?;
        Ok(())
    }

    /// Whether the latest change to `stream` is enforced by `host`'s PgBouncer.
    pub async fn bouncer_has_latest_of(&self, host: HostId, stream: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "select coalesce((select synced_xmin from bouncer_syncs where host_id = $1) > e.tx_id, false)
                 from events e where e.stream_id = $2 order by e.version desc limit 1",
                &[&host.uuid(), &stream],
            )
            .await?;
        Ok(row.map(|r| r.get(0)).unwrap_or(true))
    }
}
