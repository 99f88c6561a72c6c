//! PgBouncer syncs: render the pools, logins and HBA rules of every live database of a host
//! from the control plane, swap the files in, RELOAD, and check.
//!
//! Every job that changes what PgBouncer must know (create, delete, password reset, allowlist
//! changes, users) asks for a sync, and syncs of one host run one at a time (an advisory lock
//! in the control-plane database: the last writer renders everything the others added). Under
//! load they queued: each render and RELOAD waited for all the others before it, holding one
//! of the worker's job slots, so creates and lifecycle operations waited behind other
//! databases' allowlist changes (in `berth bench mixed`, up to the 10 s wait budget).
//!
//! So requests are coalesced. A request is done by any sync that *began* after it was made
//! and succeeded: that sync read everything committed before the request, and did every other
//! part of a sync (re-asserting DISABLE after a PgBouncer restart, say) after it too. Within a
//! process, requests wait for their turn in order, holding no database connection, and each
//! notes how many renders had begun when it came; when its turn comes, a render numbered
//! higher that has finished has done its work. Across processes, a sync records the snapshot
//! xmin it rendered from, and a request also finds its work done when that xmin is above the
//! transaction-id horizon (`xmax`) taken when it was made: the id at that horizon was handed
//! out after the request and had ended before that sync read anything, so the sync began
//! after the request. (A quiet control plane hands out no ids, so there a request renders.)

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstore::Store;

use crate::host::{read_optional, write_atomically, HostConn, HostError};
use crate::pgbouncer::{
    render_auth_file, render_hba, render_tenants, validate_hba, AuthEntry, PoolEntry, HBA_FILE, TENANTS_FILE,
    USERS_FILE,
};

/// A host's syncs in this process: one at a time, and the renders begun and finished.
pub(crate) type SyncTurn = Arc<SyncState>;

#[derive(Default)]
pub(crate) struct SyncState {
    turn: tokio::sync::Mutex<()>,
    renders: std::sync::Mutex<Renders>,
}

/// Renders numbered in the order they began: how many have begun, and the highest number
/// that finished successfully.
#[derive(Default, Clone, Copy)]
struct Renders {
    begun: u64,
    done: u64,
}

