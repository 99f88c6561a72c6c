//! Logging in to a running tenant database as its own owner role, for the use cases that run
//! SQL there on a user's request (migrations, dumps): the role's password comes from the
//! vault; a stopped or locked database is a conflict (its role cannot log in).

use domain::{DatabaseState, TenantHost};
use eventstore::queries::DatabaseRow;
use hostctl::TenantLogin;

use crate::databases::password_secret_id;
use crate::error::Error;
use crate::inspect::host_with_secret;
use crate::Control;

/// The database's host and its owner's login, if it runs and is not locked; `what` ends the
/// conflict's message ("…; <what> while it runs").
pub(crate) async fn owner_login(
    ctx: &Control,
    db: &DatabaseRow,
    what: &str,
) -> Result<(TenantHost, TenantLogin), Error> {
    if db.state != DatabaseState::Running || db.locked_reason.is_some() {
        let state = if db.locked_reason.is_some() { "locked" } else { db.state.as_str() };
        return Err(Error::Conflict(format!("the database is {state}; {what} while it runs")));
    }
    let (host, password) = host_with_secret(ctx, db.host_id, &password_secret_id(db.id)).await?;
    Ok((host, TenantLogin::owner(&db.name, password)))
}
