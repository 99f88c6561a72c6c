//! Database users: extra login roles of one database, `<database>.<user>` on PostgreSQL,
//! passwords generated and shown once (only their SCRAM verifier is kept, for PgBouncer).
//! The database must be running (removal works inside it). POST and DELETE wait, like
//! create, for the job; past the budget they say it is still under way (the API's 202).

use std::time::{Duration, Instant};

use domain::dbuser::UserState;
use domain::{DatabaseName, DatabaseUserCommand, DatabaseUserError, DatabaseUsers, StreamId};
use eventstore::dbusers::UserRow;
use eventstore::queries::DatabaseRow;
use eventstore::{Extra, Metadata};

use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::{load_authorized, NewPassword};
use crate::error::{Error, OrInternal};
use crate::Control;

fn user_error(e: DatabaseUserError) -> Error {
    match e {
        DatabaseUserError::NotFound => Error::NotFound("user"),
        DatabaseUserError::Name(n) => Error::InvalidName(format!("invalid username: {n} (with the database name)")),
        e @ DatabaseUserError::TooMany(_) => Error::QuotaExceeded(e.to_string()),
        e @ (DatabaseUserError::Exists | DatabaseUserError::Busy(_)) => Error::Conflict(e.to_string()),
    }
}

fn running(db: &DatabaseRow) -> Result<(), Error> {
    if db.state == domain::DatabaseState::Running {
        return Ok(());
    }
    Err(Error::Conflict(format!("the database is {}; its users can change only while it runs", db.state)))
}

pub async fn list(ctx: &Control, caller: &Caller, id: &str) -> Result<Vec<UserRow>, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    Ok(ctx.store.database_users(db.id).await?)
}

pub struct CreatedUser {
    pub user: UserRow,
    pub password: String,
    pub connection_string: String,
    pub ready: bool,
}

pub async fn create(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    username: &str,
    meta: Metadata,
) -> Result<CreatedUser, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let name = DatabaseName::parse(username).map_err(|e| Error::InvalidName(format!("invalid username: {e}")))?;
    let database = db.name.clone();
    let role = domain::dbuser::role_name(&database, &name).map_err(|e| user_error(DatabaseUserError::Name(e)))?;
    running(&db)?;
    let NewPassword { password, verifier } = NewPassword::generate(db.engine).await?;
    let plan = ctx.store.account_plan(db.account_id).await?;
    let max_users = ctx.settings.plans.of(plan).database_users;
    let command = DatabaseUserCommand::Create { database_id: db.id, database, name: name.clone(), max_users };
    let extras = [Extra::UserVerifier { role_name: role.clone(), verifier }];
    match ctx.store.execute::<DatabaseUsers>(StreamId::database_users(db.id).as_str(), &command, &meta, &extras).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(user_error(e)),
        Err(eventstore::StoreError::Conflict(c)) if c.contains("role_name") => {
            return Err(Error::Conflict("a user of this name already exists".into()))
        }
        Err(e) => return Err(e.into()),
    }
    let user = wait_for(ctx, &db, name.as_str(), |u| u.is_some_and(|u| u.state == UserState::Ready)).await?;
    let ready = user.as_ref().is_some_and(|u| u.state == UserState::Ready);
    let user = user.or_internal("the database user just created is not listed")?;
    let connection_string = db.engine.connection_url(&role, &password, &db.host, db.port, db.name.as_str());
    Ok(CreatedUser { user, password, connection_string, ready })
}

/// True if the user is gone, false if its removal is still under way.
pub async fn remove(ctx: &Control, caller: &Caller, id: &str, username: &str, meta: Metadata) -> Result<bool, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let name = DatabaseName::parse(username).map_err(|_| Error::NotFound("user"))?;
    running(&db)?;
    let command = DatabaseUserCommand::Remove { name: name.clone() };
    if let Err(e) =
        ctx.store.execute::<DatabaseUsers>(StreamId::database_users(db.id).as_str(), &command, &meta, &[]).await?
    {
        return Err(user_error(e));
    }
    Ok(wait_for(ctx, &db, name.as_str(), |u| u.is_none()).await?.is_none())
}

/// Polls the user's row until `done` holds or the server's wait budget is spent.
async fn wait_for(
    ctx: &Control,
    db: &DatabaseRow,
    name: &str,
    done: impl Fn(Option<&UserRow>) -> bool,
) -> Result<Option<UserRow>, Error> {
    let deadline = Instant::now() + ctx.settings.wait;
    let mut interval = Duration::from_millis(2);
    loop {
        let user = ctx.store.database_users(db.id).await?.into_iter().find(|u| u.name == name);
        if done(user.as_ref()) || Instant::now() >= deadline {
            return Ok(user);
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(25));
    }
}
