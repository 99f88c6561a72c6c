//! The writes a projection makes, as data: insert a row, update or delete rows by key, read a
//! few columns by key. A projection is written once against [`Tables`] and runs two ways:
//!
//! - [`SqlTables`] turns each write into a statement inside the append transaction (the live
//!   path, so the API reads its own writes);
//! - [`MemTables`] applies the writes to rows in memory and copies the result into tables at
//!   the end, which is how `berth audit replay` rebuilds every read model from the log at
//!   hundreds of thousands of events per second instead of one round trip per write.
//!
//! Both must agree for every projection; the audit replay test (live tables vs a rebuild
//! through [`MemTables`]) is what proves they do.

mod mem;
mod sql;
mod val;

pub(crate) use mem::MemTables;
pub(crate) use sql::SqlTables;
pub(crate) use val::Val;

use crate::StoreError;

/// Which rows a write or read is about.
#[derive(Debug, Clone)]
pub(crate) enum Key {
    /// Every listed column equals its value.
    Eq(Vec<(&'static str, Val)>),
    /// The column is one of the ids.
    Any(&'static str, Vec<uuid::Uuid>),
}

impl Key {
    /// The common case: `id = $1`.
    pub(crate) fn id(id: uuid::Uuid) -> Self {
        Key::Eq(vec![("id", Val::Uuid(id))])
    }
}

/// A new value for one column.
#[derive(Debug, Clone)]
pub(crate) enum Set {
    To(Val),
    /// Only if the column is still null (`coalesce(col, value)`).
    IfNull(Val),
}

/// A row as column/value pairs; columns left out take the table's default.
pub(crate) type Row = Vec<(&'static str, Val)>;

#[allow(async_fn_in_trait)]
pub(crate) trait Tables {
    /// Inserts one row; a duplicate primary key is a `Conflict`, as in SQL.
    async fn insert(&mut self, table: &'static str, row: Row) -> Result<(), StoreError>;
    /// Changes every row matching `key` (none is not an error, as in SQL).
    async fn update(&mut self, table: &'static str, key: Key, set: Vec<(&'static str, Set)>) -> Result<(), StoreError>;
    async fn delete(&mut self, table: &'static str, key: Key) -> Result<(), StoreError>;
    /// The listed columns of the one row matching `key`, if any.
    async fn get_by(
        &mut self,
        table: &'static str,
        key: &Key,
        cols: &[&'static str],
    ) -> Result<Option<Vec<Val>>, StoreError>;

    /// [`Tables::get_by`] for callers that own the key.
    async fn get(
        &mut self,
        table: &'static str,
        key: Key,
        cols: &[&'static str],
    ) -> Result<Option<Vec<Val>>, StoreError> {
        self.get_by(table, &key, cols).await
    }

    /// Like [`Tables::get`], but the row must exist (projections read rows their stream
    /// created earlier). The key is described only when the row is missing: replay calls
    /// this for most events.
    async fn must_get(&mut self, table: &'static str, key: Key, cols: &[&'static str]) -> Result<Vec<Val>, StoreError> {
        match self.get_by(table, &key, cols).await? {
            Some(row) => Ok(row),
            None => Err(StoreError::Codec(format!("projection: no row in {table} {key:?}"))),
        }
    }
}
