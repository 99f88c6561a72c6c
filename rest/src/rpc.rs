//! `POST /rpc/f` with a JSON object of named arguments, `GET /rpc/f?a=1`.
//!
//! Each argument is its own untyped text parameter in named notation, `"a" := $1`, so the
//! server converts it to the argument's declared type; no type name is written into SQL.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::error::Error;
use crate::parse::{Method, Request};
use crate::schema::{Column, Function, SchemaCache, Table};
use crate::sql::{ident, qualified, Params};

/// The arguments of a call as text values (`None` is SQL NULL), by name.
pub(crate) type Args = Vec<(String, Option<String>)>;

/// Reads the arguments: the body's keys for POST, the non-filter query pairs for GET.
pub(crate) fn arguments(req: &Request, body: Option<&[u8]>) -> Result<Args, Error> {
    if req.method != Method::Post {
        return Ok(req.rpc_args.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect());
    }
    let raw = body.map(|b| String::from_utf8_lossy(b).trim().to_string()).unwrap_or_default();
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let map: BTreeMap<String, Box<RawValue>> = serde_json::from_str(&raw)
        .map_err(|_| Error::InvalidBody("Expected a JSON object of named arguments".into()))?;
    map.into_iter().map(|(k, v)| Ok((k, arg_text(v.get())?))).collect()
}

/// A JSON value as PostgreSQL text input: strings unquoted, numbers and booleans as written,
/// null as NULL, objects as JSON text, arrays as JSON text (for json/jsonb arguments); see
/// [`pg_array`] for array-typed arguments.
fn arg_text(raw: &str) -> Result<Option<String>, Error> {
    let bad = |_| Error::InvalidBody("Empty or invalid json".into());
    match raw.trim_start().chars().next() {
        Some('"') => serde_json::from_str::<String>(raw).map(Some).map_err(bad),
        Some('n') => Ok(None),
        _ => Ok(Some(raw.trim().to_string())),
    }
}

/// A JSON array as a PostgreSQL array literal, for arguments declared `type[]`. Elements
/// are read raw, so numbers keep every digit; nested arrays become nested braces.
fn pg_array(json: &str) -> Option<String> {
    let items: Vec<Box<RawValue>> = serde_json::from_str(json).ok()?;
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        let raw = item.get().trim();
        parts.push(match raw.chars().next() {
            Some('[') => pg_array(raw)?,
            Some('"') => crate::sql::array_element(&serde_json::from_str::<String>(raw).ok()?),
            Some('n') => "NULL".to_string(),
            _ => crate::sql::array_element(raw),
        });
    }
    Some(format!("{{{}}}", parts.join(",")))
}

/// The overload whose argument names cover the given keys and whose arguments without a
/// default are all given: PGRST202 when none fits, PGRST203 when several do.
pub(crate) fn choose<'c>(cache: &'c SchemaCache, schema: &str, name: &str, args: &Args) -> Result<&'c Function, Error> {
    let given: Vec<&str> = args.iter().map(|(k, _)| k.as_str()).collect();
    let fits: Vec<&Function> = cache
        .functions(schema, name)
        .iter()
        .filter(|f| {
            given.iter().all(|g| f.args.iter().any(|a| a.name.as_deref() == Some(*g)))
                && f.args.iter().all(|a| a.has_default || a.name.as_deref().is_some_and(|n| given.contains(&n)))
        })
        .collect();
    match fits.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::FunctionNotFound {
            schema: schema.to_string(),
            name: name.to_string(),
            args: given.iter().map(|s| s.to_string()).collect(),
        }),
        many => Err(Error::AmbiguousFunction(
            many.iter()
                .map(|f| {
                    let args: Vec<String> = f
                        .args
                        .iter()
                        .map(|a| format!("{} => {}", a.name.as_deref().unwrap_or(""), a.pg_type))
                        .collect();
                    format!("{}.{}({})", f.schema, f.name, args.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// `SELECT * FROM "s"."f"("a" := $1, ...) AS pgrst_f(...)`: scalar results get the single
/// column `pgrst_scalar`.
pub(crate) fn call_sql(params: &mut Params, f: &Function, args: &Args, scalar: bool) -> String {
    let mut parts = Vec::new();
    for (name, value) in args {
        let Some(arg) = f.args.iter().find(|a| a.name.as_deref() == Some(name.as_str())) else { continue };
        let value = match value {
            Some(v) if arg.pg_type.ends_with("[]") && v.starts_with('[') => pg_array(v).unwrap_or_else(|| v.clone()),
            Some(v) => v.clone(),
            None => {
                parts.push(format!(
                    "{}{} := {}",
                    if arg.variadic { "VARIADIC " } else { "" },
                    ident(name),
                    params.push_null()
                ));
                continue;
            }
        };
        let variadic = if arg.variadic { "VARIADIC " } else { "" };
        parts.push(format!("{variadic}{} := {}", ident(name), params.push(value)));
    }
    let columns = if scalar { "(pgrst_scalar)" } else { "" };
    format!("SELECT * FROM {}({}) AS pgrst_f{columns}", qualified(&f.schema, &f.name), parts.join(", "))
}

/// The result columns of a composite function as a table the read builder can check names
/// against. Their types are unknown here, so filters on them use the plain operators.
pub(crate) fn result_table(f: &Function, columns: &[String]) -> Table {
    Table {
        schema: f.schema.clone(),
        name: f.name.clone(),
        columns: columns
            .iter()
            .map(|c| Column {
                name: c.clone(),
                pg_type: String::new(),
                type_schema: String::new(),
                nullable: true,
                has_default: false,
                generated: false,
            })
            .collect(),
        primary_key: Vec::new(),
        unique_keys: Vec::new(),
        insertable: false,
        updatable: false,
        deletable: false,
    }
}
