//! The lock watchdog's session on one host: the host's superuser in the maintenance database,
//! taken out of the host's pool for good and kept between rounds.
//!
//! Its round must work while a tenant has filled the lock table, when no new entry can be
//! taken there (seen: even the superuser's `pg_stat_activity` then fails with "out of shared
//! memory"). What a round needs:
//! - relations of its own database and functions: PostgreSQL records those locks in
//!   per-backend fast-path slots, no table entry, so `pg_lock_status()` and
//!   `pg_stat_get_activity()` are read directly (their views join shared catalogs);
//! - the shared catalogs `pg_database` (names) and `pg_authid` (superusers; and
//!   `pg_terminate_backend` looks its target's role up there on a cache miss — a tenant role
//!   created just before the fill is one): their locks need table entries. So the session
//!   keeps a transaction open (read committed, no xid, no snapshot between statements, so it
//!   holds back no vacuum) in which it has locked them (`ACCESS SHARE`, with their indexes,
//!   which the planner opens), and a lock a backend already holds is granted again without a
//!   new entry. Each round runs in a savepoint, so an error does not drop them; the
//!   transaction is renewed while the table is far from full (a `VACUUM FULL` of those
//!   catalogs waits for it at most a round).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::ClientWrapper;
use domain::TenantHost;
use eventstore::Store;
use hostctl::Hosts;

use super::Holder;

/// Backends in tenant databases and the locks each holds (granted or awaited: both take
/// entries in the table). Parallel workers count on their own; autovacuum does not count.
const HOLDERS: &str = "select a.datid, a.pid, a.backend_start,
        coalesce(a.application_name, '') like 'berth-%', count(*)::int8
    from pg_catalog.pg_lock_status() l
    join pg_catalog.pg_stat_get_activity(null) a on a.pid = l.pid
    where a.datid <> all($1::oid[]) and a.usesysid <> all($2::oid[])
      and a.backend_type in ('client backend', 'parallel worker')
    group by 1, 2, 3, 4";

/// Terminates the listed backends, each only if that pid is still the same backend
/// (same start time, same database): a pid freed since the read may be someone else's now.
const TERMINATE: &str = "with targets as materialized (
        select a.pid from pg_catalog.pg_stat_get_activity(null) a
        join rows from (pg_catalog.unnest($1::int4[]), pg_catalog.unnest($2::timestamptz[])) as v(pid, started)
          on v.pid = a.pid and v.started = a.backend_start
        where a.datid = $3::oid)
    select pg_catalog.pg_terminate_backend(pid) from targets";

/// The lock budget of the host: `max_locks_per_transaction`, `max_connections`.
const SETTINGS: &str = "select pg_catalog.current_setting('max_locks_per_transaction')::int8,
        pg_catalog.current_setting('max_connections')::int8";

pub(super) struct Session {
    client: ClientWrapper,
    /// Every database's name by oid.
    names: HashMap<u32, String>,
    /// `postgres`, `template0`, `template1`: never counted.
    maintenance: Vec<u32>,
    /// Superuser roles: never counted (tenants cannot become one).
    superusers: Vec<u32>,
}

impl Session {
    pub(super) async fn open(store: &Store, hosts: &Hosts, row: &TenantHost) -> anyhow::Result<Session> {
        let conn = crate::hosts::open(hosts, store, row.id).await?;
        let client = deadpool_postgres::Object::take(conn.pool.get().await?);
        client.batch_execute("set statement_timeout = '5s'; begin isolation level read committed").await?;
        let mut session = Session { client, names: HashMap::new(), maintenance: Vec::new(), superusers: Vec::new() };
        session.read_catalogs().await?;
        Ok(session)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Reads (and, in a new transaction, locks) the shared catalogs the round needs.
    async fn read_catalogs(&mut self) -> anyhow::Result<()> {
        let dbs = self.client.query("select oid, datname::text from pg_catalog.pg_database", &[]).await?;
        // Through the role cache as well (pg_get_userbyid), which pg_terminate_backend uses.
        let roles = "select oid, rolsuper, pg_catalog.pg_get_userbyid(oid)::text from pg_catalog.pg_authid";
        let roles = self.client.query(roles, &[]).await?;
        self.names = dbs.iter().map(|r| (r.get(0), r.get(1))).collect();
        let maintenance = ["postgres", "template0", "template1"];
        self.maintenance =
            self.names.iter().filter(|(_, n)| maintenance.contains(&n.as_str())).map(|(oid, _)| *oid).collect();
        self.superusers = roles.iter().filter(|r| r.get::<_, bool>(1)).map(|r| r.get(0)).collect();
        Ok(())
    }

    pub(super) fn name(&self, datid: u32) -> Option<&str> {
        self.names.get(&datid).map(String::as_str)
    }

    /// Starts a round: a savepoint, and today's catalogs.
    pub(super) async fn begin_round(&mut self) -> anyhow::Result<()> {
        self.client.batch_execute("savepoint round").await?;
        self.read_catalogs().await
    }

    /// Ends a round: keeps its work or undoes it (the transaction's own locks stay either
    /// way). When the tenants held less than half of what the table is sized for, the
    /// transaction is renewed, so it never holds the catalogs for long.
    pub(super) async fn end_round(&mut self, ok: bool, renew: bool) -> anyhow::Result<()> {
        let end = if ok { "release savepoint round" } else { "rollback to savepoint round" };
        self.client.batch_execute(end).await?;
        if ok && renew {
            self.client.batch_execute("commit; begin isolation level read committed").await?;
            self.read_catalogs().await?;
        }
        Ok(())
    }

    /// `max_locks_per_transaction`, `max_connections`, and every backend holding locks.
    pub(super) async fn holders(&self) -> anyhow::Result<(i64, i64, Vec<Holder>)> {
        let settings = self.client.query_one(SETTINGS, &[]).await?;
        let rows = self.client.query(HOLDERS, &[&self.maintenance, &self.superusers]).await?;
        let holders = rows
            .iter()
            .map(|r| Holder { datid: r.get(0), pid: r.get(1), started: r.get(2), platform: r.get(3), locks: r.get(4) })
            .collect();
        Ok((settings.get(0), settings.get(1), holders))
    }

    /// Terminates `victims` (all of database `datid`); how many were.
    pub(super) async fn terminate(&self, datid: u32, victims: &[&Holder]) -> anyhow::Result<usize> {
        let pids: Vec<i32> = victims.iter().map(|h| h.pid).collect();
        let starts: Vec<DateTime<Utc>> = victims.iter().map(|h| h.started).collect();
        let done = self.client.query(TERMINATE, &[&pids, &starts, &datid]).await?;
        Ok(done.iter().filter(|r| r.get::<_, bool>(0)).count())
    }
}
