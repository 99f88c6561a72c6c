//! `berth bench …`: each benchmark measures our path and its baseline on the same machine in
//! the same run, and prints medians and ratios (absolute numbers on a noisy 2-core machine
//! say little; ratios say how much the platform adds). Each boots a scratch platform in a
//! temp dir (fsync off, as in tests; periodic jobs and request budgets as in production, see
//! `HarnessOptions::benchmark`) that goes away when the command ends.

mod append;
mod auth;
mod backup;
mod chaos;
mod data;
mod http;
mod jobtimes;
mod maria;
mod mixed;
mod moves;
mod neighbours;
mod pooler;
mod provision;
mod replay;
mod rotate;
mod sql;
pub mod stats;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Create→running latency through the API vs raw CREATE ROLE/DATABASE on the same host
    /// (`--engine mariadb`: CREATE DATABASE, CREATE USER, GRANT on the MariaDB host).
    Provision {
        #[arg(long, default_value_t = 20)]
        count: usize,
        #[arg(long, default_value = "postgres", value_parser = ["postgres", "mariadb"])]
        engine: String,
    },
    /// Authenticated `GET /databases` throughput and p99 vs `GET /healthz`, same server.
    Auth {
        #[arg(long, default_value_t = 3000)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// reset-password → new password works through PgBouncer, vs ALTER ROLE + auth_file + RELOAD by hand.
    Rotate {
        #[arg(long, default_value_t = 30)]
        count: usize,
    },
    /// Event-store appends per second vs raw INSERTs of the same rows.
    Append {
        #[arg(long, default_value_t = 5000)]
        events: usize,
    },
    /// Audit replay (rebuild every read model from the log) vs COPY of the same rows.
    Replay {
        #[arg(long, default_value_t = 20000)]
        events: usize,
    },
    /// Backup and restore MB/s vs `pg_dump | gzip -1` and `gunzip -c | psql`, and the backup
    /// process's peak memory (`--engine mariadb`: vs `mariadb-dump | gzip -1` and
    /// `gunzip -c | mariadb`).
    Backup {
        #[arg(long, default_value_t = 200)]
        size_mb: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value = "postgres", value_parser = ["postgres", "mariadb"])]
        engine: String,
    },
    /// Crash consistency: N trials of random load from concurrent clients, `kill -9` of a
    /// real `berth up` and restart on the same data dir, then the invariants (lost,
    /// duplicated, orphaned, stuck, mismatched, replay differences, server errors).
    /// Exits 1 when any is not zero.
    Chaos {
        #[arg(long, default_value_t = 10)]
        trials: usize,
        #[arg(long, default_value_t = 3)]
        clients: usize,
    },
    /// N clients of one account sending a valid mix (create, get, list, credentials, backup,
    /// allowlist add/delete, stop/start/restart, delete): p50/p99 per route against the same
    /// routes one at a time on the quiet platform, operations per second, server errors and
    /// lost operations (exits 1 unless both are 0), the process's RSS, and where jobs spent
    /// their time.
    Mixed {
        #[arg(long, default_value_t = 8)]
        clients: usize,
        #[arg(long, default_value_t = 180)]
        seconds: u64,
        #[arg(long, default_value_t = 5)]
        quiet_rounds: usize,
    },
    /// Another account's provision latency (create → running) and a backup's duration while one
    /// hostile tenant runs its worst (a table held locked under its queued backups, silent
    /// sockets to PgBouncer, more locks in one transaction than its share), against the same
    /// on the quiet host, same run.
    Neighbours {
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// Silent sockets the hostile tenant keeps open to PgBouncer.
        #[arg(long, default_value_t = 200)]
        sockets: usize,
    },
    /// What the guard on PgBouncer's port adds: `select 1` round trips, logins and throughput
    /// through the connection string vs straight to PgBouncer's Unix socket, same run.
    Pooler {
        #[arg(long, default_value_t = 5000)]
        queries: usize,
        #[arg(long, default_value_t = 200)]
        logins: usize,
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// `POST /databases/{id}/sql` for a SELECT of 1 row and of 10,000 rows vs the same query
    /// through tokio-postgres over PgBouncer (a session per query, and a connection kept open).
    Sql {
        #[arg(long, default_value_t = 30)]
        rounds: usize,
    },
    /// The data API (`GET /rest/v1/items?select=*&limit=100` with a publishable key) vs the
    /// same SELECT through tokio-postgres over PgBouncer on connections kept open: throughput
    /// and p99 at the same number of concurrent clients.
    Data {
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// A database moved between two hosts while clients write to it through its old
    /// connection string: the write pause, the move's time against `pg_dump | psql` by hand
    /// between the same clusters, and the clients' TPS during the move against before it.
    Move {
        #[arg(long, default_value_t = 100)]
        size_mb: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
    /// (internal) One backup as the backup job does it, for `bench backup`'s memory figure.
    #[command(hide = true)]
    BackupWorker {
        #[arg(long)]
        root: std::path::PathBuf,
        #[arg(long)]
        key: String,
    },
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let mut options = crate::harness::HarnessOptions::benchmark();
    options.mariadb = matches!(&cmd, BenchCommand::Provision { engine, .. } | BenchCommand::Backup { engine, .. }
        if engine == "mariadb");
    crate::harness::configure(options);
    match cmd {
        BenchCommand::Provision { count, engine } => provision::run(count, &engine).await,
        BenchCommand::Append { events } => append::run(events).await,
        BenchCommand::Auth { requests, concurrency } => auth::run(requests, concurrency).await,
        BenchCommand::Replay { events } => replay::run(events).await,
        BenchCommand::Rotate { count } => rotate::run(count).await,
        BenchCommand::Backup { size_mb, runs, engine } if engine == "mariadb" => maria::backup(size_mb, runs).await,
        BenchCommand::Backup { size_mb, runs, .. } => backup::run(size_mb, runs).await,
        BenchCommand::Chaos { trials, clients } => chaos::run(trials, clients).await,
        BenchCommand::Mixed { clients, seconds, quiet_rounds } => mixed::run(clients, seconds, quiet_rounds).await,
        BenchCommand::Neighbours { rounds, sockets } => neighbours::run(rounds, sockets).await,
        BenchCommand::Sql { rounds } => sql::run(rounds).await,
        BenchCommand::Pooler { queries, logins, clients } => pooler::run(queries, logins, clients).await,
        BenchCommand::Data { requests, clients } => data::run(requests, clients).await,
        BenchCommand::Move { size_mb, runs, clients } => moves::run(size_mb, runs, clients).await,
        BenchCommand::BackupWorker { root, key } => backup::worker(root, key).await,
    }
}
