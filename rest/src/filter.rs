//! Fields, filters, `or`/`and` trees and `order` terms as SQL.
//!
//! # Operators and the hostile tenant
//!
//! The tenant owns its database and can create operators in any schema on the search path,
//! including ones that would win PostgreSQL's operator resolution against an untyped
//! parameter (say `=(integer, text)`). So:
//!
//! - a column whose type lives in `pg_catalog` (integer, text, jsonb, timestamptz, arrays of
//!   them, ...) is compared with `OPERATOR(pg_catalog.=)` and friends: the candidates are
//!   only the built-in operators, and the untyped `$n` resolves among those;
//! - a column of any other type (an enum, a domain, citext, PostGIS) is compared with the
//!   plain operator, resolved through the search path like PostgREST does: those operators
//!   *are* the meaning of the tenant's types, and pinning `pg_catalog` would silently change
//!   it (citext would compare case-sensitively through its cast to text).
//!
//! What a tenant-defined operator can do runs with the privileges of the role the statement
//! runs as (the database's anon/authenticated/service role), which the tenant already has.
//! The caller must therefore run plans under `SET LOCAL ROLE` from a login role that has no
//! more rights than those roles, and keep `pg_catalog` first on the search path.
//! Built-in functions (`count`, `json_agg`, `to_tsquery`, ...) are always `pg_catalog.`-
//! qualified; `ORDER BY` sorts by the type's default btree operator class, not by name.

use std::collections::HashMap;

use crate::ast::*;
use crate::error::Error;
use crate::schema::Table;
use crate::sql::{ident, Params};

/// `op` restricted to `pg_catalog` when the operand type is built in.
fn operator(builtin: bool, op: &str) -> String {
    if builtin {
        format!("OPERATOR(pg_catalog.{op})")
    } else {
        op.to_string()
    }
}

/// A rendered field: its SQL expression and whether its type is built in.
pub(crate) struct FieldSql {
    pub sql: String,
    pub builtin: bool,
    pub is_tsvector: bool,
}

/// `"alias"."col"`, then the JSON path, with the column checked against the table. A JSON
/// path on a column that is not json/jsonb goes through `to_jsonb`, as PostgREST does.
pub(crate) fn field(params: &mut Params, table: &Table, alias: &str, f: &Field) -> Result<FieldSql, Error> {
    let col = table.require_column(&f.name)?;
    let base = format!("{}.{}", ident(alias), ident(&col.name));
    if f.json_path.is_empty() {
        return Ok(FieldSql { sql: base, builtin: col.is_builtin(), is_tsvector: col.pg_type == "tsvector" });
    }
    let mut sql = if col.is_builtin() && (col.pg_type == "json" || col.pg_type == "jsonb") {
        base
    } else {
        format!("pg_catalog.to_jsonb({base})")
    };
    for step in &f.json_path {
        let (op, key) = match step {
            JsonStep::Arrow(k) => ("->", k),
            JsonStep::DoubleArrow(k) => ("->>", k),
        };
        let key = match key {
            JsonKey::Key(k) => format!("{}::pg_catalog.text", params.push(k.as_str())),
            JsonKey::Index(i) => format!("{}::pg_catalog.int4", params.push(i.to_string())),
        };
        sql = format!("({sql} OPERATOR(pg_catalog.{op}) {key})");
    }
    Ok(FieldSql { sql, builtin: true, is_tsvector: false })
}

/// Renders filters of one node. `embeds` maps the label of each embedded resource of the
/// node to an `EXISTS (...)` over it, for `orders=is.null` / `orders=not.is.null`.
pub(crate) struct FilterCtx<'a> {
    pub table: &'a Table,
    pub alias: &'a str,
    pub embeds: &'a HashMap<String, String>,
}

