//! Read-only inspection of a tenant database for its users: usage metrics and the shape of
//! its schema, on short-lived connections with a statement timeout so a slow catalog cannot
//! hold an API worker. Metrics are read in the maintenance database (`postgres`, which no
//! tenant may connect to) as the host's superuser; the schema is read inside the tenant's
//! database as the tenant's own role ([`crate::tenant`]), read-only.

use std::time::Duration;

use domain::{DatabaseName, TenantHost};

use crate::host::HostError;
use crate::tenant::TenantLogin;

#[derive(Debug, Clone)]
pub struct DatabaseMetrics {
    pub size_bytes: i64,
    pub active_connections: i64,
    pub transactions_committed: i64,
    pub transactions_rolled_back: i64,
    /// Share of block reads served from shared buffers; `None` before any read.
    pub cache_hit_ratio: Option<f64>,
    /// The tenant's costliest statements; `None` when the host lacks pg_stat_statements.
    pub top_statements: Option<Vec<StatementStats>>,
}

#[derive(Debug, Clone)]
pub struct StatementStats {
    /// Normalised text (constants replaced by `$n`).
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
}

#[derive(Debug, Clone)]
pub struct SchemaInfo {
    pub tables: Vec<TableInfo>,
    pub views: Vec<ViewInfo>,
}

#[derive(Debug, Clone)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnInfo>,
}

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
}

#[derive(Debug, Clone)]
pub struct ViewInfo {
    pub schema: String,
    pub name: String,
}

/// A superuser session in the host's maintenance database.
async fn connect_maintenance(host: &TenantHost, superuser_password: &str) -> Result<tokio_postgres::Client, HostError> {
    let options = crate::tenant::pinned_options(crate::tenant::SessionLimits::REQUEST);
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&host.pg_host)
        .port(host.pg_port)
        .user(&host.superuser)
        .password(superuser_password)
        .dbname("postgres")
        .options(&options)
        .application_name("berth-inspect")
        .connect_timeout(Duration::from_secs(5));
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Size, connections, transactions and cache hits of `name`, and its tenant role's top
/// statements when pg_stat_statements is loaded on the host, read as the host's superuser.
pub async fn database_metrics(
    host: &TenantHost,
    superuser_password: &str,
    name: &DatabaseName,
) -> Result<DatabaseMetrics, HostError> {
    let client = connect_maintenance(host, superuser_password).await?;
    let row = client
        .query_one(
            "select pg_database_size(d.datname),
                    (select count(*) from pg_stat_activity a where a.datname = d.datname and a.state = 'active'),
                    s.xact_commit, s.xact_rollback,
                    case when s.blks_hit + s.blks_read > 0
                         then s.blks_hit::float8 / (s.blks_hit + s.blks_read) end
             from pg_database d join pg_stat_database s on s.datid = d.oid
             where d.datname = $1",
            &[&name.as_str()],
        )
        .await?;
    // NULL when the database was dropped between the join and the measurement.
    let size_bytes: Option<i64> = row.get(0);
    let size_bytes =
        size_bytes.ok_or_else(|| HostError::Permanent(format!("database {name} is gone from the host")))?;
    Ok(DatabaseMetrics {
        size_bytes,
        active_connections: row.get(1),
        transactions_committed: row.get(2),
        transactions_rolled_back: row.get(3),
        cache_hit_ratio: row.get(4),
        top_statements: top_statements(&client, name).await,
    })
}

/// `None` when the host cannot tell (the library is not preloaded); errors degrade to `None`
/// too, logged, since the other figures are still worth showing.
async fn top_statements(client: &tokio_postgres::Client, name: &DatabaseName) -> Option<Vec<StatementStats>> {
    if !crate::observe::statements_available(client).await {
        return None;
    }
    // Only the tenant role's statements in its database, and never one that mentions a
    // password (utility statements keep their literals before PostgreSQL 16).
    let rows = client
        .query(
            "select s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.rows
             from public.pg_stat_statements s
             join pg_database d on d.oid = s.dbid join pg_roles r on r.oid = s.userid
             where d.datname = $1 and r.rolname = $1 and s.query !~* 'password|secret'
             order by s.total_exec_time desc limit 10",
            &[&name.as_str()],
        )
        .await;
    match rows {
        Ok(rows) => Some(
            rows.iter()
                .map(|r| StatementStats {
                    query: r.get(0),
                    calls: r.get(1),
                    total_ms: r.get(2),
                    mean_ms: r.get(3),
                    rows: r.get(4),
                })
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read pg_stat_statements");
            None
        }
    }
}

/// Tables (with their columns and types) and views of `name`, outside the system schemas:
/// what its owner role (`owner`, see [`TenantLogin::owner`]) can see, read as that role in a
/// read-only transaction.
pub async fn database_schema(
    host: &TenantHost,
    owner: &TenantLogin,
    name: &DatabaseName,
) -> Result<SchemaInfo, HostError> {
    let mut conn = crate::tenant::connect(host, name.as_str(), owner, crate::tenant::SessionLimits::REQUEST).await?;
    let tx = conn.build_transaction().read_only(true).start().await?;
    // Every comparison is made on plain text with pg_catalog's operators: information_schema
    // columns are domains, on which the tenant may define operators of its own.
    let columns = tx
        .query(
            "select c.table_schema::pg_catalog.text, c.table_name::pg_catalog.text,
                    c.column_name::pg_catalog.text, c.data_type::pg_catalog.text,
                    c.is_nullable::pg_catalog.text OPERATOR(pg_catalog.=) 'YES'
             from information_schema.columns c
             join information_schema.tables t
               on t.table_schema::pg_catalog.text OPERATOR(pg_catalog.=) c.table_schema::pg_catalog.text
              and t.table_name::pg_catalog.text OPERATOR(pg_catalog.=) c.table_name::pg_catalog.text
             where t.table_type::pg_catalog.text OPERATOR(pg_catalog.=) 'BASE TABLE'
               and c.table_schema::pg_catalog.text OPERATOR(pg_catalog.<>) 'pg_catalog'
               and c.table_schema::pg_catalog.text OPERATOR(pg_catalog.<>) 'information_schema'
             order by 1, 2, c.ordinal_position::pg_catalog.int4",
            &[],
        )
        .await?;
    let mut tables: Vec<TableInfo> = Vec::new();
    for r in &columns {
        let (schema, table): (String, String) = (r.get(0), r.get(1));
        if tables.last().is_none_or(|t| t.schema != schema || t.name != table) {
            tables.push(TableInfo { schema, name: table, columns: Vec::new() });
        }
        if let Some(t) = tables.last_mut() {
            t.columns.push(ColumnInfo { name: r.get(2), data_type: r.get(3), nullable: r.get(4) });
        }
    }
    let views = tx
        .query(
            "select table_schema::pg_catalog.text, table_name::pg_catalog.text from information_schema.views
             where table_schema::pg_catalog.text OPERATOR(pg_catalog.<>) 'pg_catalog'
               and table_schema::pg_catalog.text OPERATOR(pg_catalog.<>) 'information_schema'
             order by 1, 2",
            &[],
        )
        .await?
        .iter()
        .map(|r| ViewInfo { schema: r.get(0), name: r.get(1) })
        .collect();
    Ok(SchemaInfo { tables, views })
}
