//! Read-model queries for the API and the workers.

use chrono::{DateTime, Utc};
use domain::{
    AccountId, ApiKeyId, DatabaseId, DatabaseName, DatabaseState, Engine, HostId, LockReason, OperationId,
    OperationKind, OperationState, Plan, PlatformRole, TenantHost, UserId,
};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::{decode_column, decode_opt_column};
use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub user_id: UserId,
    pub hash: String,
    pub revoked: bool,
    pub platform_role: PlatformRole,
    /// `None` for a full-account key, else the databases it is limited to.
    pub selected: Option<Vec<DatabaseId>>,
    /// Of the selected databases, those the key reaches read-only (`ro`).
    pub read_only: Vec<DatabaseId>,
}

/// A pool a host's PgBouncer should serve.
#[derive(Debug, Clone)]
pub struct HostPool {
    pub name: DatabaseName,
    /// The SCRAM verifier of the database's role.
    pub verifier: String,
    pub plan: Plan,
    /// For a database moved off this host: the pooler (host, port) it is served by now, to
    /// which this host's pooler forwards its clients.
    pub forward_to: Option<(String, u16)>,
}

/// The databases a host's pooler serves: those on it, and those moved off it (forwarded).
/// `$1` is the host; `d` the databases.
pub(crate) const SERVED_HERE: &str = "(d.host_id = $1 or exists (select 1 from database_forwards f
                             where f.database_id = d.id and f.from_host_id = $1))";

#[derive(Debug, Clone)]
pub struct DatabaseRow {
    pub id: DatabaseId,
    pub account_id: AccountId,
    pub name: DatabaseName,
    pub engine: Engine,
    /// The lifecycle state. A lock is not one: see `locked_reason`.
    pub state: DatabaseState,
    pub host_id: HostId,
    pub host: String,
    pub port: u16,
    pub operation_id: Option<OperationId>,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
    /// Why the platform holds the database locked, if it does.
    pub locked_reason: Option<LockReason>,
    /// False while the watchdog finds its host unreachable.
    pub available: bool,
}

