//! The control-plane database's migrations, embedded in the binary and applied once, in
//! order, under an advisory lock so several processes starting together apply each exactly once.

use tokio_postgres::Client;

pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "events", sql: include_str!("../migrations/0001_events.sql") },
    Migration { version: 2, name: "read_models", sql: include_str!("../migrations/0002_read_models.sql") },
    Migration { version: 3, name: "secrets_incidents", sql: include_str!("../migrations/0003_secrets_incidents.sql") },
    Migration { version: 4, name: "audit", sql: include_str!("../migrations/0004_audit.sql") },
    Migration { version: 5, name: "backups", sql: include_str!("../migrations/0005_backups.sql") },
    Migration { version: 6, name: "access", sql: include_str!("../migrations/0006_access.sql") },
    Migration { version: 7, name: "network_and_users", sql: include_str!("../migrations/0007_access.sql") },
    Migration { version: 8, name: "events_position", sql: include_str!("../migrations/0008_events_position.sql") },
    Migration { version: 9, name: "no_stream_rows", sql: include_str!("../migrations/0009_no_stream_rows.sql") },
    Migration { version: 10, name: "sessions_signups", sql: include_str!("../migrations/0010_sessions_signups.sql") },
    Migration { version: 11, name: "backup_keys", sql: include_str!("../migrations/0011_backup_keys.sql") },
    Migration { version: 12, name: "database_locks", sql: include_str!("../migrations/0012_database_locks.sql") },
    Migration { version: 13, name: "account_indexes", sql: include_str!("../migrations/0013_account_indexes.sql") },
    Migration { version: 14, name: "sql", sql: include_str!("../migrations/0014_sql.sql") },
    Migration { version: 15, name: "observations", sql: include_str!("../migrations/0015_observations.sql") },
    Migration { version: 16, name: "data_api", sql: include_str!("../migrations/0016_data_api.sql") },
    Migration { version: 17, name: "query_log_callers", sql: include_str!("../migrations/0017_query_log_callers.sql") },
    Migration { version: 18, name: "key_access", sql: include_str!("../migrations/0018_key_access.sql") },
    Migration { version: 19, name: "engines", sql: include_str!("../migrations/0019_engines.sql") },
    Migration { version: 20, name: "hosts", sql: include_str!("../migrations/0020_hosts.sql") },
    Migration { version: 21, name: "moves", sql: include_str!("../migrations/0021_moves.sql") },
];

/// Advisory-lock key for migrations ("berthmig" in ASCII).
const LOCK_KEY: i64 = 0x6265_7274_686d_6967;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {version} ({name}) failed: {source}")]
    Failed { version: i32, name: &'static str, source: tokio_postgres::Error },
    #[error("migrations table: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// Applies every migration not yet applied. Returns how many were applied now.
pub async fn migrate(client: &mut Client) -> Result<usize, MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("select pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await?;
    tx.batch_execute(
        "create table if not exists schema_migrations (
             version int primary key, name text not null, applied_at timestamptz not null default now())",
    )
    .await?;
    let applied: Vec<i32> =
        tx.query("select version from schema_migrations", &[]).await?.iter().map(|r| r.get(0)).collect();
    let mut count = 0;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tx.batch_execute(m.sql).await.map_err(|source| MigrateError::Failed {
            version: m.version,
            name: m.name,
            source,
        })?;
        tx.execute("insert into schema_migrations (version, name) values ($1, $2)", &[&m.version, &m.name]).await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        count += 1;
    }
    tx.commit().await?;
    Ok(count)
}

/// True when every embedded migration is applied (for `/readyz`).
pub async fn is_current(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let exists: bool = client.query_one("select to_regclass('schema_migrations') is not null", &[]).await?.get(0);
    if !exists {
        return Ok(false);
    }
    let applied: Vec<i32> =
        client.query("select version from schema_migrations", &[]).await?.iter().map(|r| r.get(0)).collect();
    Ok(MIGRATIONS.iter().all(|m| applied.contains(&m.version)))
}
