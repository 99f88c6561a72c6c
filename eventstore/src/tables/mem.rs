//! [`Tables`] in memory, copied into real tables at the end: the replay path.
//!
//! Rows live in a hash map per table, keyed by the bytes of the table's primary key, so the
//! lookups projections make (nearly always by primary key) cost no round trip and, in the
//! common case of one key, no allocation either. Columns a row never set are left out of its
//! `COPY`, so they take the table's default exactly as a live insert would. Writes to tables
//! that are not read models (e.g. password verifiers) are not rebuilt and are ignored here.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use bytes::{BufMut, Bytes, BytesMut};
use futures::SinkExt;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::Client;
use uuid::Uuid;

use super::{Key, Row, Set, Tables, Val};
use crate::StoreError;

/// A multiply-rotate hash (as in rustc's FxHash) for keys that are uuids and short text from
/// our own log: SipHash's protection against chosen keys buys nothing here and cost a tenth
/// of the replay time.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    /// The multiply leaves the low bits (the bucket index) depending on the low input bits
    /// only; folding the high half down mixes every input bit into them.
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

struct MemTable {
    name: &'static str,
    key: &'static [&'static str],
    rows: FastMap<Vec<u8>, Row>,
}

pub(crate) struct MemTables {
    tables: Vec<MemTable>,
    next_seq: i64,
    /// The key being looked up, reused so that lookups allocate nothing.
    buf: Vec<u8>,
}

fn column<'r>(row: &'r Row, col: &str) -> Option<&'r Val> {
    row.iter().find(|(c, _)| same(c, col)).map(|(_, v)| v)
}

/// Column names are literals, usually the very same one: compare addresses before bytes.
fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
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

