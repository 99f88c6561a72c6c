//! Stop, start, restart and password reset: what the API does between parsing and
//! serialising. Each appends a request event (one operation at a time per database: the
//! aggregate refuses a second, and the expected-version append settles a race) and waits up
//! to the server's budget for the job to report.

use domain::{Database, DatabaseCommand, OperationId, OperationKind, StreamId};
use eventstore::queries::DatabaseRow;
use eventstore::{Extra, Metadata};

use crate::authz::{Action, DbRole};
use crate::caller::Caller;
use crate::databases::{
    connection_string, domain_error, load_authorized, password_secret_id, wait_for_operation, NewPassword,
};
use crate::error::{Error, OrInternal};
use crate::Control;

/// A lifecycle request as it stands when the wait ended.
#[derive(Debug)]
pub struct Requested {
    /// The database after the request (and the job, if it finished).
    pub database: DatabaseRow,
    /// The caller's role on it.
    pub role: DbRole,
    pub operation_id: OperationId,
    /// The job finished within the wait.
    pub done: bool,
}

/// How to connect as a database's owner role.
#[derive(Debug)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub connection_string: String,
}

impl Credentials {
    fn of(db: &DatabaseRow, password: String) -> Self {
        Self { username: db.name.to_string(), connection_string: connection_string(db, &password), password }
    }
}

/// Requests `kind` on database `id` and waits up to the budget for it.
pub async fn lifecycle(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    kind: OperationKind,
    meta: Metadata,
) -> Result<Requested, Error> {
    let (db, role) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let operation_id = OperationId::new();
    let command = DatabaseCommand::RequestMaintenance { operation_id, kind };
    if let Err(e) = ctx.store.execute::<Database>(StreamId::database(db.id).as_str(), &command, &meta, &[]).await? {
        return Err(domain_error(e));
    }
    let done = wait_for_operation(ctx, operation_id, ctx.settings.wait).await?;
    Ok(Requested { database: ctx.store.database(db.id).await?, role, operation_id, done })
}

/// A new password: sealed in the vault and its verifier stored in the same transaction as
/// the request event; the job puts it on PostgreSQL and PgBouncer. Shown once, here. With
/// the operation and whether it finished within the wait.
pub async fn reset_password(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    meta: Metadata,
) -> Result<(Credentials, OperationId, bool), Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let NewPassword { password, verifier } = NewPassword::generate(db.engine).await?;
    let operation_id = OperationId::new();
    let command = DatabaseCommand::RequestMaintenance { operation_id, kind: OperationKind::ResetPassword };
    let extras = [
        Extra::Secret { id: password_secret_id(db.id), plaintext: password.clone().into_bytes() },
        Extra::RoleVerifier { database_id: db.id.uuid(), verifier },
    ];
    if let Err(e) = ctx.store.execute::<Database>(StreamId::database(db.id).as_str(), &command, &meta, &extras).await? {
        return Err(domain_error(e));
    }
    let done = wait_for_operation(ctx, operation_id, ctx.settings.wait).await?;
    Ok((Credentials::of(&db, password), operation_id, done))
}

/// The stored password, opened from the vault (owner, admin, developer).
pub async fn credentials(ctx: &Control, caller: &Caller, id: &str) -> Result<Credentials, Error> {
    let (db, role) = load_authorized(ctx, caller, id, Action::Credentials).await?;
    debug_assert!(role >= DbRole::Developer);
    let sealed = ctx.store.get_secret(&password_secret_id(db.id)).await?;
    let password = String::from_utf8(sealed).or_internal("opening the stored password")?;
    Ok(Credentials::of(&db, password))
}
