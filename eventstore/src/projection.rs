//! Read models as a function of events. `project` runs inside the append transaction (so
//! the API reads its writes) and again, unchanged, when the models are rebuilt by replay.
//! Timestamps come from the event, never from the clock, so a replay reproduces them.
//! Activity rows are written here without a `seq`; the audit consumer numbers them in commit
//! order (`audit::sequence_activity`), and only numbered rows are listed.

use deadpool_postgres::Transaction;
use domain::{DatabaseEvent, DatabaseState, HostEvent, OperationKind, OperationState, TenantSqlEvent};
use uuid::Uuid;

use crate::codec::{decode, Decoded};
use crate::tables::{Key, Set, SqlTables, Tables, Val};
use crate::{RecordedEvent, StoreError};

/// The live path: projects `e` with statements in the append transaction.
pub(crate) async fn project(tx: &Transaction<'_>, e: &RecordedEvent) -> Result<(), StoreError> {
    project_into(&mut SqlTables::new(tx), e).await
}

pub(crate) async fn project_into<T: Tables>(t: &mut T, e: &RecordedEvent) -> Result<(), StoreError> {
    project_decoded(t, e, decode(e)?).await
}

/// Projects `e`, already decoded (replay decodes straight from the column's bytes).
pub(crate) async fn project_decoded<T: Tables>(
    t: &mut T,
    e: &RecordedEvent,
    decoded: Decoded,
) -> Result<(), StoreError> {
    match decoded {
        Decoded::Database(d) => project_database(t, e, &d).await,
        Decoded::Account(a) => crate::projection_accounts::project_account(t, e, &a).await,
        Decoded::Collaborators(a) => crate::projection_accounts::project_collaborators(t, e, &a).await,
        Decoded::Host(h) => project_host(t, e, &h).await,
        Decoded::Allowlist(a) => crate::allowlists::project_allowlist(t, e, &a).await,
        Decoded::DatabaseUser(u) => crate::dbusers::project_user(t, e, &u).await,
        Decoded::Backup(b) => crate::backups::project_backup(t, e, &b).await,
        Decoded::Query(q) => crate::sql::project_query(t, e, &q).await,
        Decoded::Approval(a) => crate::sql::project_approval(t, e, &a).await,
        Decoded::TenantSql(s) => project_tenant_sql(t, e, &s).await,
        Decoded::DataApi(d) => crate::data_api::project_data_api(t, e, &d).await,
        Decoded::Unprojected => Ok(()),
    }
}

/// Migrations and dumps: the activity log only (the applied migrations themselves are listed
/// from the tenant's own `berth.schema_migrations`).
async fn project_tenant_sql<T: Tables>(t: &mut T, e: &RecordedEvent, s: &TenantSqlEvent) -> Result<(), StoreError> {
    if let Some(activity) = s.activity() {
        let db = s.database_id().uuid();
        let (account, name) = database_owner(t, db).await?;
        let resource = Resource { kind: "database", id: db, name: Some(name) };
        insert_activity(t, e, account, Some(db), activity.action, resource, &activity.details).await?;
    }
    Ok(())
}

