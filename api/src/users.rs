//! Database users: extra login roles of one database, `<database>.<user>` on PostgreSQL,
//! passwords generated and shown once (only their SCRAM verifier is kept, for PgBouncer).
//! The database must be running (removal works inside it). POST and DELETE wait, like
//! create, for the job; past the budget they answer 202.

use std::time::{Duration, Instant};

use domain::{DatabaseName, DatabaseUserCommand, DatabaseUserError, DatabaseUsers, StreamId};
use eventstore::dbusers::UserRow;
use eventstore::queries::DatabaseRow;
use eventstore::{Extra, Metadata};

use crate::auth::Caller;
use crate::authz::Action;
use crate::error::{ApiError, OrInternal};
use crate::service::{generate_password, load_authorized};
use crate::AppState;

fn user_error(e: DatabaseUserError) -> ApiError {
    match e {
        DatabaseUserError::NotFound => ApiError::NotFound("user"),
        DatabaseUserError::Name(n) => ApiError::InvalidName(format!("invalid username: {n} (with the database name)")),
        e @ DatabaseUserError::TooMany(_) => ApiError::QuotaExceeded(e.to_string()),
        e @ (DatabaseUserError::Exists | DatabaseUserError::Busy(_)) => ApiError::Conflict(e.to_string()),
    }
}

fn running(db: &DatabaseRow) -> Result<(), ApiError> {
    if db.state == domain::DatabaseState::Running {
        return Ok(());
    }
    Err(ApiError::Conflict(format!("the database is {}; its users can change only while it runs", db.state)))
}

pub async fn list(state: &AppState, caller: &Caller, id: &str) -> Result<Vec<UserRow>, ApiError> {
    let (db, _) = load_authorized(state, caller, id, Action::Manage).await?;
    Ok(state.store.database_users(db.id).await?)
}

pub struct CreatedUser {
    pub user: UserRow,
    pub password: String,
    pub connection_string: String,
    pub ready: bool,
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    id: &str,
    username: &str,
    meta: Metadata,
) -> Result<CreatedUser, ApiError> {
    let (db, _) = load_authorized(state, caller, id, Action::Manage).await?;
    let name = DatabaseName::parse(username).map_err(|e| ApiError::InvalidName(format!("invalid username: {e}")))?;
    let database = db.name.clone();
    let role = domain::dbuser::role_name(&database, &name).map_err(|e| user_error(DatabaseUserError::Name(e)))?;
    running(&db)?;
    let password = generate_password();
    let pw = password.clone();
    let verifier = tokio::task::spawn_blocking(move || postgres_protocol::password::scram_sha_256(pw.as_bytes()))
        .await
        .or_internal("computing a SCRAM verifier")?;
    let plan = state.store.account_plan(db.account_id).await?;
    let max_users = state.config.plans.of(plan).database_users;
    let command = DatabaseUserCommand::Create { database_id: db.id, database, name: name.clone(), max_users };
    let extras = [Extra::UserVerifier { role_name: role.clone(), verifier }];
    match state.store.execute::<DatabaseUsers>(StreamId::database_users(db.id).as_str(), &command, &meta, &extras).await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(user_error(e)),
        Err(eventstore::StoreError::Conflict(c)) if c.contains("role_name") => {
            return Err(ApiError::Conflict("a user of this name already exists".into()))
        }
        Err(e) => return Err(e.into()),
    }
    let user = wait_for(state, &db, name.as_str(), |u| u.is_some_and(|u| u.state == domain::UserState::Ready)).await?;
    let ready = user.as_ref().is_some_and(|u| u.state == domain::UserState::Ready);
    let user = user.or_internal("the database user just created is not listed")?;
    let connection_string =
        format!("postgresql://{role}:{password}@{host}:{port}/{db}", host = db.host, port = db.port, db = db.name);
    Ok(CreatedUser { user, password, connection_string, ready })
}

/// True if the user is gone, false if its removal is still under way.
pub async fn remove(
    state: &AppState,
    caller: &Caller,
    id: &str,
    username: &str,
    meta: Metadata,
) -> Result<bool, ApiError> {
    let (db, _) = load_authorized(state, caller, id, Action::Manage).await?;
    let name = DatabaseName::parse(username).map_err(|_| ApiError::NotFound("user"))?;
    running(&db)?;
    let command = DatabaseUserCommand::Remove { name: name.clone() };
    if let Err(e) =
        state.store.execute::<DatabaseUsers>(StreamId::database_users(db.id).as_str(), &command, &meta, &[]).await?
    {
        return Err(user_error(e));
    }
    Ok(wait_for(state, &db, name.as_str(), |u| u.is_none()).await?.is_none())
}

/// Polls the user's row until `done` holds or the server's wait budget is spent.
async fn wait_for(
    state: &AppState,
    db: &DatabaseRow,
    name: &str,
    done: impl Fn(Option<&UserRow>) -> bool,
) -> Result<Option<UserRow>, ApiError> {
    let deadline = Instant::now() + state.config.create_wait;
    let mut interval = Duration::from_millis(2);
    loop {
        let user = state.store.database_users(db.id).await?.into_iter().find(|u| u.name == name);
        if done(user.as_ref()) || Instant::now() >= deadline {
            return Ok(user);
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(25));
    }
}
