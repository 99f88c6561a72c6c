//! The `SELECT` of a resource and of its embedded resources.
//!
//! Each embedded resource is a correlated subquery in the parent's select list, as PostgREST
//! (before its lateral joins) did: `coalesce((SELECT json_agg(e) FROM (...) e), '[]')` for
//! to-many and `(SELECT row_to_json(e) FROM (...) e)` for to-one. `!inner` and
//! `orders=not.is.null` become `EXISTS (...)` over the same child query in the parent's WHERE.

use std::collections::HashMap;

use serde_json::json;

use crate::ast::*;
use crate::error::Error;
use crate::filter::{cast_type, field, FilterCtx};
use crate::parse::{Request, Window};
use crate::schema::{Cardinality, Relationship, SchemaCache, Table};
use crate::sql::{ident, qualified, Params};

/// The pieces of one resource's `SELECT`, so callers can put it in a CTE, a subquery or
/// an `EXISTS`, and count with the same `WHERE`.
pub(crate) struct NodeSql {
    pub columns: Vec<String>,
    pub conditions: Vec<String>,
    pub order_by: Vec<String>,
    pub window: Window,
}

impl NodeSql {
    pub fn where_clause(&self) -> String {
        where_clause(&self.conditions)
    }

    pub fn tail(&self, params: &mut Params) -> String {
        let mut out = String::new();
        if !self.order_by.is_empty() {
            out.push_str(" ORDER BY ");
            out.push_str(&self.order_by.join(", "));
        }
        if let Some(limit) = self.window.limit {
            out.push_str(&format!(" LIMIT {}", params.push(limit.to_string())));
        }
        if self.window.offset > 0 {
            out.push_str(&format!(" OFFSET {}", params.push(self.window.offset.to_string())));
        }
        out
    }
}

pub(crate) fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// Walks a request's select tree, allocating table aliases and collecting parameters.
pub(crate) struct Builder<'a> {
    pub cache: &'a SchemaCache,
    pub req: &'a Request,
    pub params: Params,
    aliases: usize,
    seen_paths: Vec<EmbedPath>,
}

impl<'a> Builder<'a> {
    pub fn new(cache: &'a SchemaCache, req: &'a Request) -> Self {
        Builder { cache, req, params: Params::default(), aliases: 0, seen_paths: Vec::new() }
    }

    /// A fresh table alias, `pgrst_0`, `pgrst_1`, ...
    pub fn alias(&mut self) -> String {
        let a = format!("pgrst_{}", self.aliases);
        self.aliases += 1;
        a
    }

    /// The resource at `path` (empty for the top level) read from `table` under `alias`.
    pub fn node(
        &mut self,
        table: &'a Table,
        alias: &str,
        path: &[String],
        items: &[SelectItem],
    ) -> Result<NodeSql, Error> {
        self.seen_paths.push(path.to_vec());
        let mut columns = Vec::new();
        let mut exists: HashMap<String, String> = HashMap::new();
        let mut conditions = Vec::new();
        for item in items {
            match item {
                SelectItem::Star => columns.push(format!("{}.*", ident(alias))),
                SelectItem::Field { field: f, alias: label, cast } => {
                    let sql = field(&mut self.params, table, alias, f)?.sql;
                    let cast = cast.as_deref().map(|c| format!("::{}", cast_type(c))).unwrap_or_default();
                    let label = label.clone().unwrap_or_else(|| f.default_alias());
                    columns.push(format!("{sql}{cast} AS {}", ident(&label)));
                }
                SelectItem::Embed(embed) => {
                    let (column, exists_sql) = self.embed(table, alias, path, embed)?;
                    columns.push(column);
                    if embed.inner {
                        conditions.push(exists_sql.clone());
                    }
                    exists.insert(embed.label().to_string(), exists_sql);
                }
            }
        }
        let ctx = FilterCtx { table, alias, embeds: &exists };
        for (p, f) in &self.req.filters {
            if p == path {
                conditions.push(ctx.filter(&mut self.params, f)?);
            }
        }
        for (p, tree) in &self.req.logic {
            if p == path {
                conditions.push(ctx.logic(&mut self.params, tree)?);
            }
        }
        let mut order_by = Vec::new();
        for (p, terms) in &self.req.order {
            if p == path {
                for t in terms {
                    order_by.push(ctx.order(&mut self.params, t)?);
                }
            }
        }
        Ok(NodeSql { columns, conditions, order_by, window: self.req.window(path) })
    }

