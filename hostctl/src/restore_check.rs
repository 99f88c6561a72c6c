//! Checking restores: what a backup records to make its restore checkable (per-table stats
//! taken in the snapshot pg_dump dumps, exported for it), the marker of a database filled
//! from its source to the end, and the scratch databases a verification restores into.
//!
//! Per table: its row count and an order-independent checksum (the sum of a 64-bit hash of
//! each row's text form), taken in the same snapshot pg_dump dumps, so a restore of that
//! dump must reproduce them exactly.

use domain::TableStats;

use crate::tenant::tenant_error;
use crate::{HostConn, HostError};

/// User tables of the connected database, as quoted `schema.table`. Runs in a tenant
/// database (as the tenant's role, with a pinned `search_path`): every function and operator
/// is qualified, so nothing the tenant defined is picked by name.
const TABLES_SQL: &str = "select pg_catalog.format('%I.%I', n.nspname, c.relname)
     from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid OPERATOR(pg_catalog.=) c.relnamespace
     where c.relkind OPERATOR(pg_catalog.=) 'r'
       and n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog' and n.nspname OPERATOR(pg_catalog.<>) 'information_schema'
       and n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_toast%' and n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_temp%'
       and not exists (select 1 from pg_catalog.pg_depend d
                       where d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                         and d.objid OPERATOR(pg_catalog.=) c.oid and d.deptype OPERATOR(pg_catalog.=) 'e')
     order by 1";

/// One table's row count and checksum. The row's text is `record_out`'s, called by name:
/// `t::text` would call a cast from the table's row type that its owner may have created.
fn table_stats_sql(table: &str) -> String {
    format!(
        "select pg_catalog.count(*), coalesce(pg_catalog.sum(pg_catalog.hashtextextended(
                pg_catalog.textin(pg_catalog.record_out(t)), 0::pg_catalog.int8)::pg_catalog.numeric),
             0::pg_catalog.numeric)::pg_catalog.text
         from {table} t"
    )
}

/// Row counts and checksums of every user table, read through `client` (inside whatever
/// transaction and snapshot it is in).
pub async fn table_stats(client: &impl tokio_postgres::GenericClient) -> Result<Vec<TableStats>, HostError> {
    let tables: Vec<String> =
        client.query(TABLES_SQL, &[]).await.map_err(tenant_error)?.iter().map(|r| r.get(0)).collect();
    let mut out = Vec::with_capacity(tables.len());
    for table in tables {
        // `table` comes from format('%I.%I'): quoted by the server itself.
        let row = client.query_one(&table_stats_sql(&table), &[]).await.map_err(tenant_error)?;
        out.push(TableStats { table, rows: row.get(0), checksum: row.get(1) });
    }
    Ok(out)
}

/// A transaction whose snapshot pg_dump can share (`--snapshot`), so the stats taken in it
/// describe exactly what is dumped. Keep it open until pg_dump has finished.
pub async fn export_snapshot(
    client: &mut tokio_postgres::Client,
) -> Result<(tokio_postgres::Transaction<'_>, String), HostError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(tenant_error)?;
    let id: String = tx.query_one("select pg_export_snapshot()", &[]).await.map_err(tenant_error)?.get(0);
    Ok((tx, id))
}

/// The differences between what a backup recorded and what a restore holds; empty if none.
pub fn compare(recorded: &[TableStats], restored: &[TableStats]) -> Vec<String> {
    let mut problems = Vec::new();
    for want in recorded {
        match restored.iter().find(|t| t.table == want.table) {
            None => problems.push(format!("{}: missing after restore", want.table)),
            Some(got) if got.rows != want.rows => {
                problems.push(format!("{}: {} rows recorded, {} restored", want.table, want.rows, got.rows))
            }
            Some(got) if got.checksum != want.checksum => problems.push(format!("{}: content differs", want.table)),
            Some(_) => {}
        }
    }
    for got in restored.iter().filter(|g| !recorded.iter().any(|w| w.table == g.table)) {
        problems.push(format!("{}: not in the backup", got.table));
    }
    problems
}

/// The comment that marks a database as filled from its source (restore or branch).
const POPULATED: &str = "berth:populated";

impl HostConn {
    /// Whether the database was filled from its source to the end.
    pub async fn is_populated(&self, name: &domain::DatabaseName) -> Result<bool, HostError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "select shobj_description(oid, 'pg_database') from pg_database where datname = $1",
                &[&name.as_str()],
            )
            .await?;
        Ok(row.and_then(|r| r.get::<_, Option<String>>(0)).as_deref() == Some(POPULATED))
    }

    pub async fn mark_populated(&self, name: &domain::DatabaseName) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        client.batch_execute(&format!("COMMENT ON DATABASE {} IS '{POPULATED}'", name.quoted())).await?;
        Ok(())
    }

    /// Drops the (not yet populated, so possibly half-filled) database and creates it empty
    /// again, owned by its role and closed to everyone else.
    pub async fn recreate_database(&self, name: &domain::DatabaseName) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        crate::host::drop_any_database(&client, name.as_str()).await?;
        drop(client);
        self.ensure_database(name).await?;
        self.restrict_connect(name).await
    }

    /// Creates the scratch database `name` (reserved `berth-` prefix, never a tenant's)
    /// owned by `owner`, which alone may connect to it.
    pub async fn create_scratch(&self, name: &str, owner: &domain::DatabaseName) -> Result<(), HostError> {
        self.drop_scratch(name).await?;
        let client = self.pool.get().await?;
        let o = owner.quoted();
        // CREATE DATABASE cannot share a (implicit) transaction with anything else.
        client.batch_execute(&format!("CREATE DATABASE \"{name}\" OWNER {o}")).await?;
        client
            .batch_execute(&format!(
                "REVOKE CONNECT, TEMPORARY ON DATABASE \"{name}\" FROM PUBLIC;
                 GRANT CONNECT, TEMPORARY ON DATABASE \"{name}\" TO {o}"
            ))
            .await?;
        Ok(())
    }

    pub async fn drop_scratch(&self, name: &str) -> Result<(), HostError> {
        if !name.starts_with("berth-") || name.contains('"') {
            return Err(HostError::Permanent(format!("{name} is not a scratch database name")));
        }
        let client = self.pool.get().await?;
        crate::host::drop_any_database(&client, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(table: &str, rows: i64, checksum: &str) -> TableStats {
        TableStats { table: table.into(), rows, checksum: checksum.into() }
    }

    #[test]
    fn equal_stats_compare_clean_and_every_difference_is_named() {
        let a = [t("public.a", 1, "x"), t("public.b", 2, "y")];
        assert!(compare(&a, &a).is_empty());
        let b = [t("public.a", 2, "x"), t("public.c", 0, "0")];
        let problems = compare(&a, &b);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(compare(&a, &[t("public.a", 1, "z"), t("public.b", 2, "y")])[0].contains("content differs"));
    }
}