async fn project_host<T: Tables>(t: &mut T, e: &RecordedEvent, h: &HostEvent) -> Result<(), StoreError> {
    let state = match h {
        HostEvent::HostAddressChanged { host_id, pg_host } => {
            let set = vec![("pg_host", Set::To(pg_host.into()))];
            return t.update("hosts", Key::id(host_id.uuid()), set).await;
        }
        HostEvent::HostRegistered { .. } => None,
        HostEvent::HostCordoned { .. } => Some(domain::HostState::Cordoned),
        HostEvent::HostUncordoned { .. } => Some(domain::HostState::Ready),
        HostEvent::HostDraining { .. } => Some(domain::HostState::Draining),
        HostEvent::HostRemoved { .. } => Some(domain::HostState::Removed),
    };
    if let Some(state) = state {
        let id = h.host_id().uuid();
        t.update("hosts", Key::id(id), vec![("state", Set::To(state.as_str().into()))]).await?;
        // An operator's action: in the acting admin's own activity log.
        let (Some(activity), Some(user)) = (h.activity(), e.metadata.actor.user_id) else { return Ok(()) };
        let Some(row) = t.get("users", Key::id(user.uuid()), &["account_id"]).await? else { return Ok(()) };
        let account = row[0].uuid()?;
        let name = match t.get("hosts", Key::id(id), &["name"]).await? {
            Some(r) => r[0].text()?,
            None => None,
        };
        let resource = Resource { kind: "host", id, name };
        return insert_activity(t, e, account, None, activity.action, resource, &activity.details).await;
    }
    let HostEvent::HostRegistered {
        host_id,
        name,
        pg_host,
        pg_port,
        superuser,
        bouncer_host,
        bouncer_port,
        admin_user,
        config_dir,
        capacity,
        engine,
        region,
    } = h
    else {
        return Ok(());
    };
    t.insert(
        "hosts",
        vec![
            ("id", host_id.uuid().into()),
            ("name", name.into()),
            ("pg_host", pg_host.into()),
            ("pg_port", i32::from(*pg_port).into()),
            ("superuser", superuser.into()),
            ("bouncer_host", bouncer_host.into()),
            ("bouncer_port", i32::from(*bouncer_port).into()),
            ("admin_user", admin_user.into()),
            ("config_dir", config_dir.into()),
            ("capacity", (*capacity as i32).into()),
            ("engine", engine.into()),
            ("region", region.into()),
            ("created_at", e.occurred_at.into()),
        ],
    )
    .await
}

/// The owning account and name of a database (activity rows carry both).
pub(crate) async fn database_owner<T: Tables>(t: &mut T, db: Uuid) -> Result<(Uuid, String), StoreError> {
    let row = t.must_get("databases", Key::id(db), &["account_id", "name"]).await?;
    Ok((row[0].uuid()?, row[1].text()?.unwrap_or_default()))
}

