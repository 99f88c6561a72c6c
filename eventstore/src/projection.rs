//! Read models as a function of events. `project` runs inside the append transaction (so
//! the API reads its writes) and again, unchanged, when the models are rebuilt by replay.
//! Timestamps come from the event, never from the clock, so a replay reproduces them.
//! Activity rows are written here without a `seq`; the audit consumer numbers them in commit
//! order (`audit::sequence_activity`), and only numbered rows are listed.

use domain::{DatabaseEvent, HostEvent};
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::codec::{decode, Decoded};
use crate::{RecordedEvent, StoreError};

pub(crate) async fn project(tx: &Transaction<'_>, e: &RecordedEvent) -> Result<(), StoreError> {
    match decode(e)? {
        Decoded::Database(d) => project_database(tx, e, &d).await,
        Decoded::Account(a) => crate::projection_access::project_account(tx, e, &a).await,
        Decoded::Access(a) => crate::projection_access::project_access(tx, e, &a).await,
        Decoded::Host(h) => project_host(tx, e, &h).await,
        Decoded::Allowlist(a) => crate::access::project_allowlist(tx, e, &a).await,
        Decoded::DatabaseUser(u) => crate::dbusers::project_user(tx, e, &u).await,
        Decoded::Backup(b) => crate::backups::project_backup(tx, e, &b).await,
        Decoded::Unprojected => Ok(()),
    }
}

async fn project_host(tx: &Transaction<'_>, e: &RecordedEvent, h: &HostEvent) -> Result<(), StoreError> {
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
    } = h;
    tx.execute(
        "insert into hosts (id, name, pg_host, pg_port, superuser, bouncer_host, bouncer_port, admin_user,
                            config_dir, capacity, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &host_id.uuid(),
            name,
            pg_host,
            &i32::from(*pg_port),
            superuser,
            bouncer_host,
            &i32::from(*bouncer_port),
            admin_user,
            config_dir,
            &(*capacity as i32),
            &e.occurred_at,
        ],
    )
    .await?;
    Ok(())
}

async fn project_database(tx: &Transaction<'_>, e: &RecordedEvent, d: &DatabaseEvent) -> Result<(), StoreError> {
    use DatabaseEvent as E;
    let at = e.occurred_at;
    let db = d.database_id().uuid();
    match d {
        E::DatabaseCreationRequested { name, account_id, host_id, operation_id, engine, .. } => {
            tx.execute(
                "insert into databases (id, account_id, name, engine, state, host_id, operation_id, created_at, updated_at)
                 values ($1, $2, $3, $4, 'provisioning', $5, $6, $7, $7)",
                &[&db, &account_id.uuid(), &name.as_str(), engine, &host_id.uuid(), &operation_id.uuid(), &at],
            )
            .await?;
            insert_operation(tx, operation_id.uuid(), "provision", db, account_id.uuid(), e).await?;
        }
        E::OperationAttemptStarted { operation_id, attempt, .. } => {
            tx.execute(
                "update operations set state = 'running', attempts = $2 where id = $1",
                &[&operation_id.uuid(), &(*attempt as i32)],
            )
            .await?;
        }
        E::DatabaseProvisioned { operation_id, .. } => {
            set_database_state(tx, db, "running", None, e).await?;
            finish_operation(tx, operation_id.uuid(), "succeeded", None, e).await?;
        }
        E::DatabaseDeletionRequested { operation_id, .. } => {
            set_database_state(tx, db, "deleting", Some(operation_id.uuid()), e).await?;
            let account: Uuid = tx.query_one("select account_id from databases where id = $1", &[&db]).await?.get(0);
            insert_operation(tx, operation_id.uuid(), "delete", db, account, e).await?;
        }
        E::DatabaseDeleted { operation_id, .. } => {
            set_database_state(tx, db, "deleted", None, e).await?;
            finish_operation(tx, operation_id.uuid(), "succeeded", None, e).await?;
        }
        E::OperationFailed { operation_id, error, kind, .. } => {
            if kind.is_maintenance() {
                set_database_operation(tx, db, None, e).await?;
            } else {
                set_database_state(tx, db, "failed", None, e).await?;
            }
            finish_operation(tx, operation_id.uuid(), "failed", Some(error), e).await?;
        }
        E::DatabaseStopRequested { operation_id, .. }
        | E::DatabaseStartRequested { operation_id, .. }
        | E::DatabaseRestartRequested { operation_id, .. }
        | E::PasswordResetRequested { operation_id, .. } => {
            let kind = d.requested_maintenance().map(|(_, k)| k.as_str()).unwrap_or("maintenance");
            set_database_operation(tx, db, Some(operation_id.uuid()), e).await?;
            let account: Uuid = tx.query_one("select account_id from databases where id = $1", &[&db]).await?.get(0);
            insert_operation(tx, operation_id.uuid(), kind, db, account, e).await?;
        }
        E::DatabaseStopped { operation_id, .. } | E::DatabaseStarted { operation_id, .. } => {
            let state = if matches!(d, E::DatabaseStopped { .. }) { "stopped" } else { "running" };
            set_database_state(tx, db, state, None, e).await?;
            finish_operation(tx, operation_id.uuid(), "succeeded", None, e).await?;
        }
        E::DatabaseRestarted { operation_id, .. } | E::PasswordReset { operation_id, .. } => {
            set_database_operation(tx, db, None, e).await?;
            finish_operation(tx, operation_id.uuid(), "succeeded", None, e).await?;
        }
    }
    if let Some(activity) = d.activity() {
        let row = tx.query_one("select account_id, name from databases where id = $1", &[&db]).await?;
        let account: Uuid = row.get(0);
        let name: String = row.get(1);
        insert_activity(tx, e, account, Some(db), activity.action, "database", db, Some(&name), &activity.details)
            .await?;
    }
    Ok(())
}

