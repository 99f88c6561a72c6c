//! `INSERT`, `UPDATE` and `DELETE` as data-modifying CTEs named `pgrst_mutation`.
//!
//! The body travels as one `json` parameter exactly as the client sent it (so a numeric never
//! passes through an f64) and is turned into rows by `json_populate_record(NULL::"s"."t", …)`:
//! the table's own row type converts each value, so no type name is ever written into SQL.
//! Only the chosen columns are inserted or set; the others keep their defaults or values.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::error::Error;
use crate::filter::FilterCtx;
use crate::parse::{Request, Resolution};
use crate::read::where_clause;
use crate::schema::Table;
use crate::sql::{array_literal, ident, qualified, Params};

/// The body as JSON, or PGRST102.
pub(crate) fn parse_body(body: Option<&[u8]>) -> Result<(Value, String), Error> {
    let text = std::str::from_utf8(body.unwrap_or_default())
        .map_err(|_| Error::InvalidBody("Empty or invalid json".into()))?
        .trim()
        .to_string();
    let value: Value = serde_json::from_str(&text).map_err(|_| Error::InvalidBody("Empty or invalid json".into()))?;
    Ok((value, text))
}

/// The columns a body writes: `columns=` when given (each must exist), else the body's keys,
/// which must be columns and, in a bulk body, the same in every object.
fn target_columns(
    table: &Table,
    req: &Request,
    rows: &[&serde_json::Map<String, Value>],
) -> Result<Vec<String>, Error> {
    let missing = |c: &str| Error::ColumnNotFound { relation: table.name.clone(), column: c.to_string() };
    if let Some(cols) = &req.columns {
        for c in cols {
            table.column(c).ok_or_else(|| missing(c))?;
        }
        return Ok(cols.clone());
    }
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let keys: BTreeSet<&String> = first.keys().collect();
    if rows.iter().any(|r| r.keys().collect::<BTreeSet<_>>() != keys) {
        return Err(Error::InvalidBody("All object keys must match".into()));
    }
    for k in &keys {
        table.column(k).ok_or_else(|| missing(k))?;
    }
    Ok(keys.into_iter().cloned().collect())
}

/// The conditions of a mutation: the top-level filters and logic trees, on the target table.
fn mutation_where(params: &mut Params, req: &Request, table: &Table, alias: &str) -> Result<String, Error> {
    let embeds = HashMap::new();
    let ctx = FilterCtx { table, alias, embeds: &embeds };
    let mut conds = Vec::new();
    for (p, f) in &req.filters {
        if p.is_empty() {
            conds.push(ctx.filter(params, f)?);
        }
    }
    for (p, t) in &req.logic {
        if p.is_empty() {
            conds.push(ctx.logic(params, t)?);
        }
    }
    Ok(where_clause(&conds))
}

/// What an insert did with the preferences, for `Preference-Applied`.
pub(crate) struct InsertApplied {
    pub resolution: Option<Resolution>,
    pub missing_default: bool,
}