#[derive(Debug, Clone)]
pub struct OperationRow {
    pub id: OperationId,
    pub kind: OperationKind,
    pub state: OperationState,
    pub attempts: i32,
    pub error: Option<String>,
    pub database_id: DatabaseId,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct ActivityRow {
    pub event_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_user_id: Option<UserId>,
    pub actor_api_key_id: Option<ApiKeyId>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Uuid,
    pub resource_name: Option<String>,
    pub details: serde_json::Value,
    pub seq: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    pub database_id: Option<DatabaseId>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Return entries strictly older than this sequence number.
    pub before_seq: Option<i64>,
    /// Only entries about one of these databases (a selected-databases key): account-level
    /// entries, and entries about other databases, are left out.
    pub within: Option<Vec<DatabaseId>>,
}

/// Which activity rows the caller (`$1`, an account id) may read: the one place to widen when
/// databases are shared.
const ACTIVITY_VISIBLE_TO: &str = "account_id = $1";

const DATABASE_COLUMNS: &str =
    "d.id, d.account_id, d.name, d.engine, d.state, d.host_id, h.bouncer_host, h.bouncer_port,
     d.operation_id, coalesce((select u.size_bytes from database_usage u where u.database_id = d.id), 0), d.created_at,
     d.locked_reason,
     coalesce((select s.reachable from host_status s where s.host_id = d.host_id), true)";

/// A stored database name (`databases.name`), parsed once where it is read.
pub(crate) fn database_name(raw: &str) -> Result<DatabaseName, StoreError> {
    DatabaseName::parse(raw).map_err(|e| StoreError::Decode(format!("databases.name {raw:?}: {e}")))
}

fn database_row(r: &Row) -> Result<DatabaseRow, StoreError> {
    Ok(DatabaseRow {
        id: DatabaseId(r.get(0)),
        account_id: AccountId(r.get(1)),
        name: database_name(r.get(2))?,
        engine: decode_column("databases.engine", r.get(3), Engine::parse)?,
        state: decode_column("databases.state", r.get(4), DatabaseState::parse)?,
        host_id: HostId(r.get(5)),
        host: r.get(6),
        port: r.get::<_, i32>(7) as u16,
        operation_id: r.get::<_, Option<Uuid>>(8).map(OperationId),
        size_bytes: r.get(9),
        created_at: r.get(10),
        locked_reason: decode_opt_column("databases.locked_reason", r.get(11), LockReason::parse)?,
        available: r.get(12),
    })
}

pub(crate) fn host_row(r: &Row) -> TenantHost {
    TenantHost {
        id: HostId(r.get("id")),
        name: r.get("name"),
        pg_host: r.get("pg_host"),
        pg_port: r.get::<_, i32>("pg_port") as u16,
        superuser: r.get("superuser"),
        bouncer_host: r.get("bouncer_host"),
        bouncer_port: r.get::<_, i32>("bouncer_port") as u16,
        admin_user: r.get("admin_user"),
        config_dir: r.get("config_dir"),
        // Only engines this Berth knows are ever registered.
        engine: Engine::parse(r.get("engine")).unwrap_or(Engine::Postgres),
        region: r.get("region"),
        state: domain::HostState::parse(r.get("state")).unwrap_or_default(),
    }
}

impl Store {
    pub async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &client
                    .prepare_cached(
                        "select k.id, k.account_id, k.user_id, k.hash, k.revoked_at is not null, u.platform_role,
                        k.scope, k.database_ids, k.read_only_ids
                 from api_keys k join users u on u.id = k.user_id where k.prefix = $1",
                    )
                    .await?,
                &[&prefix],
            )
            .await?;
        row.map(|r| {
            Ok(ApiKeyRow {
                id: ApiKeyId(r.get(0)),
                account_id: AccountId(r.get(1)),
                user_id: UserId(r.get(2)),
                hash: r.get(3),
                revoked: r.get(4),
                platform_role: decode_column("users.platform_role", r.get(5), PlatformRole::parse)?,
                selected: (r.get::<_, &str>(6) == "selected")
                    .then(|| r.get::<_, Vec<Uuid>>(7).into_iter().map(DatabaseId).collect()),
                read_only: r.get::<_, Vec<Uuid>>(8).into_iter().map(DatabaseId).collect(),
            })
        })
        .transpose()
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<(UserId, AccountId)>, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt("select id, account_id from users where email = $1", &[&email]).await?;
        Ok(row.map(|r| (UserId(r.get(0)), AccountId(r.get(1)))))
    }

    pub async fn hosts(&self) -> Result<Vec<TenantHost>, StoreError> {
        let client = self.client().await?;
        let rows = client.query("select * from hosts where state <> 'removed' order by created_at", &[]).await?;
        Ok(rows.iter().map(host_row).collect())
    }

    pub async fn host(&self, id: HostId) -> Result<TenantHost, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt("select * from hosts where id = $1", &[&id.uuid()]).await?;
        row.as_ref().map(host_row).ok_or(StoreError::NotFound)
    }

    /// Placement: among the ready hosts of `engine` (in `region`, when given) with a free
    /// slot and not seen unreachable by the watchdog, the least loaded. Without a region, the
    /// default region's hosts come first while one has room (a deployment's other regions are
    /// for those who ask for them). The create's append checks the slot again under the
    /// host's lock ([`crate::Extra::HostCapacity`]).
    pub async fn pick_host(&self, engine: Engine, region: Option<&str>) -> Result<Option<TenantHost>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "select h.* from hosts h
                 left join databases d on d.host_id = h.id and d.state <> 'deleted'
                 left join host_status s on s.host_id = h.id
                 where h.engine = $1 and h.state = 'ready' and ($2::text is null or h.region = $2)
                   and coalesce(s.reachable, true)
                 group by h.id
                 having count(d.id) < h.capacity
                 order by ($2::text is null and h.region <> $3), count(d.id), h.created_at
                 limit 1",
                &[&engine.as_str(), &region, &domain::DEFAULT_REGION],
            )
            .await?;
        Ok(row.as_ref().map(host_row))
    }

    /// The regions of the hosts that are not removed.
    pub async fn host_regions(&self) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows = client.query("select distinct region from hosts where state <> 'removed' order by 1", &[]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The tenant pools a host's PgBouncer should serve: every database not deleted nor failed, with the
    /// SCRAM verifier of its role and the plan of its account (which caps its pool).
    pub async fn host_pools(&self, host: HostId) -> Result<Vec<HostPool>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select d.name, v.verifier, a.plan, t.bouncer_host, t.bouncer_port from databases d
                 join role_verifiers v on v.database_id = d.id
                 join accounts a on a.id = d.account_id
                 left join database_forwards f on f.database_id = d.id and f.from_host_id = $1
                 left join hosts t on t.id = f.to_host_id
                 where (d.host_id = $1 or f.from_host_id is not null)
                   and d.state not in ('deleted', 'deleting', 'failed')
                 order by d.name",
                &[&host.uuid()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let name = database_name(r.get(0))?;
                let plan = decode_column("accounts.plan", r.get(2), Plan::parse)?;
                let port: Option<i32> = r.get(4);
                let forward_to = r.get::<_, Option<String>>(3).zip(port.and_then(|p| u16::try_from(p).ok()));
                Ok(HostPool { name, verifier: r.get(1), plan, forward_to })
            })
            .collect()
    }

    /// The pools a host's PgBouncer should refuse clients of: stopped databases (unless a
    /// start is under way), databases being stopped, and locked databases.
    pub async fn host_closed_pools(&self, host: HostId) -> Result<Vec<DatabaseName>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select d.name from databases d left join operations o on o.id = d.operation_id
                     where {SERVED_HERE}
                       and ((d.state = 'stopped' and coalesce(o.kind, '') <> 'start')
                            or (d.state = 'running' and o.kind = 'stop')
                            or (d.state <> 'deleted' and d.locked_reason is not null)
                            or (d.moving_to is not null and d.host_id = $1))
                     order by d.name"
                ),
                &[&host.uuid()],
            )
            .await?;
        rows.iter().map(|r| database_name(r.get(0))).collect()
    }

    pub async fn database(&self, id: DatabaseId) -> Result<DatabaseRow, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &client
                    .prepare_cached(&format!(
                        "select {DATABASE_COLUMNS} from databases d join hosts h on h.id = d.host_id where d.id = $1"
                    ))
                    .await?,
                &[&id.uuid()],
            )
            .await?;
        row.as_ref().map(database_row).transpose()?.ok_or(StoreError::NotFound)
    }

    /// The databases a user sees: their account's and those shared with them (with the
    /// collaborator role), not deleted, oldest first, after `after` (a cursor); limited to
    /// `only` when the caller's key is scoped to some databases.
    pub async fn visible_databases(
        &self,
        account: AccountId,
        user: UserId,
        only: Option<&[DatabaseId]>,
        after: Option<DatabaseId>,
        limit: i64,
    ) -> Result<Vec<(DatabaseRow, Option<String>)>, StoreError> {
        let client = self.client().await?;
        let after = after.map(|a| a.uuid()).unwrap_or(Uuid::nil());
        let only: Option<Vec<Uuid>> = only.map(|ids| ids.iter().map(|d| d.uuid()).collect());
        let rows = client
            .query(
                &client
                    .prepare_cached(&format!(
                        "select {DATABASE_COLUMNS}, c.role from databases d join hosts h on h.id = d.host_id
                     left join collaborators c on c.database_id = d.id and c.user_id = $2
                     where (d.account_id = $1 or c.user_id is not null) and d.state <> 'deleted' and d.id > $3
                       and ($4::uuid[] is null or d.id = any($4))
                     order by d.id limit $5"
                    ))
                    .await?,
                &[&account.uuid(), &user.uuid(), &after, &only, &limit],
            )
            .await?;
        rows.iter().map(|r| Ok((database_row(r)?, r.get::<_, Option<String>>(13)))).collect()
    }

    /// Operations still pending or running that were requested before `before`, oldest
    /// first (at most `limit`): what the reconciler of stuck operations looks at.
    pub async fn unfinished_operations(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OperationRow>, StoreError> {
        let client = self.client().await?;
        let sql = "select id, kind, state, attempts, error, database_id, created_at, finished_at
                   from operations where state in ('pending', 'running') and created_at < $1
                   order by created_at limit $2";
        let rows = client.query(&client.prepare_cached(sql).await?, &[&before, &limit]).await?;
        rows.iter().map(operation_row).collect()
    }

    pub async fn operation(&self, id: OperationId) -> Result<(OperationRow, AccountId), StoreError> {
        let client = self.client().await?;
        let r = client
            .query_opt(
                &client
                    .prepare_cached(
                        "select id, kind, state, attempts, error, database_id, created_at, finished_at, account_id
                 from operations where id = $1",
                    )
                    .await?,
                &[&id.uuid()],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((operation_row(&r)?, AccountId(r.get(8))))
    }

    /// An account's activity, newest first. Only rows the audit consumer has numbered are
    /// listed: numbers follow the commit order, so a page boundary never moves.
    pub async fn activity(
        &self,
        account: AccountId,
        f: &ActivityFilter,
        limit: i64,
    ) -> Result<Vec<ActivityRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select event_id, at, actor_user_id, actor_api_key_id, action, resource_type, resource_id,
                        resource_name, details, seq
                 from activity
                 where {ACTIVITY_VISIBLE_TO} and seq is not null
                   and ($2::uuid is null or database_id = $2)
                   and ($3::text is null or action = $3)
                   and ($4::timestamptz is null or at >= $4)
                   and ($5::timestamptz is null or at < $5)
                   and ($6::bigint is null or seq < $6)
                   and ($8::uuid[] is null or database_id = any($8))
                 order by seq desc limit $7"
                ),
                &[
                    &account.uuid(),
                    &f.database_id.map(|d| d.uuid()),
                    &f.action,
                    &f.since,
                    &f.until,
                    &f.before_seq,
                    &limit,
                    &f.within.as_ref().map(|ids| ids.iter().map(|d| d.uuid()).collect::<Vec<Uuid>>()),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ActivityRow {
                event_id: r.get(0),
                at: r.get(1),
                actor_user_id: r.get::<_, Option<Uuid>>(2).map(UserId),
                actor_api_key_id: r.get::<_, Option<Uuid>>(3).map(ApiKeyId),
                action: r.get(4),
                resource_type: r.get(5),
                resource_id: r.get(6),
                resource_name: r.get(7),
                details: r.get(8),
                seq: r.get::<_, Option<i64>>(9).unwrap_or_default(),
            })
            .collect())
    }

    /// The role verifier stored for a database (the job that creates its role reads it).
    pub async fn role_verifier(&self, id: DatabaseId) -> Result<String, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached("select verifier from role_verifiers where database_id = $1").await?;
        let row = client.query_opt(&statement, &[&id.uuid()]).await?;
        row.map(|r| r.get(0)).ok_or(StoreError::NotFound)
    }
}

impl Store {
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        Ok(client.query_one("select count(*) from users", &[]).await?.get(0))
    }
}

/// An `operations` row whose first eight columns are `id, kind, state, attempts, error,
/// database_id, created_at, finished_at`.
fn operation_row(r: &Row) -> Result<OperationRow, StoreError> {
    Ok(OperationRow {
        id: OperationId(r.get(0)),
        kind: decode_column("operations.kind", r.get(1), OperationKind::parse)?,
        state: decode_column("operations.state", r.get(2), OperationState::parse)?,
        attempts: r.get(3),
        error: r.get(4),
        database_id: DatabaseId(r.get(5)),
        created_at: r.get(6),
        finished_at: r.get(7),
    })
}
