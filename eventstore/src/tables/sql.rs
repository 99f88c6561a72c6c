//! [`Tables`] as statements in an open transaction: the live projection path. Statements
//! are prepared once per connection (the connection's statement cache): an unprepared
//! statement costs a second round trip every time.

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::{Key, Row, Set, Tables, Val};
use crate::StoreError;

pub(crate) struct SqlTables<'a, 'b> {
    tx: &'a Transaction<'b>,
}

impl<'a, 'b> SqlTables<'a, 'b> {
    pub(crate) fn new(tx: &'a Transaction<'b>) -> Self {
        Self { tx }
    }
}

/// `where …` for `key`, numbering its parameters after `first - 1` others.
fn where_clause<'v>(key: &'v Key, first: usize, params: &mut Vec<&'v (dyn ToSql + Sync)>) -> String {
    match key {
        Key::Eq(cols) => {
            let parts: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(i, (c, v))| {
                    params.push(v);
                    format!("{c} = ${}", first + i)
                })
                .collect();
            parts.join(" and ")
        }
        Key::Any(col, ids) => {
            params.push(ids);
            format!("{col} = any(${first})")
        }
    }
}

impl Tables for SqlTables<'_, '_> {
    async fn insert(&mut self, table: &'static str, row: Row) -> Result<(), StoreError> {
        let cols: Vec<&str> = row.iter().map(|(c, _)| *c).collect();
        let marks: Vec<String> = (1..=row.len()).map(|i| format!("${i}")).collect();
        let sql = format!("insert into {table} ({}) values ({})", cols.join(", "), marks.join(", "));
        let params: Vec<&(dyn ToSql + Sync)> = row.iter().map(|(_, v)| v as &(dyn ToSql + Sync)).collect();
        let statement = self.tx.prepare_cached(&sql).await?;
        self.tx.execute(&statement, &params).await?;
        Ok(())
    }

    async fn update(&mut self, table: &'static str, key: Key, set: Vec<(&'static str, Set)>) -> Result<(), StoreError> {
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        let assignments: Vec<String> = set
            .iter()
            .enumerate()
            .map(|(i, (c, s))| match s {
                Set::To(v) => {
                    params.push(v);
                    format!("{c} = ${}", i + 1)
                }
                Set::IfNull(v) => {
                    params.push(v);
                    format!("{c} = coalesce({c}, ${})", i + 1)
                }
            })
            .collect();
        let filter = where_clause(&key, set.len() + 1, &mut params);
        let sql = format!("update {table} set {} where {filter}", assignments.join(", "));
        let statement = self.tx.prepare_cached(&sql).await?;
        self.tx.execute(&statement, &params).await?;
        Ok(())
    }

    async fn delete(&mut self, table: &'static str, key: Key) -> Result<(), StoreError> {
        let mut params = Vec::new();
        let filter = where_clause(&key, 1, &mut params);
        let statement = self.tx.prepare_cached(&format!("delete from {table} where {filter}")).await?;
        self.tx.execute(&statement, &params).await?;
        Ok(())
    }

    async fn get_by(
        &mut self,
        table: &'static str,
        key: &Key,
        cols: &[&'static str],
    ) -> Result<Option<Vec<Val>>, StoreError> {
        let mut params = Vec::new();
        let filter = where_clause(key, 1, &mut params);
        let sql = format!("select {} from {table} where {filter}", cols.join(", "));
        let statement = self.tx.prepare_cached(&sql).await?;
        let row = self.tx.query_opt(&statement, &params).await?;
        Ok(row.map(|r| (0..cols.len()).map(|i| r.get::<_, Val>(i)).collect()))
    }
}
