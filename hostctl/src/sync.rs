//! PgBouncer syncs: render the pools, logins and HBA rules of every live database of a host
//! from a [`BouncerState`] the caller read from the control plane, swap the files in, RELOAD,
//! and check. This crate keeps the render, the reload and the in-process turn; the caller
//! (`worker::bouncer`) keeps the control-plane side: the host's lock, the transaction-id
//! horizons, the reads, and the record of the sync.
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
//!
//! A sync, in order, with the caller's steps marked *(caller)*: take the horizon `xmax`
//! *(caller)*; [`HostConn::ask_bouncer_sync`] (`TenantEngine::ask_front_door_sync`); [`SyncRequest::turn`] (covered in process, or
//! the turn); take the host's lock and compare the recorded xmin with `xmax` *(caller)*, which
//! may end the turn with [`BouncerTurn::covered`]; [`BouncerTurn::begin`] numbers the render;
//! take the snapshot xmin and read the [`BouncerState`] *(caller)*; [`HostConn::apply_bouncer_state`]
//! (`TenantEngine::apply_front_door`);
//! record the xmin *(caller)*; [`BouncerRender::finish`]. The render is numbered before the
//! reads: a request noted after the number was taken does not count on this render.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{Cidr, DatabaseName, HostId};

use crate::host::{read_optional, write_atomically, HostConn, HostError};
use crate::pgbouncer::{
    render_auth_file, render_hba, render_tenants, validate_hba, AuthEntry, PoolEntry, HBA_FILE, TENANTS_FILE,
    USERS_FILE,
};

/// What a host's PgBouncer must serve, as the control plane holds it: read by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BouncerState {
    /// One pool per live database.
    pub pools: Vec<BouncerPool>,
    /// The logins of database users (role name and SCRAM verifier).
    pub users: Vec<AuthEntry>,
    /// The networks admitted to each database that has allowlist rules; the others are open.
    pub allowlists: Vec<(DatabaseName, Vec<Cidr>)>,
    /// Pools PgBouncer must keep DISABLEd (stopped databases).
    pub closed: Vec<DatabaseName>,
}

/// A live database's pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncerPool {
    pub name: DatabaseName,
    /// The SCRAM verifier of the database's own role.
    pub verifier: String,
    /// Server connections for the whole database (its plan's cap).
    pub max_db_connections: i32,
    /// A database moved off this host: the pooler (host, port) now serving it, to which
    /// this pooler passes its clients on (SCRAM passes through: the same verifier is in
    /// both poolers' logins). `None`: served from this host's own cluster.
    pub forward_to: Option<(String, u16)>,
}

/// PgBouncer's rendered files as they are on disk (`None`: absent), read by
/// [`HostConn::bouncer_files`].
pub struct BouncerFiles([Option<Vec<u8>>; 3]);

/// A host's syncs in this process: one at a time, and the renders begun and finished.
pub(crate) type SyncTurn = Arc<SyncState>;

#[derive(Default)]
pub(crate) struct SyncState {
    turn: tokio::sync::Mutex<()>,
    renders: std::sync::Mutex<Renders>,
    /// Requests waiting for their turn now.
    waiting: std::sync::atomic::AtomicUsize,
}

/// Counts a request as waiting for its turn while it lives (a cancelled wait included).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
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

/// A sync asked for, waiting for its turn in this process.
pub struct SyncRequest<'a> {
    state: &'a SyncState,
    host: HostId,
    seen: u64,
    asked_at: Instant,
}

/// This process's turn on the host's PgBouncer: no other render of this process runs while
/// it is held.
pub struct BouncerTurn<'a> {
    state: &'a SyncState,
    host: HostId,
    asked_at: Instant,
    _turn: tokio::sync::MutexGuard<'a, ()>,
}

/// A render begun (numbered) during a turn.
pub struct BouncerRender<'a> {
    turn: BouncerTurn<'a>,
    number: u64,
    started: Instant,
}

impl HostConn {
    /// Asks for a sync, after whatever the caller committed: notes how many renders of this
    /// process had begun (see the module comment for the whole sequence).
    pub fn ask_bouncer_sync(&self) -> SyncRequest<'_> {
        request(&self.sync_turn, self.spec.id)
    }

    /// How many sync requests of this process wait for their turn on this host now (while
    /// one renders, or waits for the host's lock).
    pub fn bouncer_syncs_waiting(&self) -> usize {
        self.sync_turn.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }
}

pub(crate) fn request(state: &SyncState, host: HostId) -> SyncRequest<'_> {
    SyncRequest { state, host, seen: state.renders().begun, asked_at: Instant::now() }
}

impl<'a> SyncRequest<'a> {
    /// Waits for this process's turn; `None` when a render of this process that began after
    /// the request has finished meanwhile (it did the request's work: [`Synced::Covered`]).
    pub async fn turn(self) -> Option<BouncerTurn<'a>> {
        let state = self.state;
        let waiting = Waiting::new(&state.waiting);
        let turn = state.turn.lock().await;
        drop(waiting);
        if state.renders().done > self.seen {
            covered(self.host, self.asked_at);
            return None;
        }
        Some(BouncerTurn { state, host: self.host, asked_at: self.asked_at, _turn: turn })
    }
}

fn covered(host: HostId, asked_at: Instant) -> Synced {
    tracing::debug!(host = %host, waited_ms = ms(asked_at.elapsed()), "pgbouncer sync done by another");
    Synced::Covered
}

impl<'a> BouncerTurn<'a> {
    /// Ends the turn without rendering: another process's sync did the work.
    pub fn covered(self) -> Synced {
        covered(self.host, self.asked_at)
    }

