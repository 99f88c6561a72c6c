//! The `move` job: a database goes from one host to another, its clients keeping their
//! connection strings (the old host's pooler forwards them; `eventstore` renders that from
//! `database_forwards`).
//!
//! Before the switch, every attempt starts over on the new host (its copy is made again
//! from scratch: nothing half-copied is trusted):
//! 1. the new host gets the database's logins (owner, users, the data API's roles) and an
//!    empty database;
//! 2. writes stop: the old pooler refuses and drops the database's clients and the server
//!    ends its sessions (direct ones too);
//! 3. the database, with its grants, is piped into the new copy as of one snapshot
//!    (`pg_dump --snapshot | psql`, both as the tenant's own role), with each table's rows
//!    and checksum taken in that snapshot;
//! 4. the copy is checked table by table (rows and checksums) against the snapshot,
//!    and the old copy against it again: a write that reached the old copy after the
//!    snapshot fails the attempt rather than being lost;
//! 5. the switch is recorded (`DatabaseHostSwitched`): the database is served from the new
//!    host from here on.
//!
//! After the switch (the point of no return; each retry redoes what follows it): both
//! poolers are rendered (the new host serves the name, the old one forwards it), the old
//! pooler admits clients again, the old copy is dropped, and the move is recorded as done.
//!
//! A move that fails for good — out of attempts, or given up by the stuck-operation
//! reconciler — queues `settle_move` from its failure's event: before the switch the old
//! pooler opens again and the new copy goes (the database stays where it was, as it was);
//! after it, what follows the switch is done. The write pause is steps 2–5 and
//! the render after: its length is logged and measured (`berth_move_pause_seconds`).

use std::time::Instant;

use domain::{DatabaseCommand, DatabaseId, DatabaseName, HostId, OperationId};
use hostctl::engine::LifecycleStep;
use hostctl::{TenantEngine, TenantLogin};

use crate::jobs::{Job, Runner};
use crate::queue::JobError;

fn store_err(e: eventstore::StoreError) -> JobError {
    JobError::retry_from(format!("control plane: {e}"), e)
}

impl Runner {
    pub(crate) async fn run_move(
        &self,
        job: &Job,
        (id, operation_id): (DatabaseId, OperationId),
        (from, to): (HostId, HostId),
        attempt: u32,
    ) -> Result<(), JobError> {
        let db = self.store.database(id).await.map_err(store_err)?;
        if db.operation_id != Some(operation_id) {
            tracing::info!(database = %id, "nothing to do: the move already finished");
            return Ok(());
        }
        if !self.command(job, DatabaseCommand::StartAttempt { operation_id, attempt }).await? {
            return Ok(());
        }
        let (source, target) = tokio::try_join!(
            async { Ok::<_, JobError>(crate::hosts::engine(&self.hosts, &self.store, from).await?) },
            async { Ok::<_, JobError>(crate::hosts::engine(&self.hosts, &self.store, to).await?) },
        )?;
        let name = db.name.clone();
        let owner = self.owner_login(id, &name).await?;
        let mut paused = None;
        if db.host_id == from {
            let copied = self.copy_over(job, (id, &name, &owner), (&*source, &*target)).await?;
            if !self.command(job, DatabaseCommand::SwitchHost { operation_id }).await? {
                // The move is no longer the database's operation (given up meanwhile): its
                // `settle_move` puts the hosts right; nothing here may touch the old copy.
                return Ok(());
            }
            paused = Some(copied);
        }
        // After the switch: what follows it, again on every retry — the old copy is dropped
        // only once the log says the database is served from the new host.
        if self.store.database(id).await.map_err(store_err)?.host_id != to {
            return Err(JobError::abort("the database is not served from the new host; the old copy stays"));
        }
        crate::hosts::sync_bouncer(&self.store, &self.plans, &*target).await?;
        crate::hosts::sync_bouncer(&self.store, &self.plans, &*source).await?;
        source.lifecycle(&name, LifecycleStep::OpenFrontDoor).await?;
        if let Some(paused) = paused {
            let pause = paused.elapsed();
            metrics::histogram!("berth_move_pause_seconds").record(pause.as_secs_f64());
            tracing::info!(database = %id, pause_ms = pause.as_millis() as u64, "moved: served from the new host");
        }
        source.drop_database(id, &name).await?;
        self.command(job, DatabaseCommand::CompleteMove { operation_id }).await?;
        Ok(())
    }

