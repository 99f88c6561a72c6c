//! A tenant's own SQL, run for `POST /databases/{id}/sql`: the execution core (the route,
//! permissions, approvals and audit are the caller's).
//!
//! # What holds
//!
//! - **The tenant's own rights.** The session logs in as a [`TenantLogin`] (never a
//!   superuser, see [`crate::tenant`]) with the tenant's own settings
//!   ([`crate::tenant::connect_user_sql`]): it runs the tenant's code with the tenant's rights,
//!   as psql would. One session per request, closed at the end.
//! - **A deadline.** `statement_timeout`, `lock_timeout` and
//!   `idle_in_transaction_session_timeout` are the request's `timeout`, in the startup packet
//!   (outranking `ALTER ROLE … SET`). The SQL text can still `SET statement_timeout = 0`, so
//!   [`run`] also keeps its own deadline (the timeout plus [`GRACE`]): past it a cancel request
//!   goes to the server and the session is dropped. If the caller drops [`run`]'s future (the
//!   HTTP client went away), a cancel request is sent too and the server, checking its client
//!   every second, ends the statement.
//! - **Read-only is PostgreSQL's.** `read_only` runs the statement inside
//!   `START TRANSACTION READ ONLY` after a `SELECT 1` (so a snapshot exists and `SET
//!   TRANSACTION READ WRITE` / `BEGIN READ WRITE` inside the text fail: PostgreSQL refuses to
//!   switch to read-write after the first query) and rolls it back. It takes exactly ONE
//!   statement: text with several is refused by PostgreSQL itself (the extended protocol's
//!   Parse takes one), because in the simple protocol a `COMMIT;` in the text would end the
//!   read-only transaction and the statements after it would run read-write. The text is
//!   never inspected. (The issue's explorer role with SELECT only is the control layer's.)
//! - **Caps.** Rows past `max_rows`, or past `max_bytes` of JSON, are not returned and
//!   `truncated` is set.
//! - **No transaction left open.** Ours are committed or rolled back; a `BEGIN` in the text
//!   without its `COMMIT` is rolled back (as when psql exits); the session then closes.
//!
//! # Protocols
//!
//! The text is first prepared (Parse/Describe): PostgreSQL says whether it is one statement
//! and what types its parameters and columns have.
//!
//! 1. One statement whose columns are all [`value::decodable`], or any statement with
//!    `params`: the extended protocol, values in binary, converted per type
//!    ([`value::from_binary`]). A statement that returns rows runs through a portal fetched in
//!    batches inside a transaction (committed unless read-only), so the caps stop the
//!    server instead of draining it; one that returns none runs in autocommit (`VACUUM`,
//!    `CREATE INDEX CONCURRENTLY` and `BEGIN` keep working), or in the read-only transaction.
//! 2. One statement with a column of another type (interval, inet, money, a composite, an
//!    extension's type) and no params: the simple-query protocol, which returns every value's
//!    text form; the types known from step 1 map what they can ([`value::from_text`]).
//! 3. Several statements (not read-only, no params): the simple-query protocol, as psql runs
//!    a file; the result is the LAST statement's (its rows, or none and its row count), values
//!    as text strings and `data_type` `"unknown"` (the protocol does not say). Rows past the
//!    caps are read and dropped (cancelling would roll back the whole text); the deadline
//!    bounds it.
//!
//! `params` bind in the extended protocol as text (format 0) for the types PostgreSQL infers
//! from the statement, exactly as a literal of that type would be read, and never become
//! part of the text: strings as they are, numbers and booleans in their JSON spelling, a JSON
//! array for an array-typed parameter as an array literal (`{…}`, elements quoted), any other
//! array or object as JSON text (for `json`/`jsonb`). Where PostgreSQL cannot infer a type
//! (`select $1`) it says so (SQLSTATE 42P18): cast it (`$1::int`).
//!
//! `row_count` is the server's count (rows returned or affected) when the statement ran to
//! its end; when `truncated`, the number of rows returned. `command` is a label
//! ([`label::command_label`]).

pub mod explorer;
mod label;
pub mod value;

use std::time::Duration;

