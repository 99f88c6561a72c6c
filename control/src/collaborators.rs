//! Collaborators: who besides the owner may use a database, and with which role. Decided by
//! the database's `Access` aggregate on its own stream.

use domain::{
    Collaborators, CollaboratorsCommand, CollaboratorsError, CollaboratorsEvent, DatabaseId, ShareRole, StreamId,
    UserId,
};
use eventstore::collaborators::CollaboratorRow;
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

fn collaborators_error(e: CollaboratorsError) -> Error {
    match e {
        CollaboratorsError::NotShared => Error::NotFound("collaborator"),
        CollaboratorsError::AlreadyShared => Error::Conflict(e.to_string()),
        CollaboratorsError::SharingWithOwner => Error::Unprocessable(e.to_string()),
    }
}

/// Decides and appends a sharing command on the database's access stream.
pub async fn execute(
    ctx: &Control,
    database: DatabaseId,
    command: &CollaboratorsCommand,
    meta: Metadata,
) -> Result<Result<Vec<CollaboratorsEvent>, CollaboratorsError>, Error> {
    let stream = StreamId::collaborators(database);
    Ok(ctx.store.execute::<Collaborators>(stream.as_str(), command, &meta, &[]).await?)
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
    let cmd = CollaboratorsCommand::Share {
        database_id: db.id,
        user_id: user.id,
        email,
        role,
        user_account: user.account_id,
        owner_account: db.account_id,
    };
    execute(ctx, db.id, &cmd, meta).await?.map_err(collaborators_error)?;
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
    let cmd = CollaboratorsCommand::ChangeRole { database_id: db.id, user_id, role: parse_role(role)? };
    execute(ctx, db.id, &cmd, meta).await?.map_err(collaborators_error)?;
    let changed = ctx.store.collaborators(db.id).await?.into_iter().find(|c| c.user_id == user_id);
    changed.ok_or(Error::NotFound("collaborator"))
}

pub async fn remove(ctx: &Control, caller: &Caller, id: &str, user: &str, meta: Metadata) -> Result<(), Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Manage).await?;
    let user_id = UserId::parse(user).map_err(|_| Error::NotFound("collaborator"))?;
    let cmd = CollaboratorsCommand::Unshare { database_id: db.id, user_id };
    execute(ctx, db.id, &cmd, meta).await?.map_err(collaborators_error)?;
    Ok(())
}