async fn project_database<T: Tables>(t: &mut T, e: &RecordedEvent, d: &DatabaseEvent) -> Result<(), StoreError> {
    use DatabaseEvent as E;
    let at = e.occurred_at;
    let db = d.database_id().uuid();
    match d {
        E::DatabaseCreationRequested { name, account_id, host_id, operation_id, engine, .. } => {
            t.insert(
                "databases",
                vec![
                    ("id", db.into()),
                    ("account_id", account_id.uuid().into()),
                    ("name", name.as_str().into()),
                    ("engine", engine.into()),
                    ("state", DatabaseState::Provisioning.as_str().into()),
                    ("host_id", host_id.uuid().into()),
                    ("operation_id", operation_id.uuid().into()),
                    ("created_at", at.into()),
                    ("updated_at", at.into()),
                ],
            )
            .await?;
            insert_operation(t, operation_id.uuid(), OperationKind::Provision, db, account_id.uuid(), e).await?;
        }
        E::OperationAttemptStarted { operation_id, attempt, .. } => {
            t.update(
                "operations",
                Key::id(operation_id.uuid()),
                vec![
                    ("state", Set::To(OperationState::Running.as_str().into())),
                    ("attempts", Set::To((*attempt as i32).into())),
                ],
            )
            .await?;
        }
        E::DatabaseProvisioned { operation_id, .. } => {
            set_database_state(t, db, DatabaseState::Running, None, e).await?;
            finish_operation(t, operation_id.uuid(), OperationState::Succeeded, None, e).await?;
        }
        E::DatabaseDeletionRequested { operation_id, .. } => {
            set_database_state(t, db, DatabaseState::Deleting, Some(operation_id.uuid()), e).await?;
            let (account, _) = database_owner(t, db).await?;
            insert_operation(t, operation_id.uuid(), OperationKind::Delete, db, account, e).await?;
        }
        E::DatabaseDeleted { operation_id, .. } => {
            // Its forwards stay: the poolers that held them render without it (a deleted
            // database is served nowhere) when its deletion syncs them.
            set_database_state(t, db, DatabaseState::Deleted, None, e).await?;
            finish_operation(t, operation_id.uuid(), OperationState::Succeeded, None, e).await?;
        }
        E::OperationFailed { operation_id, error, kind, .. } => {
            if *kind == OperationKind::Move {
                t.update("databases", Key::id(db), vec![("moving_to", Set::To(Val::Null))]).await?;
            }
            if kind.is_maintenance() {
                set_database_operation(t, db, None, e).await?;
            } else {
                set_database_state(t, db, DatabaseState::Failed, None, e).await?;
            }
            finish_operation(t, operation_id.uuid(), OperationState::Failed, Some(error), e).await?;
        }
        E::DatabaseStopRequested { .. }
        | E::DatabaseStartRequested { .. }
        | E::DatabaseRestartRequested { .. }
        | E::PasswordResetRequested { .. } => {
            // Each of these four is a requested maintenance: it has a kind.
            if let Some((operation_id, kind)) = d.requested_maintenance() {
                set_database_operation(t, db, Some(operation_id.uuid()), e).await?;
                let (account, _) = database_owner(t, db).await?;
                insert_operation(t, operation_id.uuid(), kind, db, account, e).await?;
            }
        }
        E::DatabaseStopped { operation_id, .. } | E::DatabaseStarted { operation_id, .. } => {
            let state =
                if matches!(d, E::DatabaseStopped { .. }) { DatabaseState::Stopped } else { DatabaseState::Running };
            set_database_state(t, db, state, None, e).await?;
            finish_operation(t, operation_id.uuid(), OperationState::Succeeded, None, e).await?;
        }
        E::DatabaseRestarted { operation_id, .. } | E::PasswordReset { operation_id, .. } => {
            set_database_operation(t, db, None, e).await?;
            finish_operation(t, operation_id.uuid(), OperationState::Succeeded, None, e).await?;
        }
        E::DatabaseLocked { reason, .. } => set_database_lock(t, db, Some(reason.as_str()), e).await?,
        E::DatabaseUnlocked { .. } => set_database_lock(t, db, None, e).await?,
        E::OperationAbandoned { operation_id, reason, .. } => {
            finish_operation(t, operation_id.uuid(), OperationState::Failed, Some(reason), e).await?;
        }
        // In the log for the audit trail; the operation stays as it is until its job ends it.
        E::OperationRequeued { .. } => {}
        E::DatabaseMoveRequested { operation_id, to_host_id, .. } => {
            set_database_operation(t, db, Some(operation_id.uuid()), e).await?;
            t.update("databases", Key::id(db), vec![("moving_to", Set::To(to_host_id.uuid().into()))]).await?;
            let (account, _) = database_owner(t, db).await?;
            insert_operation(t, operation_id.uuid(), OperationKind::Move, db, account, e).await?;
        }
        E::DatabaseHostSwitched { from_host_id, to_host_id, .. } => {
            let set = vec![
                ("host_id", Set::To(to_host_id.uuid().into())),
                ("moving_to", Set::To(Val::Null)),
                ("updated_at", Set::To(at.into())),
            ];
            t.update("databases", Key::id(db), set).await?;
            // The new host serves the name itself now; the old one forwards to it, and so do
            // older forwards (each forwards straight to where the database is, never by hops).
            let here = Key::Eq(vec![("database_id", db.into()), ("from_host_id", to_host_id.uuid().into())]);
            t.delete("database_forwards", here).await?;
            let older = Key::Eq(vec![("database_id", db.into())]);
            t.update("database_forwards", older, vec![("to_host_id", Set::To(to_host_id.uuid().into()))]).await?;
            t.insert(
                "database_forwards",
                vec![
                    ("database_id", db.into()),
                    ("from_host_id", from_host_id.uuid().into()),
                    ("to_host_id", to_host_id.uuid().into()),
                    ("created_at", at.into()),
                ],
            )
            .await?;
        }
        E::DatabaseMoved { operation_id, .. } => {
            set_database_operation(t, db, None, e).await?;
            finish_operation(t, operation_id.uuid(), OperationState::Succeeded, None, e).await?;
        }
    }
    if let Some(activity) = d.activity() {
        let (account, name) = database_owner(t, db).await?;
        let resource = Resource { kind: "database", id: db, name: Some(name) };
        insert_activity(t, e, account, Some(db), activity.action, resource, &activity.details).await?;
    }
    Ok(())
}

