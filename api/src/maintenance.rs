//! Stop, start, restart and password reset: what the routes do between parsing and
//! serialising. Each appends a request event (one operation at a time per database: the
//! aggregate refuses a second, and the expected-version append settles a race) and waits up
//! to the server's budget for the job to report.

use actix_web::http::StatusCode;
use domain::{Database, DatabaseCommand, OperationId, OperationKind, StreamId};
use eventstore::{Extra, Metadata};

use crate::auth::Caller;
use crate::authz::{Action, DbRole};
use crate::error::{ApiError, OrInternal};
use crate::service::{
    connection_string, domain_error, generate_password, load_authorized, password_secret_id, wait_for_operation,
};
use crate::views::{Credentials, DatabaseView};
use crate::AppState;

/// Requests `kind` on database `id`; 200 with the new state once done, else 202.
pub async fn lifecycle(
    state: &AppState,
    caller: &Caller,
    id: &str,
    kind: OperationKind,
    meta: Metadata,
) -> Result<(StatusCode, DatabaseView), ApiError> {
    let (db, role) = load_authorized(state, caller, id, Action::Manage).await?;
    let operation_id = OperationId::new();
    let command = DatabaseCommand::RequestMaintenance { operation_id, kind };
    if let Err(e) = state.store.execute::<Database>(StreamId::database(db.id).as_str(), &command, &meta, &[]).await? {
        return Err(domain_error(e));
    }
    let finished = wait_for_operation(state, operation_id, state.config.create_wait).await?;
    let mut view = crate::views::database_view(&state.store.database(db.id).await?, role);
    view.operation_id = Some(operation_id.to_string());
    Ok((if finished { StatusCode::OK } else { StatusCode::ACCEPTED }, view))
}

/// A new password: sealed in the vault and its verifier stored in the same transaction as
/// the request event; the job puts it on PostgreSQL and PgBouncer. Shown once, here.
pub async fn reset_password(
    state: &AppState,
    caller: &Caller,
    id: &str,
    meta: Metadata,
) -> Result<(StatusCode, Credentials), ApiError> {
    let (db, _) = load_authorized(state, caller, id, Action::Manage).await?;
    let password = generate_password();
    let pw = password.clone();
    let verifier = tokio::task::spawn_blocking(move || postgres_protocol::password::scram_sha_256(pw.as_bytes()))
        .await
        .or_internal("computing a SCRAM verifier")?;
    let operation_id = OperationId::new();
    let command = DatabaseCommand::RequestMaintenance { operation_id, kind: OperationKind::ResetPassword };
    let extras = [
        Extra::Secret { id: password_secret_id(db.id), plaintext: password.clone().into_bytes() },
        Extra::RoleVerifier { database_id: db.id.uuid(), verifier },
    ];
    if let Err(e) =
        state.store.execute::<Database>(StreamId::database(db.id).as_str(), &command, &meta, &extras).await?
    {
        return Err(domain_error(e));
    }
    let finished = wait_for_operation(state, operation_id, state.config.create_wait).await?;
    let status = if finished { StatusCode::OK } else { StatusCode::ACCEPTED };
    let operation_id = Some(operation_id.to_string());
    Ok((
        status,
        Credentials {
            username: db.name.to_string(),
            connection_string: connection_string(&db, &password),
            password,
            operation_id,
        },
    ))
}

/// The stored password, opened from the vault (owner, admin, developer).
pub async fn credentials(state: &AppState, caller: &Caller, id: &str) -> Result<Credentials, ApiError> {
    let (db, role) = load_authorized(state, caller, id, Action::Credentials).await?;
    debug_assert!(role >= DbRole::Developer);
    let sealed = state.store.get_secret(&password_secret_id(db.id)).await?;
    let password = String::from_utf8(sealed).or_internal("opening the stored password")?;
    Ok(Credentials {
        username: db.name.to_string(),
        connection_string: connection_string(&db, &password),
        password,
        operation_id: None,
    })
}
