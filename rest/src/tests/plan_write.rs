//! Inserts, upserts, updates, deletes and function calls.

use super::fixtures::{planned, try_plan};
use crate::shape::Action;

fn p(v: &str) -> Option<String> {
    Some(v.to_string())
}

const REPR: (&str, &str) = ("Prefer", "return=representation");

#[test]
fn an_insert_passes_the_body_untouched_and_names_only_its_keys() {
    let body = r#"{"customer_id": 2, "amount": 12345678901234567.89}"#;
    let plan = planned("POST", "orders", "", &[], body);
    assert_eq!(plan.params, vec![p(body)]);
    assert!(
        plan.sql.starts_with(
            "WITH pgrst_mutation AS (INSERT INTO \"public\".\"orders\" AS \"pgrst_0\" (\"amount\", \"customer_id\") \
             SELECT pgrst_b.\"amount\", pgrst_b.\"customer_id\" \
             FROM pg_catalog.json_array_elements(pg_catalog.json_build_array($1::pg_catalog.json)) WITH ORDINALITY AS pgrst_r(v, i) \
             CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::\"public\".\"orders\", pgrst_r.v) AS pgrst_b \
             ORDER BY pgrst_r.i RETURNING \"pgrst_0\".*), pgrst_source AS (SELECT 1 FROM pgrst_mutation)"
        ),
        "{}",
        plan.sql
    );
    assert_eq!(plan.shape.action, Action::Insert);
    assert!(!plan.shape.returns_body && !plan.shape.read_only);
    assert!(plan.sql.contains("NULL::pg_catalog.text AS body"));
}