async fn set_database_state<T: Tables>(
    t: &mut T,
    db: Uuid,
    state: DatabaseState,
    operation: Option<Uuid>,
    e: &RecordedEvent,
) -> Result<(), StoreError> {
    let set = vec![
        ("state", Set::To(state.as_str().into())),
        ("operation_id", Set::To(operation.into())),
        ("updated_at", Set::To(e.occurred_at.into())),
    ];
    t.update("databases", Key::id(db), set).await
}

async fn set_database_lock<T: Tables>(
    t: &mut T,
    db: Uuid,
    reason: Option<&str>,
    e: &RecordedEvent,
) -> Result<(), StoreError> {
    let set = vec![("locked_reason", Set::To(reason.into())), ("updated_at", Set::To(e.occurred_at.into()))];
    t.update("databases", Key::id(db), set).await
}

async fn set_database_operation<T: Tables>(
    t: &mut T,
    db: Uuid,
    operation: Option<Uuid>,
    e: &RecordedEvent,
) -> Result<(), StoreError> {
    let set = vec![("operation_id", Set::To(operation.into())), ("updated_at", Set::To(e.occurred_at.into()))];
    t.update("databases", Key::id(db), set).await
}

pub(crate) async fn insert_operation<T: Tables>(
    t: &mut T,
    id: Uuid,
    kind: OperationKind,
    db: Uuid,
    account: Uuid,
    e: &RecordedEvent,
) -> Result<(), StoreError> {
    t.insert(
        "operations",
        vec![
            ("id", id.into()),
            ("kind", kind.as_str().into()),
            ("state", OperationState::Pending.as_str().into()),
            ("database_id", db.into()),
            ("account_id", account.into()),
            ("created_at", e.occurred_at.into()),
        ],
    )
    .await
}

pub(crate) async fn finish_operation<T: Tables>(
    t: &mut T,
    id: Uuid,
    state: OperationState,
    error: Option<&String>,
    e: &RecordedEvent,
) -> Result<(), StoreError> {
    let set = vec![
        ("state", Set::To(state.as_str().into())),
        ("error", Set::To(error.into())),
        ("finished_at", Set::To(e.occurred_at.into())),
    ];
    t.update("operations", Key::id(id), set).await
}

/// What an activity row is about.
pub(crate) struct Resource {
    pub kind: &'static str,
    pub id: Uuid,
    pub name: Option<String>,
}

pub(crate) async fn insert_activity<T: Tables>(
    t: &mut T,
    e: &RecordedEvent,
    account: Uuid,
    database: Option<Uuid>,
    action: &str,
    resource: Resource,
    details: &serde_json::Value,
) -> Result<(), StoreError> {
    let actor = &e.metadata.actor;
    t.insert(
        "activity",
        vec![
            ("event_id", e.event_id.into()),
            ("account_id", account.into()),
            ("database_id", database.into()),
            ("at", e.occurred_at.into()),
            ("actor_user_id", actor.user_id.map(|u| u.uuid()).into()),
            ("actor_api_key_id", actor.api_key_id.map(|k| k.uuid()).into()),
            ("action", action.into()),
            ("resource_type", resource.kind.into()),
            ("resource_id", resource.id.into()),
            ("resource_name", resource.name.into()),
            ("details", details.clone().into()),
        ],
    )
    .await
}
