//! What a SQL text is, by PostgreSQL's own grammar (libpg_query, through the `pg_query`
//! crate — the server's parser compiled as a library; never regular expressions): the kinds
//! of statement an approval may hold, a fingerprint, and the text with its constants as `$n`.
//!
//! The whole parse tree is walked (every node, not a summary), so a `DELETE` inside a `WITH`,
//! an `EXPLAIN ANALYZE`, a `PREPARE` or the third statement of a text is found like a
//! top-level one. What cannot be classified with certainty is [`StatementKind::Unclassified`],
//! which approvals always hold:
//! - text that does not parse;
//! - code whose effect the text does not show: `DO`, `CALL`, `EXECUTE` of a prepared
//!   statement, `MERGE`, `COPY`, `LOAD`, and any call of a function that is not one of the
//!   built-ins listed in [`SAFE_FUNCTIONS`] (schema-qualified to anything but `pg_catalog`
//!   counts as not built-in) — a tenant's function can run `DROP TABLE`;
//! - code being defined or redefined for later (functions, procedures, triggers, rules,
//!   event triggers, operators, aggregates, casts, policies), and `SET search_path` / `SET
//!   ROLE` / `SET SESSION AUTHORIZATION`, which change what later names mean.
//!
//! What no parse can see: code already in the database (a trigger made before approvals
//! were turned on, or through psql) runs when its table is written. README, "SQL over HTTP".

use std::collections::BTreeSet;

use domain::StatementKind;
use serde_json::Value;
use sha2::Digest;

/// Built-in functions whose calls are certain not to change anything: aggregates, window
/// functions, string, number, date, JSON and array functions. Anything else is unclassified.
#[rustfmt::skip]
pub const SAFE_FUNCTIONS: &[&str] = &[
    "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "json_agg", "jsonb_agg",
    "json_object_agg", "jsonb_object_agg", "bool_and", "bool_or", "every", "stddev", "stddev_pop",
    "stddev_samp", "variance", "var_pop", "var_samp", "percentile_cont", "percentile_disc", "mode",
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value", "lower", "upper", "length", "char_length",
    "character_length", "octet_length", "bit_length", "substr", "substring", "trim", "btrim",
    "ltrim", "rtrim", "replace", "concat", "concat_ws", "left", "right", "lpad", "rpad",
    "split_part", "strpos", "position", "reverse", "initcap", "format", "md5", "sha224", "sha256",
    "sha384", "sha512", "encode", "decode", "to_hex", "ascii", "chr", "repeat", "starts_with",
    "regexp_replace", "regexp_match", "regexp_matches", "regexp_split_to_array",
    "regexp_split_to_table", "quote_ident", "quote_literal", "quote_nullable", "abs", "round",
    "ceil", "ceiling", "floor", "trunc", "mod", "power", "pow", "sqrt", "cbrt", "exp", "ln", "log",
    "log10", "sign", "pi", "degrees", "radians", "random", "width_bucket", "div", "gcd", "lcm",
    "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday",
    "date_trunc", "date_part", "date_bin", "extract", "age", "to_char", "to_date", "to_timestamp",
    "to_number", "make_date", "make_time", "make_timestamp", "make_timestamptz", "make_interval",
    "justify_days", "justify_hours", "justify_interval", "isfinite", "nullif", "json_build_object",
    "jsonb_build_object", "json_build_array", "jsonb_build_array", "json_object", "jsonb_object",
    "to_json", "to_jsonb", "row_to_json", "array_to_json", "jsonb_set", "jsonb_insert",
    "jsonb_pretty", "json_each", "jsonb_each", "json_each_text", "jsonb_each_text",
    "json_array_elements", "jsonb_array_elements", "json_array_elements_text",
    "jsonb_array_elements_text", "json_array_length", "jsonb_array_length", "json_typeof",
    "jsonb_typeof", "json_extract_path", "jsonb_extract_path", "json_extract_path_text",
    "jsonb_extract_path_text", "jsonb_path_query", "jsonb_path_exists", "jsonb_strip_nulls",
    "json_object_keys", "jsonb_object_keys", "array_length", "array_to_string", "string_to_array",
    "unnest", "array_position", "array_positions", "array_append", "array_prepend", "array_cat",
    "array_remove", "array_replace", "array_lower", "array_upper", "array_ndims", "array_dims",
    "cardinality", "generate_series", "generate_subscripts", "gen_random_uuid", "pg_typeof",
    "version", "current_database", "current_schema", "current_schemas", "pg_size_pretty",
    "pg_database_size", "pg_relation_size", "pg_total_relation_size", "pg_table_size",
    "pg_indexes_size", "pg_column_size", "to_tsvector", "to_tsquery", "plainto_tsquery",
    "phraseto_tsquery", "websearch_to_tsquery", "ts_rank", "ts_rank_cd", "ts_headline", "similarity",
    "num_nulls", "num_nonnulls", "greatest", "least", "coalesce", "bool", "text", "int4", "int8",
    "numeric", "float8", "date", "timestamptz", "timestamp", "interval",
];