use domain::{DatabaseName, TenantHost};
use futures::{pin_mut, TryStreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::SimpleQueryMessage;

use crate::tenant::{TenantConn, TenantLogin};
use crate::HostError;

pub use label::command_label;

/// The default statement timeout of a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long past the statement timeout [`run`] waits for the server's own before cancelling.
pub const GRACE: Duration = Duration::from_secs(1);
/// Rows fetched in the first round trip from a portal.
const BATCH: usize = 2_000;
/// The most rows fetched in one round trip after the first.
const MAX_BATCH: usize = 50_000;

#[derive(Debug, Clone)]
pub struct SqlRequest {
    /// The SQL text (the route's `query` or `file_content`).
    pub text: String,
    /// Values for `$1`, `$2`, …; non-empty means exactly one statement.
    pub params: Vec<Value>,
    /// Run inside a read-only transaction (one statement).
    pub read_only: bool,
    pub timeout: Duration,
    pub max_rows: usize,
    /// Of the rows' JSON.
    pub max_bytes: usize,
}

impl SqlRequest {
    /// `text` with no params, read-write, the default timeout, 10 000 rows and 10 MiB.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            params: Vec::new(),
            read_only: false,
            timeout: DEFAULT_TIMEOUT,
            max_rows: 10_000,
            max_bytes: 10 << 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    pub data_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlResult {
    pub columns: Vec<Column>,
    pub rows: JsonRows,
    pub row_count: u64,
    pub command: String,
    pub truncated: bool,
}

/// A result's rows as the JSON array of arrays the API answers with, written as each row was
/// read: the row and byte caps count exactly what goes out, and the answer is not built
/// value by value a second time (for 10,000 rows that was a third of the API's own time).
#[derive(Clone)]
pub struct JsonRows {
    /// `[[…],[…]]`.
    text: Box<serde_json::value::RawValue>,
    len: usize,
}

impl JsonRows {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The JSON text, `[[…],[…]]`.
    pub fn json(&self) -> &serde_json::value::RawValue {
        &self.text
    }

    /// The rows as values (parsed again: for callers that look into them, not for answers).
    pub fn values(&self) -> Vec<Vec<Value>> {
        serde_json::from_str(self.text.get()).unwrap_or_default()
    }
}

impl PartialEq for JsonRows {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.text.get() == other.text.get()
    }
}

impl std::fmt::Debug for JsonRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text.get())
    }
}

impl Serialize for JsonRows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.text.serialize(s)
    }
}

/// Why a request's SQL did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The tenant's SQL failed in PostgreSQL: the tenant's own error about its own SQL, safe
    /// to show to whoever may run SQL on the database (the message may come from its own
    /// code's `RAISE`). `position` is 1-based, in characters of the text.
    #[error("{message} (SQLSTATE {code})")]
    Sql { code: String, message: String, detail: Option<String>, hint: Option<String>, position: Option<u32> },
    /// The statement ran past the request's timeout and was cancelled.
    #[error("the statement ran past its {} ms timeout and was cancelled", .0.as_millis())]
    Timeout(Duration),
    /// The request cannot run as given (the number of params does not match the statement,
    /// a `COPY … FROM STDIN / TO STDOUT`, a value we cannot read).
    #[error("{0}")]
    Rejected(String),
    /// The host did not answer, refused the login or dropped the session: not the tenant's
    /// SQL. The cause is for the platform's log.
    #[error("the database's host is unavailable: {0}")]
    Unavailable(String),
    /// The server answered the login with an error (too many connections, the database not
    /// taking sessions while it stops or restarts, …): its SQLSTATE, for the caller to map.
    #[error("the database refused the session (SQLSTATE {code})")]
    Refused { code: String },
}

pub(crate) fn sql_error(e: tokio_postgres::Error) -> SqlError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code().to_owned();
        if code == "57014" {
            // statement_timeout, or our cancel request.
            return SqlError::Timeout(Duration::ZERO);
        }
        let position = match db.position() {
            Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p),
            _ => None,
        };
        return SqlError::Sql {
            code,
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            hint: db.hint().map(str::to_owned),
            position,
        };
    }
    if e.is_closed() {
        return SqlError::Unavailable(e.to_string());
    }
    // tokio-postgres answers COPY's CopyIn/CopyOut responses with "unexpected message".
    SqlError::Rejected(format!(
        "the statement needs what this endpoint does not offer (COPY from or to the client?): {e}"
    ))
}

fn is_multiple_commands(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        db.code().code() == "42601"
            && db.message().contains("cannot insert multiple commands into a prepared statement")
    })
}

