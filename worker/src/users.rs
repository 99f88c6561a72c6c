//! Database-user jobs: create the role and add it to PgBouncer's logins, or take it off
//! PgBouncer and drop it. Each step checks first, so a rerun converges.

use domain::{DatabaseId, DatabaseName, DatabaseUserCommand, DatabaseUserError, DatabaseUsers, StreamId, UserState};
use eventstore::{Metadata, StoreError};
use hostctl::{TenantEngine, TenantLogin};

use crate::jobs::{Job, Runner};
use crate::queue::JobError;

impl Runner {
    pub(crate) async fn run_user(
        &self,
        job: &Job,
        database_id: DatabaseId,
        name: &DatabaseName,
    ) -> Result<(), JobError> {
        let retry = |e: StoreError| JobError::retry_from(format!("control plane: {e}"), e);
        let db = self.store.database(database_id).await.map_err(retry)?;
        let Some(user) =
            self.store.database_users(database_id).await.map_err(retry)?.into_iter().find(|u| u.name == name.as_str())
        else {
            return Ok(()); // removed already
        };
        let db_name = &db.name;
        let conn = crate::hosts::engine(&self.hosts, &self.store, db.host_id).await?;
        let host: &dyn TenantEngine = &*conn;
        let command = match (job, user.state) {
            (Job::CreateUser { .. }, UserState::Creating) => {
                let verifier = self.store.user_verifier(&user.role_name).await.map_err(retry)?;
                host.ensure_user(
                    database_id,
                    db_name,
                    &user.role_name,
                    &verifier,
                    self.role_limits(db.account_id).await?,
                )
                .await?;
                crate::hosts::sync_bouncer(&self.store, &self.plans, host).await?;
                DatabaseUserCommand::MarkReady { name: name.clone() }
            }
            (Job::RemoveUser { .. }, UserState::Removing) => {
                // PgBouncer first (its auth_file loses the login), then the role on PostgreSQL.
                crate::hosts::sync_bouncer(&self.store, &self.plans, host).await?;
                let owner = TenantLogin::owner(db_name, self.password(database_id).await?);
                host.drop_user(database_id, db_name, &owner, &user.role_name).await?;
                DatabaseUserCommand::MarkRemoved { name: name.clone() }
            }
            _ => return Ok(()), // the step this job exists for was recorded already
        };
        match self
            .store
            .execute::<DatabaseUsers>(
                StreamId::database_users(database_id).as_str(),
                &command,
                &Metadata::default(),
                &[],
            )
            .await
        {
            Ok(Ok(_)) | Ok(Err(DatabaseUserError::NotFound | DatabaseUserError::Busy(_))) => Ok(()),
            Ok(Err(e)) => Err(JobError::abort_from(e.to_string(), e)),
            Err(e) => Err(retry(e)),
        }
    }
}