    /// The select-list column for one embedded resource, and an `EXISTS` over it.
    fn embed(
        &mut self,
        parent: &Table,
        parent_alias: &str,
        path: &[String],
        embed: &Embed,
    ) -> Result<(String, String), Error> {
        let rel = resolve(self.cache, parent, embed)?;
        let child = rel.child;
        let alias = self.alias();
        let mut child_path = path.to_vec();
        child_path.push(embed.label().to_string());
        let items = if embed.select.is_empty() { vec![SelectItem::Star] } else { embed.select.clone() };
        let mut node = self.node(child, &alias, &child_path, &items)?;
        for (pc, cc) in rel.parent_columns.iter().zip(rel.child_columns) {
            let builtin =
                parent.column(pc).is_some_and(|c| c.is_builtin()) && child.column(cc).is_some_and(|c| c.is_builtin());
            let eq = if builtin { "OPERATOR(pg_catalog.=)" } else { "=" };
            node.conditions
                .insert(0, format!("{}.{} {eq} {}.{}", ident(&alias), ident(cc), ident(parent_alias), ident(pc)));
        }
        let from = format!("{} AS {}", qualified(&child.schema, &child.name), ident(&alias));
        let exists = format!("EXISTS (SELECT 1 FROM {from}{})", node.where_clause());
        let inner = format!(
            "SELECT {} FROM {from}{}{}",
            node.columns.join(", "),
            node.where_clause(),
            node.tail(&mut self.params)
        );
        let label = ident(embed.label());
        let column = match rel.cardinality {
            Cardinality::OneToMany => format!(
                "coalesce((SELECT pg_catalog.json_agg(pgrst_e) FROM ({inner}) AS pgrst_e), '[]'::pg_catalog.json) AS {label}"
            ),
            Cardinality::ManyToOne | Cardinality::OneToOne => {
                format!("(SELECT pg_catalog.row_to_json(pgrst_e) FROM ({inner}) AS pgrst_e) AS {label}")
            }
        };
        Ok((column, exists))
    }

    /// PGRST108 for a filter, order, logic tree or window on an embed the select lacks.
    pub fn check_paths(&self) -> Result<(), Error> {
        let req = self.req;
        let used = req
            .filters
            .iter()
            .map(|(p, _)| p)
            .chain(req.logic.iter().map(|(p, _)| p))
            .chain(req.order.iter().map(|(p, _)| p))
            .chain(req.windows.iter().map(|(p, _)| p));
        for p in used {
            if !self.seen_paths.contains(p) {
                return Err(Error::NotEmbedded(p.last().cloned().unwrap_or_default()));
            }
        }
        Ok(())
    }
}

fn cardinality_name(c: Cardinality) -> &'static str {
    match c {
        Cardinality::ManyToOne => "many-to-one",
        Cardinality::OneToOne => "one-to-one",
        Cardinality::OneToMany => "one-to-many",
    }
}

/// Which foreign key carries `parent -> embed`: the embed names the other table, a foreign
/// key, or a foreign-key column of the parent; `!hint` names a foreign key or one of its
/// columns. None is PGRST200, several is PGRST201.
pub(crate) fn resolve<'c>(cache: &'c SchemaCache, parent: &Table, embed: &Embed) -> Result<Relationship<'c>, Error> {
    let one = |cols: &[String], name: &str| cols.len() == 1 && cols[0] == name;
    let mut found: Vec<Relationship<'c>> = cache
        .relationships(parent)
        .into_iter()
        .filter(|r| {
            r.child.name == embed.name
                || r.foreign_key.name == embed.name
                || (r.cardinality == Cardinality::ManyToOne && one(r.parent_columns, &embed.name))
        })
        .collect();
    if let Some(hint) = &embed.hint {
        found.retain(|r| r.foreign_key.name == *hint || one(r.parent_columns, hint) || one(r.child_columns, hint));
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::NoRelationship {
            parent: parent.name.clone(),
            child: embed.name.clone(),
            hint: embed.hint.clone(),
            schema: parent.schema.clone(),
        }),
        _ => Err(Error::AmbiguousRelationship {
            parent: parent.name.clone(),
            child: embed.name.clone(),
            candidates: found
                .iter()
                .map(|r| {
                    json!({
                        "cardinality": cardinality_name(r.cardinality),
                        "embedding": format!("{} with {}", parent.name, r.child.name),
                        "relationship": format!(
                            "{} using {}({}) and {}({})",
                            r.foreign_key.name,
                            r.foreign_key.table,
                            r.foreign_key.columns.join(", "),
                            r.foreign_key.ref_table,
                            r.foreign_key.ref_columns.join(", ")
                        ),
                    })
                })
                .collect(),
        }),
    }
}