/// Applies `set` to one row.
fn apply(row: &mut Row, set: &[(&'static str, Set)]) {
    for (c, s) in set {
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

impl MemTable {
    /// Writes the primary key into `buf` if `key` names exactly one row by it.
    fn direct_one(&self, key: &Key, buf: &mut Vec<u8>) -> bool {
        let Key::Eq(cols) = key else { return false };
        if cols.len() != self.key.len() {
            return false;
        }
        buf.clear();
        for k in self.key {
            match cols.iter().find(|(c, _)| c == k) {
                Some((_, v)) => v.key_bytes(buf),
                None => return false,
            }
        }
        true
    }

    /// The primary-key strings of the rows matching `key` (any number of them).
    fn matching(&self, key: &Key) -> Vec<Vec<u8>> {
        match key {
            Key::Any(c, ids) if self.key == [*c] => ids
                .iter()
                .map(|u| key_string(std::iter::once(&Val::Uuid(*u))))
                .filter(|k| self.rows.contains_key(k))
                .collect(),
            _ => self.rows.iter().filter(|(_, r)| matches(r, key)).map(|(k, _)| k.clone()).collect(),
        }
    }
}

/// Rows per `COPY … FROM STDIN` message: big enough that the messages cost nothing.
const COPY_CHUNK: usize = 256 * 1024;

/// The header of PostgreSQL's binary `COPY` format: signature, flags, extension length.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

impl MemTables {
    /// Empty tables with these primary keys.
    pub(crate) fn new(tables: impl IntoIterator<Item = (&'static str, &'static [&'static str])>) -> Self {
        let tables = tables.into_iter().map(|(name, key)| MemTable { name, key, rows: FastMap::default() }).collect();
        Self { tables, next_seq: 1, buf: Vec::with_capacity(64) }
    }

    /// Numbers the activity row of `event_id`, if it has one and it has no number yet, with
    /// the next number: the same order `audit::sequence_activity` gives the live rows.
    pub(crate) fn number_activity(&mut self, event_id: Uuid) {
        let Some(t) = self.tables.iter_mut().find(|t| t.name == "activity") else { return };
        if let Some(row) = t.rows.get_mut(event_id.as_bytes().as_slice()) {
            match row.iter_mut().find(|(c, _)| *c == "seq") {
                None => row.push(("seq", Val::BigInt(self.next_seq))),
                Some((_, v @ Val::Null)) => *v = Val::BigInt(self.next_seq),
                Some(_) => return,
            }
            self.next_seq += 1;
        }
    }

    /// Makes room for about `rows` rows in `table`.
    pub(crate) fn reserve(&mut self, table: &str, rows: usize) {
        if let Some((t, _)) = self.table(table) {
            t.rows.reserve(rows);
        }
    }

    /// Rows held, over all tables.
    pub(crate) fn len(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }

    /// Copies every row into `schema`'s tables of the same names, one binary `COPY` per
    /// table and set of columns (the server parses no text). The binary format is written
    /// here directly, in large messages, rather than value by value through a writer.
    pub(crate) async fn copy_into(&self, tx: &Client, schema: &str) -> Result<(), StoreError> {
        for table in &self.tables {
            // Columns in order of first appearance; each row's set of them as a bit mask.
            let mut names: Vec<&'static str> = Vec::new();
            let mut groups: FastMap<u64, Vec<&Row>> = FastMap::default();
            for row in table.rows.values() {
                let mut mask = 0u64;
                for (c, _) in row {
                    let i = match names.iter().position(|n| n == c) {
                        Some(i) => i,
                        None => {
                            names.push(c);
                            names.len() - 1
                        }
                    };
                    if i >= 64 {
                        return Err(StoreError::Codec(format!("replay: {} has over 64 columns", table.name)));
                    }
                    mask |= 1 << i;
                }
                groups.entry(mask).or_default().push(row);
            }
            for (mask, rows) in groups {
                let cols: Vec<&'static str> =
                    names.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, c)| *c).collect();
                copy_rows(tx, schema, table.name, &cols, &rows).await?;
            }
        }
        Ok(())
    }

    /// The table named `name` and the lookup buffer, borrowed together.
    fn table(&mut self, name: &str) -> Option<(&mut MemTable, &mut Vec<u8>)> {
        let buf = &mut self.buf;
        self.tables.iter_mut().find(|t| t.name == name).map(|t| (t, buf))
    }
}

/// One binary `COPY` of `rows` (each has exactly the columns `cols`) into `schema.table`.
async fn copy_rows(
    tx: &Client,
    schema: &str,
    table: &str,
    cols: &[&'static str],
    rows: &[&Row],
) -> Result<(), StoreError> {
    let list = cols.join(", ");
    let types: Vec<Type> = tx
        .prepare(&format!("select {list} from {schema}.{table}"))
        .await?
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    let sink = tx.copy_in::<_, Bytes>(&format!("copy {schema}.{table} ({list}) from stdin binary")).await?;
    futures::pin_mut!(sink);
    let mut buf = BytesMut::with_capacity(COPY_CHUNK + 4096);
    buf.put_slice(COPY_HEADER);
    let fields =
        i16::try_from(cols.len()).map_err(|_| StoreError::Codec(format!("replay: {table}: too many columns")))?;
    // Where each field is in the row: rows written by the same code list their columns in the
    // same order, so the previous row's positions nearly always fit and are only checked.
    let mut at_col: Vec<usize> = Vec::with_capacity(cols.len());
    for row in rows {
        let fits = at_col.len() == cols.len()
            && at_col.iter().zip(cols).all(|(&i, c)| row.get(i).is_some_and(|(rc, _)| same(rc, c)));
        if !fits {
            at_col.clear();
            for c in cols {
                let i = row.iter().position(|(rc, _)| same(rc, c));
                at_col.push(i.ok_or_else(|| StoreError::Codec(format!("replay: {table}: row without {c}")))?);
            }
        }
        buf.put_i16(fields);
        for ((c, ty), &i) in cols.iter().zip(&types).zip(&at_col) {
            let v = &row[i].1;
            let at = buf.len();
            buf.put_i32(0);
            let len = match v.to_sql(ty, &mut buf) {
                Ok(IsNull::Yes) => -1,
                Ok(IsNull::No) => i32::try_from(buf.len() - at - 4)
                    .map_err(|_| StoreError::Codec(format!("replay: {table}.{c}: value too large")))?,
                Err(e) => return Err(StoreError::Codec(format!("replay: {table}.{c}: {e}"))),
            };
            buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        if buf.len() >= COPY_CHUNK {
            sink.send(buf.split().freeze()).await?;
            // The sent part still holds the old allocation: start a fresh one at full size
            // rather than growing a small one value by value.
            buf.reserve(COPY_CHUNK + 4096);
        }
    }
    buf.put_i16(-1);
    sink.send(buf.split().freeze()).await?;
    sink.as_mut().finish().await?;
    Ok(())
}

impl Tables for MemTables {
    async fn insert(&mut self, table: &'static str, row: Row) -> Result<(), StoreError> {
        let Some((t, _)) = self.table(table) else { return Ok(()) };
        let vals: Option<Vec<&Val>> = t.key.iter().map(|k| column(&row, k)).collect();
        let k = key_string(vals.ok_or_else(|| StoreError::Codec(format!("{table}: row without its key")))?.into_iter());
        match t.rows.entry(k) {
            std::collections::hash_map::Entry::Occupied(_) => Err(StoreError::Conflict(format!("{table}_pkey"))),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(row);
                Ok(())
            }
        }
    }

    async fn update(&mut self, table: &'static str, key: Key, set: Vec<(&'static str, Set)>) -> Result<(), StoreError> {
        let Some((t, buf)) = self.table(table) else { return Ok(()) };
        if t.direct_one(&key, buf) {
            if let Some(row) = t.rows.get_mut(buf.as_slice()) {
                apply(row, &set);
            }
            return Ok(());
        }
        for k in t.matching(&key) {
            if let Some(row) = t.rows.get_mut(&k) {
                apply(row, &set);
            }
        }
        Ok(())
    }

    async fn delete(&mut self, table: &'static str, key: Key) -> Result<(), StoreError> {
        let Some((t, buf)) = self.table(table) else { return Ok(()) };
        if t.direct_one(&key, buf) {
            t.rows.remove(buf.as_slice());
            return Ok(());
        }
        for k in t.matching(&key) {
            t.rows.remove(&k);
        }
        Ok(())
    }

    async fn get_by(
        &mut self,
        table: &'static str,
        key: &Key,
        cols: &[&'static str],
    ) -> Result<Option<Vec<Val>>, StoreError> {
        let (t, buf) = self.table(table).ok_or_else(|| StoreError::Codec(format!("replay keeps no table {table}")))?;
        let found = if t.direct_one(key, buf) {
            t.rows.get(buf.as_slice())
        } else {
            t.matching(key).into_iter().next().and_then(|k| t.rows.get(&k))
        };
        // A column the row never set reads as null; projections only read columns they wrote.
        Ok(found.map(|row| cols.iter().map(|c| column(row, c).cloned().unwrap_or(Val::Null)).collect()))
    }
}
