//! Collaborators: who besides the owner may use a database, and with which role. Decided by
//! the database's `Access` aggregate on its own stream.

use domain::{Access, AccessCommand, AccessError, AccessEvent, DatabaseId, ShareRole, StreamId, UserId};
use eventstore::queries_access::CollaboratorRow;
use eventstore::Metadata;

use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::{Error, OrInternal};
use crate::Control;

fn parse_role(role: &str) -> Result<ShareRole, Error> {
    ShareRole::parse(role)
        .ok_or_else(|| Error::InvalidRequest("invalid field `role`: `admin`, `developer` or `viewer`".into()))
}

fn access_error(e: AccessError) -> Error {
    match e {
        AccessError::NotShared => Error::NotFound("collaborator"),
        AccessError::AlreadyShared => Error::Conflict(e.to_string()),
        AccessError::SharingWithOwner => Error::Unprocessable(e.to_string()),
    }
}

/// Decides and appends a sharing command on the database's access stream.
pub async fn execute(
    ctx: &Control,
    database: DatabaseId,
    command: &AccessCommand,
    meta: Metadata,
) -> Result<Result<Vec<AccessEvent>, AccessError>, Error> {
    let stream = StreamId::access(database);
    Ok(ctx.store.execute::<Access>(stream.as_str(), command, &meta, &[]).await?)
}

pub async fn list(ctx: &Control, caller: &Caller, id: &str) -> Result<Vec<CollaboratorRow>, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    Ok(ctx.store.collaborators(db.id).await?)
}

/// Shares a database with an existing user, by email.
pub async fn add(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    email: &str,
    role: &str,
    meta: Metadata,
) -> Result<CollaboratorRow, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let role = parse_role(role)?;
    let email = email.trim().to_lowercase();
    let user = ctx.store.user_by_email_full(&email).await?.ok_or(Error::NotFound("user with that email"))?;
    let cmd = AccessCommand::Share {
        database_id: db.id,
        user_id: user.id,
        email,
        role,
        user_account: user.account_id,
        owner_account: db.account_id,
    };
    execute(ctx, db.id, &cmd, meta).await?.map_err(access_error)?;
    let added = ctx.store.collaborators(db.id).await?.into_iter().find(|c| c.user_id == user.id);
    added.or_internal("the collaborator just added is not listed")
}

pub async fn change(
    ctx: &Control,
    caller: &Caller,
    id: &str,
    user: &str,
    role: &str,
    meta: Metadata,
) -> Result<CollaboratorRow, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let user_id = UserId::parse(user).map_err(|_| Error::NotFound("collaborator"))?;
    let cmd = AccessCommand::ChangeRole { database_id: db.id, user_id, role: parse_role(role)? };
    execute(ctx, db.id, &cmd, meta).await?.map_err(access_error)?;
    let changed = ctx.store.collaborators(db.id).await?.into_iter().find(|c| c.user_id == user_id);
    changed.ok_or(Error::NotFound("collaborator"))
}

pub async fn remove(ctx: &Control, caller: &Caller, id: &str, user: &str, meta: Metadata) -> Result<(), Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let user_id = UserId::parse(user).map_err(|_| Error::NotFound("collaborator"))?;
    let cmd = AccessCommand::Unshare { database_id: db.id, user_id };
    execute(ctx, db.id, &cmd, meta).await?.map_err(access_error)?;
    Ok(())
}