/// `pgrst_mutation AS (INSERT ...)` (several inserts joined by `UNION ALL` when
/// `missing=default` meets objects with different keys). Returns the CTE list.
pub(crate) fn insert(
    params: &mut Params,
    req: &Request,
    table: &Table,
    alias: &str,
    body: Option<&[u8]>,
) -> Result<(String, InsertApplied), Error> {
    let (value, text) = parse_body(body)?;
    let (rows, is_array): (Vec<&serde_json::Map<String, Value>>, bool) = match &value {
        Value::Object(m) => (vec![m], false),
        Value::Array(items) => {
            let rows = items
                .iter()
                .map(|v| v.as_object().ok_or_else(|| Error::InvalidBody("All object keys must match".into())))
                .collect::<Result<Vec<_>, _>>()?;
            (rows, true)
        }
        _ => return Err(Error::InvalidBody("Expected a JSON object or an array of objects".into())),
    };
    let columns = target_columns(table, req, &rows)?;
    let conflict = match (req.preferences.resolution, &req.on_conflict) {
        (None, _) => None,
        (Some(r), Some(cols)) => {
            for c in cols {
                table.require_column(c)?;
            }
            Some((r, cols.clone()))
        }
        (Some(_), None) if table.primary_key.is_empty() => None,
        (Some(r), None) => Some((r, table.primary_key.clone())),
    };
    // With `missing=default`, rows are grouped by the columns they carry, so an absent key
    // is left out of its INSERT and takes the column default.
    let mut groups: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
    let split = req.preferences.missing_default && rows.iter().any(|r| columns.iter().any(|c| !r.contains_key(c)));
    if split {
        for (i, r) in rows.iter().enumerate() {
            let cols: Vec<String> = columns.iter().filter(|c| r.contains_key(*c)).cloned().collect();
            match groups.iter_mut().find(|(c, _)| *c == cols) {
                Some((_, idx)) => idx.push(i + 1),
                None => groups.push((cols, vec![i + 1])),
            }
        }
    } else {
        groups.push((columns, Vec::new()));
    }
    let target = qualified(&table.schema, &table.name);
    let body_param = params.push(text);
    let rows_sql = if is_array {
        format!("{body_param}::pg_catalog.json")
    } else {
        format!("pg_catalog.json_build_array({body_param}::pg_catalog.json)")
    };
    let mut ctes = Vec::new();
    for (n, (cols, indexes)) in groups.iter().enumerate() {
        let col_list = if cols.is_empty() {
            String::new()
        } else {
            format!(" ({})", cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", "))
        };
        let values = cols.iter().map(|c| format!("pgrst_b.{}", ident(c))).collect::<Vec<_>>().join(", ");
        let only = if split {
            let ordinals: Vec<String> = indexes.iter().map(usize::to_string).collect();
            let list = array_literal(ordinals.iter().map(String::as_str));
            format!(" WHERE pgrst_r.i OPERATOR(pg_catalog.=) ANY ({}::pg_catalog.int8[])", params.push(list))
        } else {
            String::new()
        };
        let on_conflict = match &conflict {
            None => String::new(),
            Some((resolution, keys)) => {
                let keys = keys.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
                if *resolution == Resolution::IgnoreDuplicates || cols.is_empty() {
                    format!(" ON CONFLICT ({keys}) DO NOTHING")
                } else {
                    let sets = cols.iter().map(|c| format!("{0} = EXCLUDED.{0}", ident(c))).collect::<Vec<_>>();
                    format!(" ON CONFLICT ({keys}) DO UPDATE SET {}", sets.join(", "))
                }
            }
        };
        let name = if groups.len() == 1 { "pgrst_mutation".to_string() } else { format!("pgrst_mutation_{n}") };
        ctes.push(format!(
            "{name} AS (INSERT INTO {target} AS {a}{col_list} SELECT {values} \
             FROM pg_catalog.json_array_elements({rows_sql}) WITH ORDINALITY AS pgrst_r(v, i) \
             CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::{target}, pgrst_r.v) AS pgrst_b{only} \
             ORDER BY pgrst_r.i{on_conflict} RETURNING {a}.*)",
            a = ident(alias)
        ));
    }
    if groups.len() > 1 {
        let union = (0..groups.len()).map(|n| format!("SELECT * FROM pgrst_mutation_{n}")).collect::<Vec<_>>();
        ctes.push(format!("pgrst_mutation AS ({})", union.join(" UNION ALL ")));
    }
    let applied = InsertApplied { resolution: conflict.map(|(r, _)| r), missing_default: split };
    Ok((ctes.join(", "), applied))
}

/// `pgrst_mutation AS (UPDATE ...)`. An empty object updates nothing and returns no rows,
/// as PostgREST does.
pub(crate) fn update(
    params: &mut Params,
    req: &Request,
    table: &Table,
    alias: &str,
    body: Option<&[u8]>,
) -> Result<String, Error> {
    let (value, text) = parse_body(body)?;
    let Value::Object(map) = &value else {
        return Err(Error::InvalidBody("Expected a JSON object".into()));
    };
    let columns = target_columns(table, req, &[map])?;
    let target = qualified(&table.schema, &table.name);
    let a = ident(alias);
    if columns.is_empty() {
        return Ok(format!("pgrst_mutation AS (SELECT {a}.* FROM {target} AS {a} WHERE false)"));
    }
    let body_param = params.push(text);
    let sets = columns.iter().map(|c| format!("{0} = pgrst_b.{0}", ident(c))).collect::<Vec<_>>().join(", ");
    let where_sql = mutation_where(params, req, table, alias)?;
    Ok(format!(
        "pgrst_mutation AS (UPDATE {target} AS {a} SET {sets} \
         FROM pg_catalog.json_populate_record(NULL::{target}, {body_param}::pg_catalog.json) AS pgrst_b\
         {where_sql} RETURNING {a}.*)"
    ))
}

/// `pgrst_mutation AS (DELETE ...)`.
pub(crate) fn delete(params: &mut Params, req: &Request, table: &Table, alias: &str) -> Result<String, Error> {
    let target = qualified(&table.schema, &table.name);
    let a = ident(alias);
    let where_sql = mutation_where(params, req, table, alias)?;
    Ok(format!("pgrst_mutation AS (DELETE FROM {target} AS {a}{where_sql} RETURNING {a}.*)"))
}