async fn set_database_state(
    tx: &Transaction<'_>,
    db: Uuid,
    state: &str,
    operation: Option<Uuid>,
    e: &RecordedEvent,
) -> Result<(), StoreError> {
    tx.execute(
        "update databases set state = $2, operation_id = $3, updated_at = $4 where id = $1",
        &[&db, &state, &operation, &e.occurred_at],
    )
    .await?;
    Ok(())
}

async fn set_database_operation(
    tx: &Transaction<'_>,
    db: Uuid,
    operation: Option<Uuid>,
    e: &RecordedEvent,
) -> Result<(), StoreError> {
    tx.execute(
        "update databases set operation_id = $2, updated_at = $3 where id = $1",
        &[&db, &operation, &e.occurred_at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn insert_operation(
    tx: &Transaction<'_>,
    id: Uuid,
    kind: &str,
    db: Uuid,
    account: Uuid,
    e: &RecordedEvent,
) -> Result<(), StoreError> {
    tx.execute(
        "insert into operations (id, kind, state, database_id, account_id, created_at) values ($1, $2, 'pending', $3, $4, $5)",
        &[&id, &kind, &db, &account, &e.occurred_at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn finish_operation(
    tx: &Transaction<'_>,
    id: Uuid,
    state: &str,
    error: Option<&String>,
    e: &RecordedEvent,
) -> Result<(), StoreError> {
    tx.execute(
        "update operations set state = $2, error = $3, finished_at = $4 where id = $1",
        &[&id, &state, &error, &e.occurred_at],
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_activity(
    tx: &Transaction<'_>,
    e: &RecordedEvent,
    account: Uuid,
    database: Option<Uuid>,
    action: &str,
    resource_type: &str,
    resource_id: Uuid,
    resource_name: Option<&str>,
    details: &serde_json::Value,
) -> Result<(), StoreError> {
    let actor = &e.metadata.actor;
    tx.execute(
        "insert into activity (event_id, account_id, database_id, at, actor_user_id, actor_api_key_id, action,
                               resource_type, resource_id, resource_name, details)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &e.event_id,
            &account,
            &database,
            &e.occurred_at,
            &actor.user_id.map(|u| u.uuid()),
            &actor.api_key_id.map(|k| k.uuid()),
            &action,
            &resource_type,
            &resource_id,
            &resource_name,
            details,
        ],
    )
    .await?;
    Ok(())
}
