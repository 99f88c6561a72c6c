use tokio_postgres::error::SqlState;

/// `Conflict` reasons that say nothing about the data, only that two transactions met:
/// retrying the same transaction is the cure.
pub(crate) const SERIALIZATION: &str = "serialization";
pub(crate) const DEADLOCK: &str = "deadlock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer got there first: a stream version or a unique read-model key.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error("quota exceeded")]
    QuotaExceeded,
    /// The host chosen for a new database has no free slot left, or no longer takes new
    /// databases (`Extra::HostCapacity`): choose again.
    #[error("the host takes no more databases")]
    HostFull,
    /// The database cannot be reached or the pool is exhausted.
    #[error("control-plane database unavailable: {0}")]
    Unavailable(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration: {0}")]
    Migration(String),
    #[error("event encoding: {0}")]
    Codec(String),
    /// A read-model column holds what its domain type cannot be: an unknown state, kind,
    /// plan or name. Never defaulted: a row that does not decode is an error of the store.
    #[error("read model: {0}")]
    Decode(String),
    #[error("secret: {0}")]
    Secret(String),
    #[error("database error: {0}")]
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.is_closed() {
            return Self::Unavailable(e.to_string());
        }
        match e.as_db_error() {
            Some(db) if *db.code() == SqlState::UNIQUE_VIOLATION => {
                Self::Conflict(db.constraint().unwrap_or("unique").to_owned())
            }
            Some(db) if *db.code() == SqlState::T_R_SERIALIZATION_FAILURE => Self::Conflict(SERIALIZATION.into()),
            Some(db) if *db.code() == SqlState::T_R_DEADLOCK_DETECTED => Self::Conflict(DEADLOCK.into()),
            None => Self::Unavailable(e.to_string()),
            // The server is shutting down, starting up or recovering from a crash (57P01,
            // 57P03…), a connection failed (08…), or it is out of connections or memory (53…):
            // it may answer in a moment, so callers see 503 with `retry-after`, not 500.
            Some(db) if matches!(&db.code().code()[..2], "57" | "08" | "53") => Self::Unavailable(e.to_string()),
            Some(_) => Self::Db(e),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Codec(e.to_string())
    }
}

impl StoreError {
    /// A serialization failure or deadlock: the transaction did nothing and may run again.
    pub fn is_transient_conflict(&self) -> bool {
        matches!(self, Self::Conflict(c) if c == SERIALIZATION || c == DEADLOCK)
    }
}

/// The text of a read-model column as its domain type, by the type's `parse`; `column` names
/// the column for the error (`databases.state`).
pub(crate) fn decode_column<T>(
    column: &str,
    raw: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(raw).ok_or_else(|| StoreError::Decode(format!("{column}: unknown value {raw:?}")))
}

/// [`decode_column`] of a nullable column.
pub(crate) fn decode_opt_column<T>(
    column: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    raw.map(|raw| decode_column(column, raw, parse)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_value_is_a_decode_error_naming_the_column() {
        let state = decode_column("databases.state", "running", domain::DatabaseState::parse);
        assert_eq!(state.ok(), Some(domain::DatabaseState::Running));
        let e = decode_column("databases.state", "sleeping", domain::DatabaseState::parse).expect_err("unknown");
        assert!(matches!(&e, StoreError::Decode(m) if m == "databases.state: unknown value \"sleeping\""), "{e}");
        assert_eq!(decode_opt_column("databases.locked_reason", None, domain::LockReason::parse).ok(), Some(None));
        let e = decode_opt_column("databases.locked_reason", Some("fun"), domain::LockReason::parse);
        assert!(matches!(e, Err(StoreError::Decode(_))));
    }
}