/// Runs `req` in `database` on `host` as `login`'s role (see the module's documentation).
pub async fn run(
    host: &TenantHost,
    login: &TenantLogin,
    database: &DatabaseName,
    req: &SqlRequest,
) -> Result<SqlResult, SqlError> {
    let conn =
        crate::tenant::connect_user_sql(host, database.as_str(), login, req.timeout).await.map_err(|e| match e {
            HostError::Postgres(pg) if pg.as_db_error().is_some() => {
                SqlError::Refused { code: pg.as_db_error().map(|d| d.code().code().to_owned()).unwrap_or_default() }
            }
            other => SqlError::Unavailable(other.to_string()),
        })?;
    let mut cancel = CancelOnDrop(Some(conn.canceller()));
    let outcome = tokio::time::timeout(req.timeout + GRACE, execute(conn, req)).await;
    match outcome {
        Ok(Err(SqlError::Timeout(_))) | Err(_) => {
            if let Some(canceller) = cancel.0.take() {
                // Bounded: a host that does not take the cancel still loses the session (dropped).
                let _ = tokio::time::timeout(GRACE, canceller.cancel()).await;
            }
            Err(SqlError::Timeout(req.timeout))
        }
        Ok(result) => {
            cancel.0 = None;
            result
        }
    }
}

/// Sends a cancel request for the session's statement if dropped armed: the request's
/// future was dropped mid-statement (the client went away).
pub(crate) struct CancelOnDrop(pub(crate) Option<crate::tenant::Canceller>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let (Some(canceller), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = tokio::time::timeout(GRACE, canceller.cancel()).await;
            });
        }
    }
}

async fn execute(mut conn: TenantConn, req: &SqlRequest) -> Result<SqlResult, SqlError> {
    let result = match conn.prepare(&req.text).await {
        Ok(stmt) => {
            let all_decodable = stmt.columns().iter().all(|c| value::decodable(c.type_()));
            if req.params.is_empty() && !all_decodable {
                let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
                simple(&conn, req, Some(&types)).await
            } else {
                extended(&mut conn, req, &stmt).await
            }
        }
        Err(e) if is_multiple_commands(&e) && req.params.is_empty() && !req.read_only => simple(&conn, req, None).await,
        Err(e) => Err(sql_error(e)),
    };
    if result.is_ok() {
        // A BEGIN in the text without its COMMIT is rolled back, as when psql exits. (On an
        // error the session is dropped, which rolls back too.)
        conn.batch_execute("ROLLBACK").await.map_err(sql_error)?;
    }
    result
}

/// Collects rows under the caps, as JSON text.
struct Collector<'a> {
    req: &'a SqlRequest,
    /// `[` and the rows kept so far, each followed by a comma.
    text: Vec<u8>,
    rows: usize,
    truncated: bool,
}

impl<'a> Collector<'a> {
    fn new(req: &'a SqlRequest) -> Self {
        Self { req, text: vec![b'['], rows: 0, truncated: false }
    }

    /// Keeps `row` unless a cap is reached; false once truncated. The byte cap counts the
    /// row's JSON (its values, separators and brackets).
    fn push(&mut self, row: &[Value]) -> bool {
        self.push_with(|out| serde_json::to_writer(out, row).map_err(|e| SqlError::Rejected(e.to_string())))
            .unwrap_or(false)
    }

    /// [`Self::push`] for a row `write` writes as JSON itself (`[…]`); its error is the
    /// caller's, with nothing of the row kept.
    fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), SqlError>) -> Result<bool, SqlError> {
        if self.truncated {
            return Ok(false);
        }
        if self.rows >= self.req.max_rows {
            self.truncated = true;
            return Ok(false);
        }
        let start = self.text.len();
        if let Err(e) = write(&mut self.text) {
            self.text.truncate(start);
            return Err(e);
        }
        if self.text.len() - 1 > self.req.max_bytes {
            self.text.truncate(start);
            self.truncated = true;
            return Ok(false);
        }
        self.text.push(b',');
        self.rows += 1;
        Ok(true)
    }

    /// How many rows to ask the server for next: [`BATCH`] first, then what the caps leave
    /// (the byte cap estimated from the rows so far), plus one to learn whether more remain.
    /// Two round trips for 10,000 small rows, where fixed batches took five.
    fn next_batch(&self) -> usize {
        let rows_left = self.req.max_rows.saturating_sub(self.rows) + 1;
        if self.rows == 0 {
            return BATCH.min(rows_left);
        }
        let per_row = (self.text.len() / self.rows).max(1);
        let bytes_left = self.req.max_bytes.saturating_sub(self.text.len()) / per_row + 1;
        rows_left.min(bytes_left).min(MAX_BATCH)
    }

    fn finish(mut self) -> (JsonRows, bool) {
        match self.text.last_mut() {
            Some(last @ b',') => *last = b']',
            _ => self.text.push(b']'),
        }
        // Only serde_json wrote into it, so it is UTF-8 and JSON.
        let text = String::from_utf8(self.text).unwrap_or_else(|_| "[]".into());
        let text = serde_json::value::RawValue::from_string(text)
            .unwrap_or_else(|_| serde_json::value::RawValue::from_string("[]".into()).expect("[] is JSON"));
        (JsonRows { text, len: self.rows }, self.truncated)
    }
}

