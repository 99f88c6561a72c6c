//! SQL over HTTP's read models: the per-query audit (`query_log`), each database's SQL
//! settings (`sql_settings`) and its held statements (`sql_approvals`), with their
//! projections.

use chrono::{DateTime, Utc};
use domain::{
    ApiKeyId, ApprovalEvent, ApprovalId, ApprovalState, DatabaseId, QueryEvent, QueryId, QuerySource, RunOutcome,
    SqlSettings, StatementKind, UserId,
};
use uuid::Uuid;

use crate::projection::{database_owner, insert_activity, Resource};
use crate::tables::{Key, Set, Tables};
use crate::{RecordedEvent, Store, StoreError};

/// One row of the per-query audit.
#[derive(Debug, Clone)]
pub struct QueryLogRow {
    pub id: QueryId,
    pub at: DateTime<Utc>,
    pub actor_user_id: Option<UserId>,
    pub actor_api_key_id: Option<ApiKeyId>,
    pub source: QuerySource,
    pub fingerprint: String,
    pub statement: Option<String>,
    pub command: Option<String>,
    pub duration_ms: i64,
    pub row_count: Option<i64>,
    pub error: Option<String>,
    pub data_key_id: Option<String>,
    pub subject: Option<String>,
}

/// What a page of the per-query audit asks for.
#[derive(Debug, Clone, Default)]
pub struct QueryLogFilter {
    pub source: Option<QuerySource>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Rows older than this one (the cursor).
    pub before: Option<QueryId>,
}

/// A held statement, as listed.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    pub id: ApprovalId,
    pub database_id: DatabaseId,
    pub statement: String,
    pub kinds: Vec<StatementKind>,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: ApprovalState,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub result: Option<RunOutcome>,
}

impl ApprovalRow {
    /// The state as of `now`: a pending statement past its expiry is expired, whether or not
    /// anyone has tried to decide it since.
    pub fn state_at(&self, now: DateTime<Utc>) -> ApprovalState {
        if self.state == ApprovalState::Pending && now >= self.expires_at {
            ApprovalState::Expired
        } else {
            self.state
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Decode(e.to_string()))
}

fn approval_row(r: &tokio_postgres::Row) -> Result<ApprovalRow, StoreError> {
    let state: String = r.get(7);
    Ok(ApprovalRow {
        id: ApprovalId(r.get(0)),
        database_id: DatabaseId(r.get(1)),
        statement: r.get(2),
        kinds: decode(r.get(3))?,
        requested_by: UserId(r.get(4)),
        requested_at: r.get(5),
        expires_at: r.get(6),
        state: ApprovalState::parse(&state).ok_or_else(|| StoreError::Decode(format!("approval state {state}")))?,
        decided_by: r.get::<_, Option<Uuid>>(8).map(UserId),
        decided_at: r.get(9),
        result: r.get::<_, Option<serde_json::Value>>(10).map(decode).transpose()?,
    })
}

const APPROVAL_COLUMNS: &str =
    "id, database_id, statement, kinds, requested_by, requested_at, expires_at, state, decided_by, decided_at, result";

impl Store {
    /// One database's per-query audit, newest first.
    pub async fn query_log(
        &self,
        db: DatabaseId,
        f: &QueryLogFilter,
        limit: i64,
    ) -> Result<Vec<QueryLogRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select id, at, actor_user_id, actor_api_key_id, source, fingerprint, statement, command,
                        duration_ms, row_count, error, data_key_id, subject
                 from query_log
                 where database_id = $1
                   and ($2::text is null or source = $2)
                   and ($3::timestamptz is null or at >= $3)
                   and ($4::timestamptz is null or at < $4)
                   and ($5::uuid is null or id < $5)
                 order by id desc limit $6",
                &[
                    &db.uuid(),
                    &f.source.map(QuerySource::as_str),
                    &f.since,
                    &f.until,
                    &f.before.map(|q| q.uuid()),
                    &limit,
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let source: String = r.get(4);
                Ok(QueryLogRow {
                    id: QueryId(r.get(0)),
                    at: r.get(1),
                    actor_user_id: r.get::<_, Option<Uuid>>(2).map(UserId),
                    actor_api_key_id: r.get::<_, Option<Uuid>>(3).map(ApiKeyId),
                    source: QuerySource::parse(&source)
                        .ok_or_else(|| StoreError::Decode(format!("query source {source}")))?,
                    fingerprint: r.get(5),
                    statement: r.get(6),
                    command: r.get(7),
                    duration_ms: r.get(8),
                    row_count: r.get(9),
                    error: r.get(10),
                    data_key_id: r.get(11),
                    subject: r.get(12),
                })
            })
            .collect()
    }

    /// How many statements of each fingerprint failed in `db` through the API.
    pub async fn query_errors(
        &self,
        db: DatabaseId,
        fingerprints: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "select fingerprint, count(*) from query_log
                  where database_id = $1 and error is not null and fingerprint = any($2)
                  group by fingerprint",
                &[&db.uuid(), &fingerprints],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// A database's SQL settings (the defaults until changed).
    pub async fn sql_settings(&self, db: DatabaseId) -> Result<SqlSettings, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "select enabled, kinds, ttl_seconds, record_statements from sql_settings where database_id = $1",
            )
            .await?;
        let Some(r) = client.query_opt(&statement, &[&db.uuid()]).await? else {
            return Ok(SqlSettings::default());
        };
        Ok(SqlSettings {
            enabled: r.get(0),
            kinds: decode(r.get(1))?,
            ttl_seconds: u32::try_from(r.get::<_, i32>(2)).unwrap_or_default(),
            record_statements: r.get(3),
        })
    }

    /// A database's held statements, newest first, older than `before` if given.
    pub async fn approvals(
        &self,
        db: DatabaseId,
        before: Option<ApprovalId>,
        limit: i64,
    ) -> Result<Vec<ApprovalRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "select {APPROVAL_COLUMNS} from sql_approvals
                     where database_id = $1 and ($2::uuid is null or id < $2) order by id desc limit $3"
                ),
                &[&db.uuid(), &before.map(|a| a.uuid()), &limit],
            )
            .await?;
        rows.iter().map(approval_row).collect()
    }

    pub async fn approval(&self, id: ApprovalId) -> Result<ApprovalRow, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("select {APPROVAL_COLUMNS} from sql_approvals where id = $1"), &[&id.uuid()])
            .await?
            .ok_or(StoreError::NotFound)?;
        approval_row(&row)
    }
}

