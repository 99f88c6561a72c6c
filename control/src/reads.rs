//! Read use cases that are a check and a query: one database's or the account's activity,
//! an operation, the platform's incidents and accounts (platform admins).

use domain::{AccountId, DatabaseId, IncidentId, OperationId, Plan, PlatformRole};
use eventstore::accounts::{AccountFilter, AccountRow};
use eventstore::incidents::{IncidentFilter, IncidentRow};
use eventstore::queries::{ActivityFilter, ActivityRow, OperationRow};

use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::Error;
use crate::Control;

/// A page's size: 50 unless asked, at most 200.
pub fn page_limit(limit: Option<i64>) -> Result<i64, Error> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(Error::InvalidRequest("invalid field `limit`: must be between 1 and 200".into())),
    }
}

/// A page of rows: the rows and the cursor of the next page (when the page is full).
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    pub(crate) fn of(rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Self {
        let next_cursor = (rows.len() as i64 == limit).then(|| rows.last().map(&cursor)).flatten();
        Self { rows, next_cursor }
    }
}

/// What an activity page asks for, besides the database and the caller's scope.
pub struct ActivityQuery {
    pub action: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The caller's account activity (or one database's, `database`), newest first. A
/// selected-databases key sees only its databases' entries, never the account's others.
pub async fn activity(
    ctx: &Control,
    caller: &Caller,
    database: Option<&str>,
    q: ActivityQuery,
) -> Result<Paged<ActivityRow>, Error> {
    let scope: Option<DatabaseId> = match database {
        Some(id) => Some(load_authorized(ctx, caller, id, Action::View).await?.0.id),
        None => None,
    };
    let limit = page_limit(q.limit)?;
    let before_seq = match &q.cursor {
        Some(c) => Some(c.parse::<i64>().map_err(|_| Error::InvalidRequest("invalid field `cursor`".into()))?),
        None => None,
    };
    let filter = ActivityFilter {
        database_id: scope,
        action: q.action,
        since: q.since,
        until: q.until,
        before_seq,
        within: caller.selected.clone(),
    };
    let rows = ctx.store.activity(caller.account_id, &filter, limit).await?;
    Ok(Paged::of(rows, limit, |a| a.seq.to_string()))
}

/// An operation of the caller's account (within a selected-databases key's reach).
pub async fn operation(ctx: &Control, caller: &Caller, id: &str) -> Result<OperationRow, Error> {
    let id = OperationId::parse(id).map_err(|_| Error::NotFound("operation"))?;
    let (op, account) = match ctx.store.operation(id).await {
        Ok(found) => found,
        Err(eventstore::StoreError::NotFound) => return Err(Error::NotFound("operation")),
        Err(e) => return Err(e.into()),
    };
    if account != caller.account_id || !caller.in_scope(op.database_id) {
        return Err(Error::NotFound("operation"));
    }
    Ok(op)
}

/// A platform admin acting for the whole platform: an admin's key limited to selected
/// databases is refused (`KEY_SCOPE_DENIED`).
fn require_admin(caller: &Caller, refusal: &'static str) -> Result<(), Error> {
    match caller.platform_role {
        PlatformRole::Admin => caller.require_full_account(),
        PlatformRole::User => Err(Error::Forbidden(refusal)),
    }
}

const INCIDENTS_REFUSED: &str = "only platform admins may read or resolve incidents";

/// Which incidents a page asks for.
pub struct IncidentQuery {
    /// `open` or `resolved`.
    pub state: Option<String>,
    pub kind: Option<String>,
    pub resource: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// System incidents, newest first.
pub async fn incidents(ctx: &Control, caller: &Caller, q: IncidentQuery) -> Result<Paged<IncidentRow>, Error> {
    require_admin(caller, INCIDENTS_REFUSED)?;
    let limit = page_limit(q.limit)?;
    if q.state.as_deref().is_some_and(|s| s != "open" && s != "resolved") {
        return Err(Error::InvalidRequest("invalid field `state`: must be open or resolved".into()));
    }
    let before = match &q.cursor {
        Some(c) => Some(IncidentId::parse(c).map_err(|_| Error::InvalidRequest("invalid field `cursor`".into()))?.0),
        None => None,
    };
    let filter = IncidentFilter { state: q.state, kind: q.kind, resource_id: q.resource, before };
    let rows = ctx.store.incidents(&filter, limit).await?;
    Ok(Paged::of(rows, limit, |i| IncidentId(i.id).to_string()))
}

/// Resolves an incident (resolving a resolved one is a no-op).
pub async fn resolve_incident(ctx: &Control, caller: &Caller, id: &str) -> Result<IncidentRow, Error> {
    require_admin(caller, INCIDENTS_REFUSED)?;
    let id = IncidentId::parse(id).map_err(|_| Error::NotFound("incident"))?;
    let row = match ctx.store.resolve_incident_by_id(id.0).await {
        Err(eventstore::StoreError::NotFound) => return Err(Error::NotFound("incident")),
        other => other?,
    };
    tracing::info!(incident = %id, kind = %row.kind, "incident resolved by an operator");
    Ok(row)
}

/// Which accounts a page asks for.
pub struct AccountQuery {
    pub plan: Option<String>,
    /// The owner's email (empty: any).
    pub email: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Every account of the platform, newest first, by plan or owner's email (platform admins).
pub async fn accounts(ctx: &Control, caller: &Caller, q: AccountQuery) -> Result<Paged<AccountRow>, Error> {
    caller.require_platform_admin()?;
    caller.require_full_account()?;
    let limit = page_limit(q.limit)?;
    let plan = match q.plan.as_deref() {
        Some(p) => Some(
            Plan::parse(p)
                .ok_or_else(|| Error::InvalidRequest("invalid field `plan`: `free`, `pro` or `business`".into()))?,
        ),
        None => None,
    };
    let before = match &q.cursor {
        Some(c) => Some(AccountId::parse(c).map_err(|_| Error::InvalidRequest("invalid field `cursor`".into()))?),
        None => None,
    };
    let filter = AccountFilter { plan, email: q.email.filter(|e| !e.is_empty()), before: before.map(|b| b.uuid()) };
    let rows = ctx.store.accounts(&filter, limit).await?;
    Ok(Paged::of(rows, limit, |a| a.id.to_string()))
}