    /// Numbers the render, before the caller reads what to render.
    pub fn begin(self) -> BouncerRender<'a> {
        let number = {
            let mut r = self.state.renders();
            r.begun += 1;
            r.begun
        };
        BouncerRender { turn: self, number, started: Instant::now() }
    }
}

impl BouncerRender<'_> {
    /// Marks the render done (after [`HostConn::apply_bouncer_state`] succeeded and the caller
    /// recorded it): requests of this process noted before it began are covered.
    pub fn finish(self) -> Synced {
        let mut r = self.turn.state.renders();
        r.done = r.done.max(self.number);
        drop(r);
        tracing::debug!(
            host = %self.turn.host,
            waited_ms = ms(self.started - self.turn.asked_at),
            ms = ms(self.started.elapsed()),
            "pgbouncer sync rendered"
        );
        Synced::Rendered
    }
}

impl HostConn {
    /// Renders `state`, swaps the files in, RELOADs and checks, and re-asserts DISABLE on the
    /// closed pools. A RELOAD that does not take is undone ([`HostError::ReloadNotTaken`]).
    /// Runs during a [`BouncerRender`] (one at a time per host in this process, numbered).
    pub async fn apply_bouncer_state(&self, state: &BouncerState) -> Result<(), HostError> {
        let files = self.render_bouncer(state)?;
        let dir = PathBuf::from(&self.spec.config_dir);
        let previous_hba = read_optional(&dir.join(HBA_FILE)).await?;
        futures::future::try_join_all(
            files.iter().map(|(name, text)| write_atomically(&dir, name, text.as_bytes(), 0o600)),
        )
        .await?;
        let admin = self.admin().await?;
        if let Err(e) = self.reload_checked(&admin, &dir).await {
            drop(admin); // restoring takes its own turn on the console
            self.restore_hba(&dir, previous_hba).await;
            return Err(HostError::ReloadNotTaken(Box::new(e)));
        }
        let statuses = crate::lifecycle::pool_statuses(&admin).await?;
        let missing: Vec<&str> =
            state.pools.iter().map(|p| p.name.as_str()).filter(|n| !statuses.iter().any(|s| s.name == *n)).collect();
        if !missing.is_empty() {
            return Err(HostError::Transient(format!("pgbouncer did not take pools {missing:?} after RELOAD")));
        }
        // DISABLE lives only in PgBouncer's memory: re-assert it for stopped databases after
        // every reload (and so after a PgBouncer restart, on the next sync).
        for status in statuses {
            if !status.disabled && state.closed.iter().any(|c| c.as_str() == status.name) {
                admin.simple_query(&format!("DISABLE \"{}\"", status.name)).await?;
            }
        }
        Ok(())
    }

    /// What PgBouncer's files should say for `state`: for each file its name and text
    /// (logins, pools, HBA), validated.
    fn render_bouncer(&self, state: &BouncerState) -> Result<[(&'static str, String); 3], HostError> {
        let mut auth = vec![AuthEntry { user: self.spec.admin_user.clone(), secret: self.admin_password.clone() }];
        let mut entries = Vec::with_capacity(state.pools.len());
        for pool in &state.pools {
            auth.push(AuthEntry { user: pool.name.to_string(), secret: pool.verifier.clone() });
            let (backend_host, backend_port) =
                pool.forward_to.clone().unwrap_or_else(|| (self.spec.pg_host.clone(), self.spec.pg_port));
            entries.push(PoolEntry {
                name: pool.name.clone(),
                backend_host,
                backend_port,
                max_db_connections: pool.max_db_connections,
            });
        }
        auth.extend(state.users.iter().cloned());
        let hba = render_hba(&state.allowlists);
        validate_hba(&hba).map_err(HostError::Permanent)?;
        Ok([(USERS_FILE, render_auth_file(&auth)), (TENANTS_FILE, render_tenants(&entries)), (HBA_FILE, hba)])
    }

    /// PgBouncer's rendered files as they are on disk now.
    pub async fn bouncer_files(&self) -> Result<BouncerFiles, HostError> {
        let dir = PathBuf::from(&self.spec.config_dir);
        let mut on_disk: [Option<Vec<u8>>; 3] = Default::default();
        for (slot, name) in on_disk.iter_mut().zip([USERS_FILE, TENANTS_FILE, HBA_FILE]) {
            *slot = read_optional(&dir.join(name)).await?;
        }
        Ok(BouncerFiles(on_disk))
    }

    /// The names of PgBouncer's files `on_disk` that differ from what `state` renders (pools
    /// with their addresses and caps, logins, HBA): after an upgrade that changed how pools
    /// reach PostgreSQL, or a hand edit. Read the files first and the state after: a change
    /// between the two is then in the render.
    pub fn stale_bouncer_files(
        &self,
        on_disk: &BouncerFiles,
        state: &BouncerState,
    ) -> Result<Vec<&'static str>, HostError> {
        let files = self.render_bouncer(state)?;
        Ok(files
            .iter()
            .zip(&on_disk.0)
            .filter(|((_, text), disk)| disk.as_deref() != Some(text.as_bytes()))
            .map(|((name, _), _)| *name)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_is_covered_only_by_a_render_begun_after_it() {
        let state = SyncState::default();
        let host = HostId::new();
        let early = request(&state, host);
        // A render begins (numbered) and, before it finishes, a second request comes.
        let render = request(&state, host).turn().await.expect("nothing rendered yet").begin();
        let late = request(&state, host);
        assert_eq!(render.finish(), Synced::Rendered);
        assert!(early.turn().await.is_none(), "the render began after the early request: covered");
        let turn = late.turn().await.expect("the render began before the late request: its turn");
        // The late request renders; a request noted after that render began is not covered by it.
        let render = turn.begin();
        let later = request(&state, host);
        assert_eq!(render.finish(), Synced::Rendered);
        assert!(later.turn().await.is_some());
    }
}
