//! [`Tables`] in memory, copied into real tables at the end: the replay path.
//!
//! Rows live in a hash map per table, keyed by the table's primary key, so the lookups
//! projections make (nearly always by primary key) cost no round trip. Columns a row never
//! set are left out of its `COPY`, so they take the table's default exactly as a live insert
//! would. Writes to tables that are not read models (e.g. password verifiers) are not
//! rebuilt and are ignored here.

use std::collections::HashMap;

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Transaction;
use uuid::Uuid;

use super::{Key, Row, Set, Tables, Val};
use crate::StoreError;

struct MemTable {
    key: &'static [&'static str],
    rows: HashMap<Vec<u8>, Row>,
}

pub(crate) struct MemTables {
    tables: HashMap<&'static str, MemTable>,
    next_seq: i64,
}

fn column<'r>(row: &'r Row, col: &str) -> Option<&'r Val> {
    row.iter().find(|(c, _)| *c == col).map(|(_, v)| v)
}

fn key_string<'v>(vals: impl Iterator<Item = &'v Val>) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    for v in vals {
        v.key_bytes(&mut k);
    }
    k
}

fn matches(row: &Row, key: &Key) -> bool {
    match key {
        Key::Eq(cols) => cols.iter().all(|(c, v)| column(row, c) == Some(v)),
        Key::Any(c, ids) => matches!(column(row, c), Some(Val::Uuid(u)) if ids.contains(u)),
    }
}

impl MemTable {
    /// The primary-key strings `key` names directly, or `None` if it needs a scan.
    fn direct(&self, key: &Key) -> Option<Vec<Vec<u8>>> {
        match key {
            Key::Eq(cols) if cols.len() == self.key.len() => {
                let vals: Option<Vec<&Val>> =
                    self.key.iter().map(|k| cols.iter().find(|(c, _)| c == k).map(|(_, v)| v)).collect();
                Some(vec![key_string(vals?.into_iter())])
            }
            Key::Any(c, ids) if self.key == [*c] => {
                Some(ids.iter().map(|u| key_string(std::iter::once(&Val::Uuid(*u)))).collect())
            }
            _ => None,
        }
    }

    fn matching(&self, key: &Key) -> Vec<Vec<u8>> {
        match self.direct(key) {
            Some(keys) => keys.into_iter().filter(|k| self.rows.contains_key(k)).collect(),
            None => self.rows.iter().filter(|(_, r)| matches(r, key)).map(|(k, _)| k.clone()).collect(),
        }
    }
}

impl MemTables {
    /// Empty tables with these primary keys.
    pub(crate) fn new(tables: impl IntoIterator<Item = (&'static str, &'static [&'static str])>) -> Self {
        let tables = tables.into_iter().map(|(name, key)| (name, MemTable { key, rows: HashMap::new() })).collect();
        Self { tables, next_seq: 1 }
    }

    /// Numbers the activity row of `event_id`, if it has one and it has no number yet, with
    /// the next number: the same order `audit::sequence_activity` gives the live rows.
    pub(crate) fn number_activity(&mut self, event_id: Uuid) {
        let Some(t) = self.tables.get_mut("activity") else { return };
        let k = key_string(std::iter::once(&Val::Uuid(event_id)));
        if let Some(row) = t.rows.get_mut(&k) {
            if matches!(column(row, "seq"), None | Some(Val::Null)) {
                row.retain(|(c, _)| *c != "seq");
                row.push(("seq", Val::BigInt(self.next_seq)));
                self.next_seq += 1;
            }
        }
    }

    /// Rows held, over all tables.
    pub(crate) fn len(&self) -> usize {
        self.tables.values().map(|t| t.rows.len()).sum()
    }

    /// Copies every row into `schema`'s tables of the same names, one binary `COPY` per
    /// table and set of columns (the server parses no text).
    pub(crate) async fn copy_into(&self, tx: &Transaction<'_>, schema: &str) -> Result<(), StoreError> {
        for (name, table) in &self.tables {
            let mut groups: HashMap<Vec<&'static str>, Vec<&Row>> = HashMap::new();
            for row in table.rows.values() {
                let mut cols: Vec<&'static str> = row.iter().map(|(c, _)| *c).collect();
                cols.sort_unstable();
                groups.entry(cols).or_default().push(row);
            }
            for (cols, rows) in groups {
                let cols = cols.join(", ");
                let types: Vec<Type> = tx
                    .prepare(&format!("select {cols} from {schema}.{name}"))
                    .await?
                    .columns()
                    .iter()
                    .map(|c| c.type_().clone())
                    .collect();
                let sink = tx.copy_in(&format!("copy {schema}.{name} ({cols}) from stdin binary")).await?;
                let writer = BinaryCopyInWriter::new(sink, &types);
                futures::pin_mut!(writer);
                for row in rows {
                    let mut sorted: Vec<&(&'static str, Val)> = row.iter().collect();
                    sorted.sort_unstable_by_key(|(c, _)| *c);
                    writer.as_mut().write_raw(sorted.into_iter().map(|(_, v)| v as &(dyn ToSql + Sync))).await?;
                }
                writer.finish().await?;
            }
        }
        Ok(())
    }

    fn table(&mut self, name: &str) -> Option<&mut MemTable> {
        self.tables.get_mut(name)
    }
}

impl Tables for MemTables {
    async fn insert(&mut self, table: &'static str, row: Row) -> Result<(), StoreError> {
        let Some(t) = self.table(table) else { return Ok(()) };
        let vals: Option<Vec<&Val>> = t.key.iter().map(|k| column(&row, k)).collect();
        let k = key_string(vals.ok_or_else(|| StoreError::Codec(format!("{table}: row without its key")))?.into_iter());
        if t.rows.contains_key(&k) {
            return Err(StoreError::Conflict(format!("{table}_pkey")));
        }
        t.rows.insert(k, row);
        Ok(())
    }

    async fn update(&mut self, table: &'static str, key: Key, set: Vec<(&'static str, Set)>) -> Result<(), StoreError> {
        let Some(t) = self.table(table) else { return Ok(()) };
        for k in t.matching(&key) {
            let Some(row) = t.rows.get_mut(&k) else { continue };
            for (c, s) in &set {
                let current = row.iter().position(|(rc, _)| rc == c);
                let value = match (s, current) {
                    (Set::To(v), _) => v.clone(),
                    (Set::IfNull(v), None) => v.clone(),
                    (Set::IfNull(v), Some(i)) if row[i].1 == Val::Null => v.clone(),
                    (Set::IfNull(_), Some(_)) => continue,
                };
                match current {
                    Some(i) => row[i].1 = value,
                    None => row.push((c, value)),
                }
            }
        }
        Ok(())
    }

    async fn delete(&mut self, table: &'static str, key: Key) -> Result<(), StoreError> {
        let Some(t) = self.table(table) else { return Ok(()) };
        for k in t.matching(&key) {
            t.rows.remove(&k);
        }
        Ok(())
    }

    async fn get(
        &mut self,
        table: &'static str,
        key: Key,
        cols: &[&'static str],
    ) -> Result<Option<Vec<Val>>, StoreError> {
        let t = self.table(table).ok_or_else(|| StoreError::Codec(format!("replay keeps no table {table}")))?;
        let found = t.matching(&key).into_iter().next().and_then(|k| t.rows.get(&k));
        // A column the row never set reads as null; projections only read columns they wrote.
        Ok(found.map(|row| cols.iter().map(|c| column(row, c).cloned().unwrap_or(Val::Null)).collect()))
    }
}