    /// Steps 1–4 of the module comment: the new host's copy made, filled and checked, with
    /// the old copy closed to writes; when the writes stopped.
    async fn copy_over(
        &self,
        job: &Job,
        (id, name, owner): (DatabaseId, &DatabaseName, &TenantLogin),
        (source, target): (&dyn TenantEngine, &dyn TenantEngine),
    ) -> Result<Instant, JobError> {
        let rt = self.runtime()?;
        let db = self.store.database(id).await.map_err(store_err)?;
        let limits = self.role_limits(db.account_id).await?;
        let verifier = self.store.role_verifier(id).await.map_err(store_err)?;
        // 1. Logins and an empty database on the new host.
        // (The database before the other logins: they are granted CONNECT on it.)
        target.create_owner(id, name, &verifier, limits).await?;
        target.create_database(name).await?;
        target.recreate_database(name).await?;
        target.restrict_database(name).await?;
        for user in self.store.database_users(id).await.map_err(store_err)? {
            let user_verifier = self.store.user_verifier(&user.role_name).await.map_err(store_err)?;
            target.ensure_user(id, name, &user.role_name, &user_verifier, limits).await?;
        }
        self.ensure_data_roles(&db, to_host(target)).await?;
        // 2. Writes stop on the old host.
        let paused = Instant::now();
        source.lifecycle(name, LifecycleStep::CloseFrontDoor).await?;
        source.lifecycle(name, LifecycleStep::TerminateSessions).await?;
        // 3. Grants kept, piped straight from host to host (this worker reaches both clusters,
        // as it does for every host today; between machines behind an agent the copy would go
        // through the object store instead — not built).
        let streams = rt.streams(self);
        let closed = paused.elapsed();
        let snapshot = source
            .copy_into(name, owner, target, streams)
            .await?
            .ok_or_else(|| JobError::abort("these two hosts cannot be copied between"))?;
        let copy_done = paused.elapsed();
        // 4. Checked against the snapshot, on both sides.
        let deadline = streams.deadline;
        let (copied, left) = tokio::try_join!(
            target.table_stats(name.as_str(), owner, deadline),
            source.table_stats(name.as_str(), owner, deadline),
        )?;
        let differ = |what: &str, seen: &[domain::TableStats]| {
            let first = snapshot.iter().zip(seen).find(|(a, b)| a != b).map(|(a, _)| a.table.clone());
            JobError::retry(format!(
                "{what} differs from the snapshot ({} tables against {}; first: {})",
                seen.len(),
                snapshot.len(),
                first.unwrap_or_else(|| "a table only one side has".into())
            ))
        };
        if copied != snapshot {
            return Err(differ("the new host's copy", &copied));
        }
        if left != snapshot {
            return Err(differ("the old copy (written during the pause)", &left));
        }
        target.mark_populated(name).await?;
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        tracing::info!(
            job = job.kind(),
            database = %id,
            tables = copied.len(),
            closing_ms = ms(closed),
            copy_ms = ms(copy_done - closed),
            check_ms = ms(paused.elapsed() - copy_done),
            "copied and checked"
        );
        Ok(paused)
    }