impl FilterCtx<'_> {
    pub fn filter(&self, params: &mut Params, f: &Filter) -> Result<String, Error> {
        if f.field.json_path.is_empty() && self.table.column(&f.field.name).is_none() {
            if let Some(exists) = self.embeds.get(&f.field.name) {
                let wants_null = match f.operation {
                    Operation::Is(IsValue::Null) => !f.negate,
                    Operation::Is(IsValue::NotNull) => f.negate,
                    _ => return Err(Error::UnacceptableFilter(f.field.name.clone())),
                };
                return Ok(if wants_null { format!("NOT {exists}") } else { exists.clone() });
            }
        }
        let lhs = field(params, self.table, self.alias, &f.field)?;
        let l = &lhs.sql;
        let op = |sym: &str| operator(lhs.builtin, sym);
        let expr = match &f.operation {
            Operation::Cmp { op: CmpOp::IsDistinct, value, .. } => {
                format!("({l} IS NULL OR {l} {} {})", op("<>"), params.push(value.as_str()))
            }
            Operation::Cmp { op: cmp, quantifier, value } => {
                let value =
                    if matches!(cmp, CmpOp::Like | CmpOp::Ilike) { value.replace('*', "%") } else { value.clone() };
                let p = params.push(value);
                let rhs = match quantifier {
                    None => p,
                    Some(Quantifier::Any) => format!("ANY ({p})"),
                    Some(Quantifier::All) => format!("ALL ({p})"),
                };
                format!("{l} {} {rhs}", op(cmp_symbol(*cmp)))
            }
            Operation::In(values) => {
                let p = params.push(crate::sql::array_literal(values.iter().map(String::as_str)));
                format!("{l} {} ANY ({p})", op("="))
            }
            Operation::Is(v) => format!(
                "{l} IS {}",
                match v {
                    IsValue::Null => "NULL",
                    IsValue::NotNull => "NOT NULL",
                    IsValue::True => "TRUE",
                    IsValue::False => "FALSE",
                    IsValue::Unknown => "UNKNOWN",
                }
            ),
            Operation::Fts { op: fts, language, value } => {
                let lang = language.as_ref().map(|l| format!("{}::pg_catalog.regconfig, ", params.push(l.as_str())));
                let lang = lang.unwrap_or_default();
                let vector = if lhs.is_tsvector { l.clone() } else { format!("pg_catalog.to_tsvector({lang}{l})") };
                let func = match fts {
                    FtsOp::Fts => "to_tsquery",
                    FtsOp::Plain => "plainto_tsquery",
                    FtsOp::Phrase => "phraseto_tsquery",
                    FtsOp::Websearch => "websearch_to_tsquery",
                };
                let q = params.push(value.as_str());
                format!("{vector} OPERATOR(pg_catalog.@@) pg_catalog.{func}({lang}{q}::pg_catalog.text)")
            }
        };
        Ok(if f.negate { format!("NOT ({expr})") } else { format!("({expr})") })
    }

    pub fn logic(&self, params: &mut Params, tree: &LogicTree) -> Result<String, Error> {
        match tree {
            LogicTree::Filter(f) => self.filter(params, f),
            LogicTree::Group { negate, or, children } => {
                let parts = children.iter().map(|c| self.logic(params, c)).collect::<Result<Vec<_>, _>>()?;
                let joined = parts.join(if *or { " OR " } else { " AND " });
                Ok(if *negate { format!("NOT ({joined})") } else { format!("({joined})") })
            }
        }
    }

    pub fn order(&self, params: &mut Params, term: &OrderTerm) -> Result<String, Error> {
        let f = field(params, self.table, self.alias, &term.field)?;
        let dir = match term.direction {
            Some(Direction::Desc) => " DESC",
            Some(Direction::Asc) => " ASC",
            None => "",
        };
        let nulls = match term.nulls {
            Some(Nulls::First) => " NULLS FIRST",
            Some(Nulls::Last) => " NULLS LAST",
            None => "",
        };
        Ok(format!("{}{dir}{nulls}", f.sql))
    }
}

fn cmp_symbol(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Neq | CmpOp::IsDistinct => "<>",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
        CmpOp::Like => "~~",
        CmpOp::Ilike => "~~*",
        CmpOp::Match => "~",
        CmpOp::Imatch => "~*",
        CmpOp::Contains => "@>",
        CmpOp::ContainedIn => "<@",
        CmpOp::Overlaps => "&&",
        CmpOp::StrictlyLeft => "<<",
        CmpOp::StrictlyRight => ">>",
        CmpOp::NotExtendsRight => "&<",
        CmpOp::NotExtendsLeft => "&>",
        CmpOp::Adjacent => "-|-",
    }
}

/// A `::cast` from `select`, as SQL. Common built-in names (and their SQL-standard
/// spellings) are pinned to `pg_catalog`; anything else is quoted and resolved through the
/// search path, so a tenant's own types work and nothing can be injected.
pub(crate) fn cast_type(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let builtin = match lower.as_str() {
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "real" | "float4" => "float4",
        "double precision" | "float8" | "float" => "float8",
        "numeric" | "decimal" => "numeric",
        "bool" | "boolean" => "bool",
        "text" | "varchar" | "char" | "bpchar" | "uuid" | "json" | "jsonb" | "date" | "time" | "timestamp"
        | "timestamptz" | "interval" | "bytea" | "inet" | "cidr" | "money" | "oid" | "tsvector" | "xml" => {
            lower.as_str()
        }
        "character varying" => "varchar",
        "timestamp with time zone" => "timestamptz",
        "timestamp without time zone" => "timestamp",
        _ => return ident(name.trim()),
    };
    format!("pg_catalog.{}", ident(builtin))
}
