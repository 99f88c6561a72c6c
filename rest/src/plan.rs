//! A [`Request`] and the schema cache become one SQL statement, its parameters and the
//! [`Shape`] of the answer.
//!
//! Like PostgREST, the database builds the response body. Every statement has the form
//!
//! ```sql
//! WITH [pgrst_mutation AS (INSERT/UPDATE/DELETE ... RETURNING ...),]
//!      pgrst_source AS (SELECT <select list> FROM <table or mutation or call> ...)
//! SELECT <total or NULL>::int8 AS total_count, pg_catalog.count(*) AS page_total,
//!        coalesce(pg_catalog.json_agg(_t), '[]')::text AS body
//! FROM pgrst_source AS _t
//! ```
//!
//! and every value from the request is a `$n` parameter in PostgreSQL's text format, left
//! untyped (the server infers it from its context) unless a cast is needed to make it
//! unambiguous. The executor must send the parameters with unspecified types and text format.

use crate::ast::SelectItem;
use crate::error::Error;
use crate::parse::{Method, Representation, Request, Resolution, Target, Window};
use crate::read::Builder;
use crate::rpc;
use crate::schema::{Returns, SchemaCache};
use crate::shape::{Action, Shape};
use crate::sql::{ident, qualified};
use crate::write;

/// One statement to run, its parameters, and how to answer with its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub sql: String,
    /// Text-format values for `$1`, `$2`, ...; `None` is SQL NULL.
    pub params: Vec<Option<String>>,
    pub shape: Shape,
}

/// Plans a request against the cache. `body` is the raw request body (JSON for writes and
/// POST calls).
pub fn plan(req: &Request, cache: &SchemaCache, body: Option<&[u8]>) -> Result<Plan, Error> {
    match (&req.target, req.method) {
        (Target::Table(t), Method::Get | Method::Head) => read(req, cache, t),
        (Target::Table(t), Method::Post | Method::Patch | Method::Delete) => mutate(req, cache, t, body),
        (Target::Table(_), Method::Put) => Err(Error::UnsupportedMethod("PUT".into())),
        (Target::Rpc(f), Method::Get | Method::Head | Method::Post) => call(req, cache, f, body),
        (Target::Rpc(_), m) => Err(Error::RpcMethod(format!("{m:?}").to_ascii_uppercase())),
    }
}

fn count_applied(req: &Request) -> Vec<String> {
    req.preferences.count.iter().map(|c| format!("count={c}")).collect()
}

fn base_shape(req: &Request, action: Action, returns_body: bool) -> Shape {
    Shape {
        action,
        head: req.method == Method::Head,
        single: req.media == crate::parse::MediaType::SingleObject,
        offset: req.root_window().offset,
        returns_body,
        counted: req.preferences.count.is_some(),
        preference_applied: count_applied(req),
        read_only: req.method.is_read(),
        rollback: req.preferences.rollback,
        profile: req.profile_negotiated.then(|| req.schema.clone()),
    }
}

/// The body column: a JSON array, or the one object for `vnd.pgrst.object+json`.
fn body_sql(single: bool, send: bool, value: &str) -> String {
    if !send {
        "NULL::pg_catalog.text".to_string()
    } else if single {
        format!("coalesce(pg_catalog.json_agg({value}) OPERATOR(pg_catalog.->) 0, 'null'::pg_catalog.json)::pg_catalog.text")
    } else {
        format!("coalesce(pg_catalog.json_agg({value}), '[]'::pg_catalog.json)::pg_catalog.text")
    }
}

fn finish(ctes: &str, total: &str, body: &str) -> String {
    format!(
        "WITH {ctes} SELECT ({total})::pg_catalog.int8 AS total_count, pg_catalog.count(*) AS page_total, \
         {body} AS body FROM pgrst_source AS _t"
    )
}

fn read(req: &Request, cache: &SchemaCache, name: &str) -> Result<Plan, Error> {
    let table = cache.require_table(&req.schema, name)?;
    let mut b = Builder::new(cache, req);
    let alias = b.alias();
    let node = b.node(table, &alias, &[], &req.select)?;
    b.check_paths()?;
    let from = format!("{} AS {}", qualified(&table.schema, &table.name), ident(&alias));
    let where_sql = node.where_clause();
    let tail = node.tail(&mut b.params);
    let source = format!("pgrst_source AS (SELECT {} FROM {from}{where_sql}{tail})", node.columns.join(", "));
    let total = match req.preferences.count {
        None => "NULL".to_string(),
        Some(_) if node.window == Window::default() => "pg_catalog.count(*)".to_string(),
        Some(_) => format!("SELECT pg_catalog.count(*) FROM {from}{where_sql}"),
    };
    let shape = base_shape(req, Action::Read, true);
    let body = body_sql(shape.single, !shape.head, "_t");
    Ok(Plan { sql: finish(&source, &total, &body), params: b.params.into_vec(), shape })
}