    /// Renders the pooler of every host that forwards database `id` (it was moved off them),
    /// so that they serve its current logins, allowlist and state.
    pub(crate) async fn sync_forwarders(&self, id: DatabaseId) -> Result<(), JobError> {
        for host in self.store.forwarding_hosts(id).await.map_err(store_err)? {
            let conn = crate::hosts::engine(&self.hosts, &self.store, host).await?;
            crate::hosts::sync_bouncer(&self.store, &self.plans, &*conn).await?;
        }
        Ok(())
    }

    /// The data API's roles on the new host, so that the grants the move carries over to
    /// them apply (and its requests find them there).
    async fn ensure_data_roles(&self, db: &eventstore::queries::DatabaseRow, host: HostId) -> Result<(), JobError> {
        let conn = crate::hosts::open(&self.hosts, &self.store, host).await?;
        let password = control::data_api::authenticator_password(&self.store, db.id)
            .map_err(|e| JobError::abort(format!("the data API's login: {e}")))?;
        let verifier =
            tokio::task::spawn_blocking(move || postgres_protocol::password::scram_sha_256(password.as_bytes()))
                .await
                .map_err(|e| JobError::retry(format!("computing a verifier: {e}")))?;
        let plan = self.store.account_plan(db.account_id).await.map_err(store_err)?;
        let temp_mb = self.plans.of(plan).temp_file_limit_mb;
        conn.ensure_data_roles(db.id, &db.name, &verifier, temp_mb).await?;
        Ok(())
    }

    /// After move `operation_id` of database `id` failed: both hosts left as the database's
    /// place says. Served from the old host (failed before the switch): its pooler opens
    /// again, the new host's copy goes. Served from the new host (failed after it): what
    /// follows the switch is done — both poolers rendered (the old one forwarding), the old
    /// one opened, the old copy dropped. Each step is idempotent.
    pub(crate) async fn settle_move(&self, id: DatabaseId, operation_id: OperationId) -> Result<(), JobError> {
        let (from, to) = self.move_hosts(id, operation_id).await?;
        let db = self.store.database(id).await.map_err(store_err)?;
        if db.operation_id.is_some() {
            // A newer operation (another move, say) owns the hosts now; it settles them.
            tracing::info!(database = %id, "a failed move's hosts are left to the operation that followed it");
            return Ok(());
        }
        let (source, target) = tokio::try_join!(
            async { Ok::<_, JobError>(crate::hosts::engine(&self.hosts, &self.store, from).await?) },
            async { Ok::<_, JobError>(crate::hosts::engine(&self.hosts, &self.store, to).await?) },
        )?;
        let (serving, other) = if db.host_id == from { (&source, &target) } else { (&target, &source) };
        // Where clients are served first: they wait on it, whatever the other host does.
        crate::hosts::sync_bouncer(&self.store, &self.plans, &**serving).await?;
        crate::hosts::sync_bouncer(&self.store, &self.plans, &*source).await?;
        source.lifecycle(&db.name, LifecycleStep::OpenFrontDoor).await?;
        other.drop_database(id, &db.name).await?;
        tracing::info!(database = %id, served_by = %db.host_id, "a failed move's hosts are settled");
        Ok(())
    }

    /// The hosts move `operation_id` of database `id` went from and to, from its request.
    async fn move_hosts(&self, id: DatabaseId, operation_id: OperationId) -> Result<(HostId, HostId), JobError> {
        let events = self.store.read_stream(domain::StreamId::database(id).as_str()).await.map_err(store_err)?;
        events
            .iter()
            .find_map(|e| match eventstore::decode(e) {
                Ok(eventstore::Decoded::Database(domain::DatabaseEvent::DatabaseMoveRequested {
                    operation_id: op,
                    from_host_id,
                    to_host_id,
                    ..
                })) if op == operation_id => Some((from_host_id, to_host_id)),
                _ => None,
            })
            .ok_or_else(|| JobError::abort(format!("no move {operation_id} in the database's log")))
    }
}

fn to_host(engine: &dyn TenantEngine) -> HostId {
    engine.host().id
}