/// The activity row of an event about database `db`, if it has one.
pub(crate) async fn activity<T: Tables>(
    t: &mut T,
    e: &RecordedEvent,
    db: Uuid,
    activity: Option<domain::Activity>,
) -> Result<(), StoreError> {
    if let Some(activity) = activity {
        let (account, name) = database_owner(t, db).await?;
        let resource = Resource { kind: "database", id: db, name: Some(name) };
        insert_activity(t, e, account, Some(db), activity.action, resource, &activity.details).await?;
    }
    Ok(())
}

pub(crate) async fn project_query<T: Tables>(t: &mut T, e: &RecordedEvent, q: &QueryEvent) -> Result<(), StoreError> {
    let QueryEvent::QueryRan(run) = q;
    let actor = &e.metadata.actor;
    t.insert(
        "query_log",
        vec![
            ("id", run.query_id.uuid().into()),
            ("database_id", run.database_id.uuid().into()),
            ("at", e.occurred_at.into()),
            ("actor_user_id", actor.user_id.map(|u| u.uuid()).into()),
            ("actor_api_key_id", actor.api_key_id.map(|k| k.uuid()).into()),
            ("source", run.source.as_str().into()),
            ("fingerprint", run.fingerprint.as_str().into()),
            ("statement", run.statement.clone().into()),
            ("command", run.command.clone().into()),
            ("duration_ms", i64::try_from(run.duration_ms).unwrap_or(i64::MAX).into()),
            ("row_count", run.row_count.map(|n| i64::try_from(n).unwrap_or(i64::MAX)).into()),
            ("error", run.error.clone().into()),
            ("data_key_id", run.data_key_id.clone().into()),
            ("subject", run.subject.clone().into()),
        ],
    )
    .await?;
    activity(t, e, run.database_id.uuid(), q.activity()).await
}

fn json<V: serde::Serialize>(v: &V) -> Result<crate::tables::Val, StoreError> {
    Ok(serde_json::to_value(v)?.into())
}

pub(crate) async fn project_approval<T: Tables>(
    t: &mut T,
    e: &RecordedEvent,
    a: &ApprovalEvent,
) -> Result<(), StoreError> {
    use ApprovalEvent as E;
    let db = a.database_id().uuid();
    let decided = |state: ApprovalState, by: &UserId| {
        vec![
            ("state", Set::To(state.as_str().into())),
            ("decided_by", Set::To(by.uuid().into())),
            ("decided_at", Set::To(e.occurred_at.into())),
        ]
    };
    match a {
        E::SqlSettingsChanged { settings, .. } => {
            t.delete("sql_settings", Key::Eq(vec![("database_id", db.into())])).await?;
            t.insert(
                "sql_settings",
                vec![
                    ("database_id", db.into()),
                    ("enabled", settings.enabled.into()),
                    ("kinds", json(&settings.kinds)?),
                    ("ttl_seconds", i32::try_from(settings.ttl_seconds).unwrap_or(i32::MAX).into()),
                    ("record_statements", settings.record_statements.into()),
                ],
            )
            .await?;
        }
        E::StatementHeld { approval_id, statement, kinds, requested_by, expires_at, .. } => {
            t.insert(
                "sql_approvals",
                vec![
                    ("id", approval_id.uuid().into()),
                    ("database_id", db.into()),
                    ("statement", statement.into()),
                    ("kinds", json(kinds)?),
                    ("requested_by", requested_by.uuid().into()),
                    ("requested_at", e.occurred_at.into()),
                    ("expires_at", (*expires_at).into()),
                    ("state", ApprovalState::Pending.as_str().into()),
                ],
            )
            .await?;
        }
        E::StatementApproved { approval_id, decided_by, .. } => {
            t.update("sql_approvals", Key::id(approval_id.uuid()), decided(ApprovalState::Approved, decided_by))
                .await?;
        }
        E::StatementRejected { approval_id, decided_by, .. } => {
            t.update("sql_approvals", Key::id(approval_id.uuid()), decided(ApprovalState::Rejected, decided_by))
                .await?;
        }
        E::ApprovalExpired { approval_id, .. } => {
            let set = vec![("state", Set::To(ApprovalState::Expired.as_str().into()))];
            t.update("sql_approvals", Key::id(approval_id.uuid()), set).await?;
        }
        E::ApprovedStatementRan { approval_id, outcome, .. } => {
            let state = if outcome.error.is_some() { ApprovalState::Failed } else { ApprovalState::Executed };
            let set = vec![("state", Set::To(state.as_str().into())), ("result", Set::To(json(outcome)?))];
            t.update("sql_approvals", Key::id(approval_id.uuid()), set).await?;
        }
    }
    activity(t, e, db, a.activity()).await
}