/// What a text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kinds: BTreeSet<StatementKind>,
    /// Hex: equal for texts that differ only in constants.
    pub fingerprint: String,
    /// The text with constants as `$n`; `None` when it does not parse.
    pub normalized: Option<String>,
}

/// Classifies `text` (one statement or many).
pub fn classify(text: &str) -> Classified {
    let parsed = pg_query::parse(text);
    let (kinds, normalized) = match &parsed {
        Ok(p) => {
            let mut kinds = BTreeSet::new();
            match serde_json::to_value(&p.protobuf) {
                Ok(tree) => walk(&tree, &mut kinds),
                Err(_) => {
                    kinds.insert(StatementKind::Unclassified);
                }
            }
            (kinds, pg_query::normalize(text).ok())
        }
        Err(_) => (BTreeSet::from([StatementKind::Unclassified]), None),
    };
    let fingerprint = match pg_query::fingerprint(text) {
        Ok(f) => f.hex,
        // Unparsed text: a digest of the text itself (never the text).
        Err(_) => hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8]),
    };
    Classified { kinds, fingerprint, normalized }
}

/// Whether a node's field is absent (`None` serialises as null; protobuf-c leaves lists
/// empty).
fn absent(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// The string parts of a qualified name (`[{"node":{"String":{"sval":"x"}}}, …]`).
fn name_parts(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|n| n.pointer("/node/String/sval").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn safe_function(parts: &[String]) -> bool {
    match parts {
        [name] => SAFE_FUNCTIONS.contains(&name.as_str()),
        [schema, name] => schema == "pg_catalog" && SAFE_FUNCTIONS.contains(&name.as_str()),
        _ => false,
    }
}

/// `SET search_path`, `SET ROLE` and `SET SESSION AUTHORIZATION` change what the names in
/// later statements mean, or who runs them.
fn set_kind(node: &Value) -> Option<StatementKind> {
    let name = node.get("name").and_then(Value::as_str).unwrap_or_default();
    matches!(name, "search_path" | "role" | "session_authorization").then_some(StatementKind::Unclassified)
}

/// The kind a node adds, if any.
fn kind_of(tag: &str, node: &Value) -> Option<StatementKind> {
    use StatementKind as K;
    let replace = node.get("replace").and_then(Value::as_bool).unwrap_or(false);
    match tag {
        "DropStmt"
        | "DropdbStmt"
        | "DropRoleStmt"
        | "DropOwnedStmt"
        | "DropTableSpaceStmt"
        | "DropSubscriptionStmt"
        | "DropUserMappingStmt" => Some(K::Drop),
        "TruncateStmt" => Some(K::Truncate),
        "DeleteStmt" if absent(node.get("where_clause")) => Some(K::DeleteWithoutWhere),
        "UpdateStmt" if absent(node.get("where_clause")) => Some(K::UpdateWithoutWhere),
        "RenameStmt" | "ReassignOwnedStmt" => Some(K::Alter),
        t if t.starts_with("Alter") => Some(K::Alter),
        "ViewStmt" if replace => Some(K::Alter),
        "CreateFunctionStmt"
        | "CreateTrigStmt"
        | "RuleStmt"
        | "CreateEventTrigStmt"
        | "DefineStmt"
        | "CreateCastStmt"
        | "CreateOpClassStmt"
        | "CreateOpFamilyStmt"
        | "CreatePolicyStmt"
        | "CreateTransformStmt"
        | "CreatePlangStmt"
        | "CreateConversionStmt" => Some(K::Unclassified),
        "DoStmt" | "CallStmt" | "ExecuteStmt" | "MergeStmt" | "CopyStmt" | "LoadStmt" => Some(K::Unclassified),
        "VariableSetStmt" => set_kind(node),
        "FuncCall" if !safe_function(&name_parts(node.get("funcname"))) => Some(K::Unclassified),
        _ => None,
    }
}

/// Every node in the tree: an object key that names a node type (`{"DropStmt": {…}}`) adds
/// its kind; everything under it is walked too.
fn walk(v: &Value, kinds: &mut BTreeSet<StatementKind>) {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                if child.is_object() && key.starts_with(|c: char| c.is_ascii_uppercase()) {
                    if let Some(k) = kind_of(key, child) {
                        kinds.insert(k);
                    }
                    // A function being replaced is also an alteration.
                    if key == "CreateFunctionStmt" && child.get("replace").and_then(Value::as_bool) == Some(true) {
                        kinds.insert(StatementKind::Alter);
                    }
                }
                walk(child, kinds);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(i, kinds)),
        _ => {}
    }
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