impl SyncState {
    fn renders(&self) -> std::sync::MutexGuard<'_, Renders> {
        self.renders.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How a sync request was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    /// This call rendered, reloaded and checked.
    Rendered,
    /// A sync that began after this call did it.
    Covered,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl HostConn {
    /// Makes the host's PgBouncer serve exactly what the control plane held when this was
    /// called (or later): its pools, logins and HBA rules, and DISABLE on stopped databases.
    /// Returns without rendering when a sync that began after the call has done it.
    pub async fn sync_bouncer(&self, store: &Store, plans: &domain::PlanQuotas) -> Result<(), HostError> {
        self.sync_bouncer_reporting(store, plans).await.map(|_| ())
    }

    /// [`HostConn::sync_bouncer`], saying whether this call rendered.
    pub async fn sync_bouncer_reporting(&self, store: &Store, plans: &domain::PlanQuotas) -> Result<Synced, HostError> {
        // Both taken after whatever the caller committed.
        let asked = store.snapshot_xmax().await?;
        let seen = self.sync_turn.renders().begun;
        let asked_at = Instant::now();
        let _turn = self.sync_turn.turn.lock().await;
        if self.sync_turn.renders().done > seen {
            return Ok(self.covered(asked_at));
        }
        let _lock = store.host_lock(self.row.id.uuid()).await?;
        if store.bouncer_synced_xmin(self.row.id).await? > asked {
            return Ok(self.covered(asked_at));
        }
        let number = {
            let mut r = self.sync_turn.renders();
            r.begun += 1;
            r.begun
        };
        let started = Instant::now();
        self.render_and_reload(store, plans).await?;
        let mut r = self.sync_turn.renders();
        r.done = r.done.max(number);
        drop(r);
        tracing::debug!(
            host = %self.row.id,
            waited_ms = ms(started - asked_at),
            ms = ms(started.elapsed()),
            "pgbouncer sync rendered"
        );
        Ok(Synced::Rendered)
    }

    fn covered(&self, asked_at: Instant) -> Synced {
        tracing::debug!(host = %self.row.id, waited_ms = ms(asked_at.elapsed()), "pgbouncer sync done by another");
        Synced::Covered
    }

    /// The render, swap, RELOAD and checks of one sync; the caller holds the host's lock.
    async fn render_and_reload(&self, store: &Store, plans: &domain::PlanQuotas) -> Result<(), HostError> {
        // Before reading anything: what is committed below it is in this render.
        let xmin = store.snapshot_xmin().await?;
        let (pools, files) = self.render_bouncer(store, plans).await?;
        let dir = PathBuf::from(&self.row.config_dir);
        let previous_hba = read_optional(&dir.join(HBA_FILE)).await?;
        futures::future::try_join_all(
            files.iter().map(|(name, text)| write_atomically(&dir, name, text.as_bytes(), 0o600)),
        )
        .await?;
        let admin = self.admin().await?;
        if let Err(e) = self.reload_checked(&admin, &dir).await {
            drop(admin); // restoring takes its own turn on the console
            self.restore_hba(store, &dir, previous_hba, &e).await;
            return Err(e);
        }
        let (statuses, closed) = tokio::try_join!(crate::lifecycle::pool_statuses(&admin), async {
            Ok(store.host_closed_pools(self.row.id).await?)
        })?;
        let missing: Vec<&str> =
            pools.iter().map(|p| p.name.as_str()).filter(|n| !statuses.iter().any(|s| s.name == *n)).collect();
        if !missing.is_empty() {
            return Err(HostError::Transient(format!("pgbouncer did not take pools {missing:?} after RELOAD")));
        }
        // DISABLE lives only in PgBouncer's memory: re-assert it for stopped databases after
        // every reload (and so after a PgBouncer restart, on the next sync).
        for status in statuses {
            if !status.disabled && closed.iter().any(|c| c.as_str() == status.name) {
                admin.simple_query(&format!("DISABLE \"{}\"", status.name)).await?;
            }
        }
        store.record_bouncer_sync(self.row.id, xmin).await?;
        Ok(())
    }

    /// What PgBouncer's files should say, from the store: the live pools, and for each file
    /// its name and text (logins, pools, HBA), validated.
    async fn render_bouncer(
        &self,
        store: &Store,
        plans: &domain::PlanQuotas,
    ) -> Result<(Vec<eventstore::queries::HostPool>, [(&'static str, String); 3]), HostError> {
        // Three independent reads: one round trip of latency instead of three.
        let host = self.row.id;
        let (pools, users, allowlists) =
            tokio::try_join!(store.host_pools(host), store.host_user_verifiers(host), store.host_allowlists(host))?;
        let mut auth = vec![AuthEntry { user: self.row.admin_user.clone(), secret: self.admin_password.clone() }];
        let mut entries = Vec::with_capacity(pools.len());
        for pool in &pools {
            auth.push(AuthEntry { user: pool.name.to_string(), secret: pool.verifier.clone() });
            entries.push(PoolEntry {
                name: pool.name.clone(),
                backend_host: self.row.pg_host.clone(),
                backend_port: self.row.pg_port,
                max_db_connections: plans.of(pool.plan).server_connections,
            });
        }
        for (role, verifier) in users {
            auth.push(AuthEntry { user: role, secret: verifier });
        }
        let hba = render_hba(&allowlists);
        validate_hba(&hba).map_err(HostError::Permanent)?;
        let files = [(USERS_FILE, render_auth_file(&auth)), (TENANTS_FILE, render_tenants(&entries)), (HBA_FILE, hba)];
        Ok((pools, files))
    }

    /// The names of PgBouncer's files that differ from what the store renders (pools with
    /// their addresses and caps, logins, HBA): after an upgrade that changed how pools reach
    /// PostgreSQL, or a hand edit.
    pub async fn stale_bouncer_files(
        &self,
        store: &Store,
        plans: &domain::PlanQuotas,
    ) -> Result<Vec<&'static str>, HostError> {
        let dir = PathBuf::from(&self.row.config_dir);
        // The files first, the store after: a change between the two is in the render.
        let mut on_disk = Vec::new();
        for name in [USERS_FILE, TENANTS_FILE, HBA_FILE] {
            on_disk.push(read_optional(&dir.join(name)).await?);
        }
        let (_, files) = self.render_bouncer(store, plans).await?;
        Ok(files
            .iter()
            .zip(on_disk)
            .filter(|((_, text), disk)| disk.as_deref() != Some(text.as_bytes()))
            .map(|((name, _), _)| *name)
            .collect())
    }
}