/// A result column's raw value, whatever its type.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A parameter sent in text format for whatever type the server inferred.
#[derive(Debug)]
pub(crate) struct TextParam(pub(crate) Option<String>);

impl ToSql for TextParam {
    fn to_sql(&self, _: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    fn encode_format(&self, _: &Type) -> tokio_postgres::types::Format {
        tokio_postgres::types::Format::Text
    }
    tokio_postgres::types::to_sql_checked!();
}

/// A JSON param as the text PostgreSQL reads for a parameter of type `ty`.
pub fn param_text(ty: &Type, v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if matches!(ty.kind(), Kind::Array(_)) => Some(array_literal(items)),
        other => Some(other.to_string()),
    }
}

fn array_literal(items: &[Value]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            Value::Null => out.push_str("NULL"),
            Value::Array(inner) => out.push_str(&array_literal(inner)),
            other => {
                let text = match other {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

fn columns_of(stmt: &tokio_postgres::Statement) -> Vec<Column> {
    stmt.columns()
        .iter()
        .map(|c| Column { name: c.name().to_owned(), data_type: value::type_name(c.type_()) })
        .collect()
}

async fn extended(
    conn: &mut TenantConn,
    req: &SqlRequest,
    stmt: &tokio_postgres::Statement,
) -> Result<SqlResult, SqlError> {
    if stmt.params().len() != req.params.len() {
        return Err(SqlError::Rejected(format!(
            "the statement takes {} parameter(s) and the request has {}",
            stmt.params().len(),
            req.params.len()
        )));
    }
    let params: Vec<TextParam> =
        stmt.params().iter().zip(&req.params).map(|(ty, v)| TextParam(param_text(ty, v))).collect();
    let columns = columns_of(stmt);
    let command = command_label(&req.text);
    if stmt.columns().is_empty() && !req.read_only {
        // Autocommit, as psql: VACUUM, CREATE INDEX CONCURRENTLY, BEGIN … work.
        let n = conn.execute_raw(stmt, params.iter()).await.map_err(sql_error)?;
        return Ok(SqlResult {
            columns,
            rows: Collector::new(req).finish().0,
            row_count: n,
            command,
            truncated: false,
        });
    }
    let tx = if req.read_only {
        let tx = conn.build_transaction().read_only(true).start().await.map_err(sql_error)?;
        // A first snapshot: from here PostgreSQL refuses to make the transaction read-write.
        tx.batch_execute("SELECT 1").await.map_err(sql_error)?;
        tx
    } else {
        conn.transaction().await.map_err(sql_error)?
    };
    let portal = tx.bind_raw(stmt, params.iter()).await.map_err(sql_error)?;
    let mut rows = Collector::new(req);
    let mut completed = None;
    'fetch: loop {
        let want = rows.next_batch();
        let stream = tx.query_portal_raw(&portal, want as i32).await.map_err(sql_error)?;
        pin_mut!(stream);
        let mut got = 0;
        while let Some(row) = stream.try_next().await.map_err(sql_error)? {
            got += 1;
            let kept = rows.push_with(|out| {
                out.push(b'[');
                for (i, col) in row.columns().iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let raw: Raw = row.try_get(i).map_err(|e| SqlError::Rejected(e.to_string()))?;
                    value::write_binary(out, col.type_(), raw.0)
                        .map_err(|e| SqlError::Rejected(format!("column {}: {e}", col.name())))?;
                }
                out.push(b']');
                Ok(())
            })?;
            if !kept {
                break 'fetch;
            }
        }
        if got < want {
            completed = stream.rows_affected();
            break;
        }
    }
    drop(portal);
    if req.read_only {
        tx.rollback().await.map_err(sql_error)?;
    } else {
        tx.commit().await.map_err(sql_error)?;
    }
    let row_count = match completed {
        Some(n) if !rows.truncated => n,
        _ => rows.rows as u64,
    };
    let (rows, truncated) = rows.finish();
    Ok(SqlResult { columns, rows, row_count, command, truncated })
}

/// The simple-query protocol: `types` from the statement's Describe for one statement,
/// `None` for several (see the module's documentation).
async fn simple(conn: &TenantConn, req: &SqlRequest, types: Option<&[Type]>) -> Result<SqlResult, SqlError> {
    if req.read_only {
        conn.batch_execute("START TRANSACTION READ ONLY; SELECT 1").await.map_err(sql_error)?;
    }
    let stream = conn.simple_query_raw(&req.text).await.map_err(sql_error)?;
    pin_mut!(stream);
    let mut columns: Vec<Column> = Vec::new();
    let mut rows = Collector::new(req);
    let mut described = false;
    let mut row_count = 0;
    while let Some(msg) = stream.try_next().await.map_err(sql_error)? {
        match msg {
            SimpleQueryMessage::RowDescription(cols) => {
                columns = cols
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Column {
                        name: c.name().to_owned(),
                        data_type: types.and_then(|t| t.get(i)).map_or_else(|| "unknown".to_owned(), value::type_name),
                    })
                    .collect();
                rows = Collector::new(req);
                described = true;
            }
            SimpleQueryMessage::Row(row) => {
                let values: Vec<Value> =
                    (0..row.len()).map(|i| value::from_text(types.and_then(|t| t.get(i)), row.get(i))).collect();
                rows.push(&values);
            }
            SimpleQueryMessage::CommandComplete(n) => {
                if !described {
                    columns.clear();
                    rows = Collector::new(req);
                }
                described = false;
                row_count = n;
            }
            _ => {}
        }
    }
    if rows.truncated {
        row_count = rows.rows as u64;
    }
    let (rows, truncated) = rows.finish();
    Ok(SqlResult { columns, rows, row_count, command: command_label(&req.text), truncated })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collected_rows_are_their_json_under_the_caps() {
        let rows = [vec![json!(1), json!("a\"b\\c\u{1}é")], vec![json!(null), json!([1, {"k": [true]}])]];
        let mut req = SqlRequest::new("");
        let mut c = Collector::new(&req);
        assert!(rows.iter().all(|r| c.push(r)));
        let (got, truncated) = c.finish();
        assert_eq!(
            (got.json().get(), got.len(), truncated),
            (serde_json::to_string(&rows).expect("json").as_str(), 2, false)
        );
        assert_eq!(got.values(), rows);
        let (none, _) = Collector::new(&req).finish();
        assert_eq!((none.json().get(), none.is_empty()), ("[]", true));
        req.max_rows = 1;
        let mut c = Collector::new(&req);
        assert!(c.push(&rows[0]) && !c.push(&rows[1]));
        let (got, truncated) = c.finish();
        assert_eq!((got.values(), truncated), (rows[..1].to_vec(), true));
        // The byte cap: the first row's JSON is 20 bytes.
        req.max_rows = 10;
        req.max_bytes = 21;
        let mut c = Collector::new(&req);
        assert!(c.push(&rows[0]) && !c.push(&rows[1]));
        assert_eq!(c.finish().0.len(), 1);
        req.max_bytes = 19;
        let mut c = Collector::new(&req);
        assert!(!c.push(&rows[0]));
        assert_eq!(c.finish(), (Collector::new(&req).finish().0, true));
    }

    #[test]
    fn params_become_text_for_the_inferred_type() {
        assert_eq!(param_text(&Type::TEXT, &json!("'; drop table t; --")).as_deref(), Some("'; drop table t; --"));
        assert_eq!(param_text(&Type::INT4, &json!(42)).as_deref(), Some("42"));
        assert_eq!(param_text(&Type::BOOL, &json!(true)).as_deref(), Some("true"));
        assert_eq!(param_text(&Type::INT4, &Value::Null), None);
        assert_eq!(param_text(&Type::JSONB, &json!({"a": [1]})).as_deref(), Some(r#"{"a":[1]}"#));
        assert_eq!(param_text(&Type::JSONB, &json!([1, 2])).as_deref(), Some("[1,2]"));
        assert_eq!(param_text(&Type::INT4_ARRAY, &json!([1, null, 3])).as_deref(), Some(r#"{"1",NULL,"3"}"#));
        assert_eq!(
            param_text(&Type::TEXT_ARRAY, &json!(["a\"b", "c\\d", ["x"]])).as_deref(),
            Some(r#"{"a\"b","c\\d",{"x"}}"#)
        );
    }

    #[test]
    fn caps_truncate() {
        let mut req = SqlRequest::new("select");
        req.max_rows = 2;
        let mut c = Collector::new(&req);
        assert!(c.push(&[json!(1)]) && c.push(&[json!(2)]));
        assert!(!c.push(&[json!(3)]) && c.truncated && c.rows == 2);
        req.max_rows = 100;
        req.max_bytes = 10;
        let mut c = Collector::new(&req);
        assert!(c.push(&[json!("abc")]));
        assert!(!c.push(&[json!("abc")]) && c.truncated);
    }
}