#[test]
fn a_bulk_insert_with_representation_selects_from_the_returned_rows() {
    let plan = planned("POST", "orders", "select=id,buyer:customers(name)", &[REPR], r#"[{"id":1},{"id":2}]"#);
    assert!(plan.sql.contains("pg_catalog.json_array_elements($1::pg_catalog.json)"), "{}", plan.sql);
    assert!(
        plan.sql
            .contains("pgrst_source AS (SELECT \"pgrst_0\".\"id\" AS \"id\", (SELECT pg_catalog.row_to_json(pgrst_e)"),
        "{}",
        plan.sql
    );
    assert!(plan.sql.contains("FROM pgrst_mutation AS \"pgrst_0\")"));
    assert!(plan.shape.returns_body);
    assert_eq!(plan.shape.preference_applied, vec!["return=representation".to_string()]);
}

#[test]
fn bulk_keys_must_match_unless_columns_are_given() {
    let err = try_plan("POST", "orders", "", &[], r#"[{"id":1},{"amount":2}]"#).expect_err("mismatch");
    assert_eq!((err.code(), err.status()), ("PGRST102", 400));
    assert_eq!(err.to_string(), "All object keys must match");
    let plan = planned("POST", "orders", "columns=\"id\",\"amount\"", &[], r#"[{"id":1},{"amount":2,"ignored":3}]"#);
    assert!(plan.sql.contains("(\"id\", \"amount\") SELECT pgrst_b.\"id\", pgrst_b.\"amount\""), "{}", plan.sql);
}

#[test]
fn missing_default_splits_a_bulk_insert_by_the_keys_each_row_has() {
    let plan = planned(
        "POST",
        "orders",
        "columns=id,amount,status",
        &[("Prefer", "missing=default")],
        r#"[{"id":1,"amount":2},{"id":2,"amount":3,"status":"x"},{"id":3,"amount":4}]"#,
    );
    assert!(
        plan.sql
            .contains("pgrst_mutation_0 AS (INSERT INTO \"public\".\"orders\" AS \"pgrst_0\" (\"id\", \"amount\") "),
        "{}",
        plan.sql
    );
    assert!(plan.sql.contains("WHERE pgrst_r.i OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.int8[])"));
    assert!(plan.sql.contains(
        "pgrst_mutation_1 AS (INSERT INTO \"public\".\"orders\" AS \"pgrst_0\" (\"id\", \"amount\", \"status\") "
    ));
    assert!(plan
        .sql
        .contains("pgrst_mutation AS (SELECT * FROM pgrst_mutation_0 UNION ALL SELECT * FROM pgrst_mutation_1)"));
    assert_eq!(plan.params[1..], [p("{\"1\",\"3\"}"), p("{\"2\"}")]);
    assert_eq!(plan.shape.preference_applied, vec!["missing=default".to_string()]);
}

#[test]
fn empty_objects_insert_default_rows() {
    let plan = planned("POST", "orders", "", &[], "{}");
    assert!(plan.sql.contains("INSERT INTO \"public\".\"orders\" AS \"pgrst_0\" SELECT  FROM"), "{}", plan.sql);
}

#[test]
fn upserts_conflict_on_the_primary_key_or_on_conflict() {
    let merge = planned("POST", "orders", "", &[("Prefer", "resolution=merge-duplicates")], r#"{"id":1,"amount":2}"#);
    assert!(
        merge.sql.contains(
            " ON CONFLICT (\"id\") DO UPDATE SET \"amount\" = EXCLUDED.\"amount\", \"id\" = EXCLUDED.\"id\" RETURNING"
        ),
        "{}",
        merge.sql
    );
    assert_eq!(merge.shape.preference_applied, vec!["resolution=merge-duplicates".to_string()]);
    let ignore = planned(
        "POST",
        "orders",
        "on_conflict=customer_id,status",
        &[("Prefer", "resolution=ignore-duplicates")],
        r#"{"id":1}"#,
    );
    assert!(ignore.sql.contains(" ON CONFLICT (\"customer_id\", \"status\") DO NOTHING RETURNING"), "{}", ignore.sql);
    let no_key = planned("POST", "logs", "", &[("Prefer", "resolution=merge-duplicates")], r#"{"msg":"m"}"#);
    assert!(!no_key.sql.contains("ON CONFLICT"));
    assert!(no_key.shape.preference_applied.is_empty());
    let bad = try_plan("POST", "orders", "on_conflict=nope", &[("Prefer", "resolution=merge-duplicates")], "{}")
        .expect_err("bad key");
    assert_eq!(bad.code(), "42703");
}

#[test]
fn unknown_body_keys_and_columns_are_pgrst204() {
    let err = try_plan("POST", "orders", "", &[], r#"{"nope":1}"#).expect_err("bad key");
    assert_eq!((err.code(), err.status()), ("PGRST204", 400));
    assert_eq!(err.to_string(), "Could not find the 'nope' column of 'orders' in the schema cache");
    let err = try_plan("POST", "orders", "columns=id,nope", &[], r#"{"id":1}"#).expect_err("bad column");
    assert_eq!(err.code(), "PGRST204");
    let err = try_plan("PATCH", "orders", "", &[], r#"{"nope":1}"#).expect_err("bad key");
    assert_eq!(err.code(), "PGRST204");
}

#[test]
fn bodies_must_be_json_of_the_right_shape() {
    for (method, body) in [("POST", ""), ("POST", "{"), ("POST", "42"), ("POST", "[1]"), ("PATCH", "[]"), ("PATCH", "")]
    {
        let err = try_plan(method, "orders", "", &[], body).expect_err(body);
        assert_eq!((err.code(), err.status()), ("PGRST102", 400), "{method} {body}");
    }
}

#[test]
fn an_update_sets_the_given_keys_where_the_filters_match() {
    let plan = planned("PATCH", "orders", "status=eq.paid&select=id,status", &[REPR], r#"{"status":"done"}"#);
    assert!(
        plan.sql.starts_with(
            "WITH pgrst_mutation AS (UPDATE \"public\".\"orders\" AS \"pgrst_0\" SET \"status\" = pgrst_b.\"status\" \
             FROM pg_catalog.json_populate_record(NULL::\"public\".\"orders\", $1::pg_catalog.json) AS pgrst_b \
             WHERE (\"pgrst_0\".\"status\" OPERATOR(pg_catalog.=) $2) RETURNING \"pgrst_0\".*)"
        ),
        "{}",
        plan.sql
    );
    // The representation is not filtered again: the new status no longer matches.
    assert!(plan.sql.contains("pgrst_source AS (SELECT \"pgrst_0\".\"id\" AS \"id\", \"pgrst_0\".\"status\" AS \"status\" FROM pgrst_mutation AS \"pgrst_0\")"));
    assert_eq!(plan.params, vec![p(r#"{"status":"done"}"#), p("paid")]);
    assert_eq!(plan.shape.action, Action::Update);
}

#[test]
fn an_empty_update_changes_nothing() {
    let plan = planned("PATCH", "orders", "id=eq.1", &[], "{}");
    assert!(plan.sql.starts_with(
        "WITH pgrst_mutation AS (SELECT \"pgrst_0\".* FROM \"public\".\"orders\" AS \"pgrst_0\" WHERE false)"
    ));
}

#[test]
fn a_delete_filters_and_counts() {
    let plan = planned(
        "DELETE",
        "orders",
        "id=in.(1,2)&or=(status.eq.x,note.is.null)",
        &[("Prefer", "count=exact, return=minimal")],
        "",
    );
    assert!(plan.sql.starts_with("WITH pgrst_mutation AS (DELETE FROM \"public\".\"orders\" AS \"pgrst_0\" WHERE (\"pgrst_0\".\"id\" OPERATOR(pg_catalog.=) ANY ($1)) AND ((\"pgrst_0\".\"status\" OPERATOR(pg_catalog.=) $2) OR (\"pgrst_0\".\"note\" IS NULL)) RETURNING \"pgrst_0\".*)"), "{}", plan.sql);
    assert!(plan.sql.contains("SELECT (pg_catalog.count(*))::pg_catalog.int8 AS total_count"));
    assert_eq!(plan.shape.preference_applied, vec!["return=minimal".to_string(), "count=exact".into()]);
}

#[test]
fn mutations_refuse_limits_and_put() {
    assert_eq!(try_plan("DELETE", "orders", "limit=1", &[], "").expect_err("limit").code(), "PGRST127");
    let put = try_plan("PUT", "orders", "id=eq.1", &[], "{}").expect_err("put");
    assert_eq!((put.code(), put.status()), ("PGRST117", 405));
    let embedded = try_plan("DELETE", "customers", "orders.id=eq.1", &[], "").expect_err("no select tree");
    assert_eq!(embedded.code(), "PGRST108");
}

#[test]
fn rollback_is_carried_to_the_caller() {
    let plan = planned("DELETE", "orders", "", &[("Prefer", "tx=rollback")], "");
    assert!(plan.shape.rollback);
    assert_eq!(plan.shape.preference_applied, vec!["tx=rollback".to_string()]);
}

#[test]
fn a_scalar_function_answers_with_the_bare_value() {
    let plan = planned("POST", "rpc/add", "", &[], r#"{"a": 2, "b": 40}"#);
    assert_eq!(
        plan.sql,
        "WITH pgrst_call AS (SELECT * FROM \"public\".\"add\"(\"a\" := $1, \"b\" := $2) AS pgrst_f(pgrst_scalar)), \
         pgrst_source AS (SELECT \"pgrst_0\".pgrst_scalar FROM pgrst_call AS \"pgrst_0\") \
         SELECT (NULL)::pg_catalog.int8 AS total_count, pg_catalog.count(*) AS page_total, \
         coalesce(pg_catalog.json_agg(_t.pgrst_scalar) OPERATOR(pg_catalog.->) 0, 'null'::pg_catalog.json)::pg_catalog.text AS body \
         FROM pgrst_source AS _t"
    );
    assert_eq!(plan.params, vec![p("2"), p("40")]);
    assert_eq!(plan.shape.action, Action::Call { void: false });
    assert!(!plan.shape.read_only);
    let get = planned("GET", "rpc/add", "a=5", &[], "");
    assert_eq!(get.params, vec![p("5")]);
    assert!(get.shape.read_only);
}

#[test]
fn argument_values_become_text_input() {
    let plan = planned("POST", "rpc/tags", "", &[], r#"{"ids": [1, 2.50, null]}"#);
    assert_eq!(plan.params, vec![p("{\"1\",\"2.50\",NULL}")]);
    let strings = planned("POST", "rpc/add", "", &[], r#"{"a": "it's \"quoted\""}"#);
    assert_eq!(strings.params, vec![p("it's \"quoted\"")]);
    let null = planned("POST", "rpc/add", "", &[], r#"{"a": null}"#);
    assert_eq!(null.params, vec![None]);
}

#[test]
fn set_returning_functions_take_select_filters_order_and_counts() {
    let plan = planned(
        "POST",
        "rpc/big_orders",
        "select=id,amount&amount=lt.50&order=amount.desc&limit=5",
        &[("Prefer", "count=exact")],
        r#"{"min":5}"#,
    );
    assert!(plan.sql.starts_with("WITH pgrst_call AS (SELECT * FROM \"public\".\"big_orders\"(\"min\" := $1) AS pgrst_f), pgrst_source AS (SELECT \"pgrst_0\".\"id\" AS \"id\", \"pgrst_0\".\"amount\" AS \"amount\" FROM pgrst_call AS \"pgrst_0\" WHERE (\"pgrst_0\".\"amount\" < $2) ORDER BY \"pgrst_0\".\"amount\" DESC LIMIT $3)"), "{}", plan.sql);
    assert!(plan.sql.contains("SELECT (SELECT pg_catalog.count(*) FROM pgrst_call AS \"pgrst_0\" WHERE (\"pgrst_0\".\"amount\" < $2))::pg_catalog.int8"));
    assert!(plan.sql.contains("coalesce(pg_catalog.json_agg(_t), '[]'::pg_catalog.json)"));
    let scalars = planned("GET", "rpc/tags", "ids={1,3}", &[], "");
    assert!(scalars.sql.contains("coalesce(pg_catalog.json_agg(_t.pgrst_scalar), '[]'::pg_catalog.json)"));
    let err = try_plan("POST", "rpc/big_orders", "select=nope", &[], "{}").expect_err("no column");
    assert_eq!(err.code(), "42703");
}

#[test]
fn void_and_single_row_functions() {
    let void = planned("POST", "rpc/ping", "", &[], "");
    assert_eq!(void.shape.action, Action::Call { void: true });
    assert!(void.sql.contains("NULL::pg_catalog.text AS body"));
    let row = planned("GET", "rpc/pair", "", &[], "");
    assert!(row.sql.contains("pg_catalog.json_agg(_t) OPERATOR(pg_catalog.->) 0"));
}

#[test]
fn functions_are_found_by_name_and_argument_names() {
    let none = try_plan("POST", "rpc/nope", "", &[], "{}").expect_err("missing");
    assert_eq!((none.code(), none.status()), ("PGRST202", 404));
    assert_eq!(none.to_string(), "Could not find the function public.nope() in the schema cache");
    let wrong = try_plan("POST", "rpc/add", "", &[], r#"{"a":1,"c":2}"#).expect_err("unknown argument");
    assert_eq!(wrong.code(), "PGRST202");
    assert_eq!(
        wrong.body().details,
        serde_json::json!(
            "Searched for the function public.add with parameters a, c, but no matches were found in the schema cache."
        )
    );
    let missing = try_plan("POST", "rpc/add", "", &[], r#"{"b":1}"#).expect_err("a has no default");
    assert_eq!(missing.code(), "PGRST202");
    let ambiguous = try_plan("POST", "rpc/over", "", &[], r#"{"x":1}"#).expect_err("overloaded");
    assert_eq!((ambiguous.code(), ambiguous.status()), ("PGRST203", 300));
    let method = try_plan("DELETE", "rpc/add", "", &[], "").expect_err("method");
    assert_eq!((method.code(), method.status()), ("PGRST101", 405));
    let body = try_plan("POST", "rpc/add", "", &[], "[1]").expect_err("body");
    assert_eq!(body.code(), "PGRST102");
}