fn mutate(req: &Request, cache: &SchemaCache, name: &str, body: Option<&[u8]>) -> Result<Plan, Error> {
    let table = cache.require_table(&req.schema, name)?;
    if req.root_window() != Window::default() {
        return Err(Error::NotImplemented("limit/offset on insert, update or delete".into()));
    }
    let mut b = Builder::new(cache, req);
    let alias = b.alias();
    let mut applied = Vec::new();
    let (cte, action) = match req.method {
        Method::Post => {
            let (cte, ins) = write::insert(&mut b.params, req, table, &alias, body)?;
            if let Some(r) = ins.resolution {
                applied.push(match r {
                    Resolution::MergeDuplicates => "resolution=merge-duplicates".to_string(),
                    Resolution::IgnoreDuplicates => "resolution=ignore-duplicates".to_string(),
                });
            }
            if ins.missing_default {
                applied.push("missing=default".to_string());
            }
            (cte, Action::Insert)
        }
        Method::Patch => (write::update(&mut b.params, req, table, &alias, body)?, Action::Update),
        _ => (write::delete(&mut b.params, req, table, &alias)?, Action::Delete),
    };
    let representation = req.preferences.representation.unwrap_or(Representation::Minimal);
    let full = representation == Representation::Full;
    let source = if full {
        // The representation is the select tree over the returned rows, without the
        // top-level filters: they chose the rows, and the new values may no longer match.
        let no_root_filters = Request {
            filters: req.filters.iter().filter(|(p, _)| !p.is_empty()).cloned().collect(),
            logic: req.logic.iter().filter(|(p, _)| !p.is_empty()).cloned().collect(),
            ..req.clone()
        };
        let mut rb = Builder::new(cache, &no_root_filters);
        rb.params = std::mem::take(&mut b.params);
        let out_alias = rb.alias();
        let node = rb.node(table, &out_alias, &[], &req.select)?;
        rb.check_paths()?;
        let tail = node.tail(&mut rb.params);
        b.params = std::mem::take(&mut rb.params);
        format!(
            "pgrst_source AS (SELECT {} FROM pgrst_mutation AS {}{}{tail})",
            node.columns.join(", "),
            ident(&out_alias),
            node.where_clause()
        )
    } else {
        // Without a representation there is no select tree to embed into.
        let paths = req.filters.iter().map(|(p, _)| p).chain(req.logic.iter().map(|(p, _)| p));
        if let Some(p) = paths.chain(req.order.iter().map(|(p, _)| p)).find(|p| !p.is_empty()) {
            return Err(Error::NotEmbedded(p.last().cloned().unwrap_or_default()));
        }
        "pgrst_source AS (SELECT 1 FROM pgrst_mutation)".to_string()
    };
    let mut shape = base_shape(req, action, full);
    if let Some(r) = req.preferences.representation {
        applied.insert(
            0,
            match r {
                Representation::Full => "return=representation",
                Representation::Minimal => "return=minimal",
                Representation::HeadersOnly => "return=headers-only",
            }
            .to_string(),
        );
    }
    applied.append(&mut shape.preference_applied);
    if req.preferences.rollback {
        applied.push("tx=rollback".into());
    }
    shape.preference_applied = applied;
    shape.read_only = false;
    let total = if shape.counted { "pg_catalog.count(*)" } else { "NULL" };
    let body = body_sql(shape.single, full, "_t");
    Ok(Plan { sql: finish(&format!("{cte}, {source}"), total, &body), params: b.params.into_vec(), shape })
}

fn call(req: &Request, cache: &SchemaCache, name: &str, body: Option<&[u8]>) -> Result<Plan, Error> {
    let args = rpc::arguments(req, body)?;
    let f = rpc::choose(cache, &req.schema, name, &args)?;
    let mut b = Builder::new(cache, req);
    let (scalar, void, columns) = match &f.returns {
        Returns::Void => (true, true, Vec::new()),
        Returns::Scalar { .. } => (true, false, Vec::new()),
        Returns::Composite { columns } => (false, false, columns.clone()),
    };
    let call_sql = rpc::call_sql(&mut b.params, f, &args, scalar);
    let result = rpc::result_table(f, &columns);
    let mut rb = Builder::new(cache, req);
    rb.params = std::mem::take(&mut b.params);
    let alias = rb.alias();
    let from = format!("pgrst_call AS {}", ident(&alias));
    let (select, where_sql, tail) = if scalar {
        if !req.filters.is_empty() || !req.logic.is_empty() || !req.order.is_empty() {
            return Err(Error::NotImplemented("filters or order on a function returning a scalar".into()));
        }
        let w = req.root_window();
        let node =
            crate::read::NodeSql { columns: Vec::new(), conditions: Vec::new(), order_by: Vec::new(), window: w };
        (format!("{}.pgrst_scalar", ident(&alias)), String::new(), node.tail(&mut rb.params))
    } else {
        if columns.is_empty() && req.select.iter().any(|s| !matches!(s, SelectItem::Star)) {
            return Err(Error::NotImplemented("select on a function returning an untyped record".into()));
        }
        let node = rb.node(&result, &alias, &[], &req.select)?;
        rb.check_paths()?;
        let tail = node.tail(&mut rb.params);
        (node.columns.join(", "), node.where_clause(), tail)
    };
    let source = format!("pgrst_call AS ({call_sql}), pgrst_source AS (SELECT {select} FROM {from}{where_sql}{tail})");
    let counted = req.preferences.count.is_some();
    let total =
        if !counted { "NULL".to_string() } else { format!("SELECT pg_catalog.count(*) FROM {from}{where_sql}") };
    let mut shape = base_shape(req, Action::Call { void }, !void);
    // A function returning one row or value answers with it, not with an array.
    let single_value = !f.returns_set;
    let send = !void && !shape.head;
    let value = if scalar { "_t.pgrst_scalar" } else { "_t" };
    let body = body_sql(shape.single || single_value, send, value);
    if single_value {
        shape.offset = 0;
    }
    Ok(Plan { sql: finish(&source, &total, &body), params: rb.params.into_vec(), shape })
}
