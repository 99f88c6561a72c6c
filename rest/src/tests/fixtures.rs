//! A small schema the tests plan against, loaded through `SchemaCache::from_json` exactly as
//! the catalog query's document would be.

use serde_json::json;

use crate::{parse_request, plan, Plan, Request, SchemaCache};

fn col(name: &str, ty: &str, schema: &str) -> serde_json::Value {
    json!({"name": name, "pg_type": ty, "type_schema": schema, "nullable": true, "has_default": false})
}

fn table(name: &str, columns: Vec<serde_json::Value>, pk: &[&str]) -> serde_json::Value {
    json!({
        "schema": "public", "name": name, "columns": columns, "primary_key": pk,
        "unique_keys": if pk.is_empty() { json!([]) } else { json!([pk]) },
        "insertable": true, "updatable": true, "deletable": true
    })
}

fn fk(name: &str, table: &str, cols: &[&str], ref_table: &str, ref_cols: &[&str]) -> serde_json::Value {
    json!({"name": name, "schema": "public", "table": table, "columns": cols,
           "ref_schema": "public", "ref_table": ref_table, "ref_columns": ref_cols})
}

pub const HOSTILE: &str = "a\"; drop table x; --";

pub fn cache() -> SchemaCache {
    let pg = "pg_catalog";
    let doc = json!({
        "tables": [
            table("customers", vec![
                json!({"name": "id", "pg_type": "integer", "type_schema": pg, "nullable": false, "has_default": true}),
                col("name", "text", pg), col("email", "citext", "public"), col("data", "jsonb", pg),
                col("doc", "tsvector", pg), col("tags", "text[]", pg),
            ], &["id"]),
            table("orders", vec![
                col("id", "integer", pg), col("customer_id", "integer", pg), col("amount", "numeric", pg),
                col("status", "text", pg), col("note", "text", pg),
            ], &["id"]),
            table("items", vec![col("id", "integer", pg), col("order_id", "integer", pg), col("qty", "integer", pg)], &["id"]),
            table("profiles", vec![col("customer_id", "integer", pg), col("bio", "text", pg)], &["customer_id"]),
            table("employees", vec![col("id", "integer", pg), col("manager_id", "integer", pg)], &["id"]),
            table("users", vec![col("id", "integer", pg), col("name", "text", pg)], &["id"]),
            table("posts", vec![col("id", "integer", pg), col("author_id", "integer", pg), col("editor_id", "integer", pg)], &["id"]),
            table("logs", vec![col("msg", "text", pg)], &[]),
            table(HOSTILE, vec![col(HOSTILE, "text", pg)], &[]),
        ],
        "foreign_keys": [
            fk("orders_customer_id_fkey", "orders", &["customer_id"], "customers", &["id"]),
            fk("items_order_id_fkey", "items", &["order_id"], "orders", &["id"]),
            fk("profiles_customer_id_fkey", "profiles", &["customer_id"], "customers", &["id"]),
            fk("employees_manager_id_fkey", "employees", &["manager_id"], "employees", &["id"]),
            fk("posts_author_id_fkey", "posts", &["author_id"], "users", &["id"]),
            fk("posts_editor_id_fkey", "posts", &["editor_id"], "users", &["id"]),
        ],
        "functions": [
            {"schema": "public", "name": "add", "returns_set": false, "volatility": "immutable",
             "returns": {"kind": "scalar", "pg_type": "integer"},
             "args": [{"name": "a", "pg_type": "integer", "has_default": false},
                      {"name": "b", "pg_type": "integer", "has_default": true}]},
            {"schema": "public", "name": "big_orders", "returns_set": true, "volatility": "stable",
             "returns": {"kind": "composite", "columns": ["id", "customer_id", "amount", "status", "note"]},
             "args": [{"name": "min", "pg_type": "numeric", "has_default": true}]},
            {"schema": "public", "name": "ping", "returns_set": false, "volatility": "volatile",
             "returns": {"kind": "void"}, "args": []},
            {"schema": "public", "name": "tags", "returns_set": true, "volatility": "stable",
             "returns": {"kind": "scalar", "pg_type": "text"}, "args": [{"name": "ids", "pg_type": "integer[]", "has_default": false}]},
            {"schema": "public", "name": "pair", "returns_set": false, "volatility": "stable",
             "returns": {"kind": "composite", "columns": ["x", "y"]}, "args": []},
            {"schema": "public", "name": "over", "returns_set": false, "volatility": "stable",
             "returns": {"kind": "scalar", "pg_type": "integer"}, "args": [{"name": "x", "pg_type": "integer", "has_default": false}]},
            {"schema": "public", "name": "over", "returns_set": false, "volatility": "stable",
             "returns": {"kind": "scalar", "pg_type": "text"}, "args": [{"name": "x", "pg_type": "text", "has_default": false}]},
        ]
    });
    SchemaCache::from_json(doc).expect("the fixture is a valid catalog document")
}

pub fn exposed() -> Vec<String> {
    vec!["public".to_string(), "api".to_string()]
}

/// Splits `a=1&b=2` (already decoded; `&` and `=` are the only separators).
pub fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

pub fn headers(h: &[(&str, &str)]) -> Vec<(String, String)> {
    h.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn request(method: &str, path: &str, query: &str, h: &[(&str, &str)]) -> Result<Request, crate::Error> {
    parse_request(method, path, &pairs(query), &headers(h), &exposed())
}

pub fn try_plan(method: &str, path: &str, query: &str, h: &[(&str, &str)], body: &str) -> Result<Plan, crate::Error> {
    let req = request(method, path, query, h)?;
    let body = if body.is_empty() { None } else { Some(body.as_bytes()) };
    plan(&req, &cache(), body)
}

pub fn planned(method: &str, path: &str, query: &str, h: &[(&str, &str)], body: &str) -> Plan {
    match try_plan(method, path, query, h, body) {
        Ok(p) => p,
        Err(e) => panic!("{method} {path}?{query} failed to plan: {e:?}"),
    }
}

/// A name written as a quoted field name of the query grammar.
pub fn pairs_escape(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}
