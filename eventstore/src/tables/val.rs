//! One column value of a read-model row: what projections write, a statement parameter on
//! the live path, and a field of a binary `COPY … FROM STDIN` on the replay path.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use uuid::Uuid;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Uuid(Uuid),
    Text(String),
    Int(i32),
    BigInt(i64),
    Bool(bool),
    Time(DateTime<Utc>),
    Date(NaiveDate),
    /// JSON as its text: serialized once when the row is made, so a row in memory holds one
    /// string instead of a tree of maps (cheaper to keep, to copy out and to free).
    Json(String),
    Uuids(Vec<Uuid>),
}

impl Val {
    pub(crate) fn uuid(&self) -> Result<Uuid, StoreError> {
        match self {
            Val::Uuid(u) => Ok(*u),
            other => Err(StoreError::Codec(format!("expected a uuid, found {other:?}"))),
        }
    }

    pub(crate) fn text(&self) -> Result<Option<String>, StoreError> {
        match self {
            Val::Text(s) => Ok(Some(s.clone())),
            Val::Null => Ok(None),
            other => Err(StoreError::Codec(format!("expected text, found {other:?}"))),
        }
    }

    /// Appends bytes that identify the value within a key (rows in memory are found by
    /// their primary key's bytes). Text ends with 0xff, which UTF-8 never contains.
    pub(crate) fn key_bytes(&self, out: &mut Vec<u8>) {
        match self {
            Val::Uuid(u) => out.extend_from_slice(u.as_bytes()),
            Val::Text(s) => {
                out.extend_from_slice(s.as_bytes());
                out.push(0xff);
            }
            other => {
                out.extend_from_slice(format!("{other:?}").as_bytes());
                out.push(0xff);
            }
        }
    }
}

impl From<Uuid> for Val {
    fn from(v: Uuid) -> Self {
        Val::Uuid(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<i32> for Val {
    fn from(v: i32) -> Self {
        Val::Int(v)
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::BigInt(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}
impl From<DateTime<Utc>> for Val {
    fn from(v: DateTime<Utc>) -> Self {
        Val::Time(v)
    }
}
impl From<NaiveDate> for Val {
    fn from(v: NaiveDate) -> Self {
        Val::Date(v)
    }
}
impl From<serde_json::Value> for Val {
    fn from(v: serde_json::Value) -> Self {
        // The same compact text `serde_json::to_writer` gives when the value is a parameter.
        Val::Json(v.to_string())
    }
}
impl From<Vec<Uuid>> for Val {
    fn from(v: Vec<Uuid>) -> Self {
        Val::Uuids(v)
    }
}
impl From<&Option<String>> for Val {
    fn from(v: &Option<String>) -> Self {
        v.as_ref().map_or(Val::Null, Into::into)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

impl ToSql for Val {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Uuid(v) => v.to_sql(ty, out),
            Val::Text(v) => v.to_sql(ty, out),
            Val::Int(v) => v.to_sql(ty, out),
            Val::BigInt(v) => v.to_sql(ty, out),
            Val::Bool(v) => v.to_sql(ty, out),
            Val::Time(v) => v.to_sql(ty, out),
            Val::Date(v) => v.to_sql(ty, out),
            Val::Json(text) => {
                if *ty == Type::JSONB {
                    // Binary jsonb: a format version byte, then the JSON text.
                    out.put_u8(1);
                }
                out.put_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            Val::Uuids(v) => v.to_sql(ty, out),
        }
    }

    /// The statement decides the type; a mismatch is a bug in a projection, caught by tests.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Val {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match *ty {
            Type::UUID => Val::Uuid(Uuid::from_sql(ty, raw)?),
            Type::TEXT | Type::VARCHAR => Val::Text(String::from_sql(ty, raw)?),
            Type::INT4 => Val::Int(i32::from_sql(ty, raw)?),
            Type::INT8 => Val::BigInt(i64::from_sql(ty, raw)?),
            Type::BOOL => Val::Bool(bool::from_sql(ty, raw)?),
            Type::TIMESTAMPTZ => Val::Time(DateTime::<Utc>::from_sql(ty, raw)?),
            Type::DATE => Val::Date(NaiveDate::from_sql(ty, raw)?),
            Type::JSONB | Type::JSON => Val::Json(serde_json::Value::from_sql(ty, raw)?.to_string()),
            Type::UUID_ARRAY => Val::Uuids(Vec::<Uuid>::from_sql(ty, raw)?),
            _ => return Err(format!("no read-model value for type {ty}").into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Val::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
