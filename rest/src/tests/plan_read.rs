//! Reads: the SQL for representative requests, checked against the schema cache.

use super::fixtures::{planned, try_plan, HOSTILE};
use crate::shape::Action;
use crate::sql::ident;

fn p(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn a_plain_read_selects_columns_into_json_with_one_statement() {
    let plan = planned("GET", "customers", "select=id,name", &[], "");
    assert_eq!(
        plan.sql,
        "WITH pgrst_source AS (SELECT \"pgrst_0\".\"id\" AS \"id\", \"pgrst_0\".\"name\" AS \"name\" \
         FROM \"public\".\"customers\" AS \"pgrst_0\") \
         SELECT (NULL)::pg_catalog.int8 AS total_count, pg_catalog.count(*) AS page_total, \
         coalesce(pg_catalog.json_agg(_t), '[]'::pg_catalog.json)::pg_catalog.text AS body FROM pgrst_source AS _t"
    );
    assert!(plan.params.is_empty());
    assert_eq!(plan.shape.action, Action::Read);
    assert!(plan.shape.read_only && plan.shape.returns_body && !plan.shape.single);
}

#[test]
fn filters_on_builtin_types_use_pg_catalog_operators_and_parameters() {
    let plan = planned("GET", "orders", "amount=gte.10&status=neq.paid&id=in.(1,2)&note=is.null", &[], "");
    assert!(plan.sql.contains("(\"pgrst_0\".\"amount\" OPERATOR(pg_catalog.>=) $1)"), "{}", plan.sql);
    assert!(plan.sql.contains("(\"pgrst_0\".\"status\" OPERATOR(pg_catalog.<>) $2)"));
    assert!(plan.sql.contains("(\"pgrst_0\".\"id\" OPERATOR(pg_catalog.=) ANY ($3))"));
    assert!(plan.sql.contains("(\"pgrst_0\".\"note\" IS NULL)"));
    assert_eq!(plan.params, vec![p("10"), p("paid"), p("{\"1\",\"2\"}")]);
}

#[test]
fn filters_on_tenant_types_keep_the_types_own_operators() {
    let plan = planned("GET", "customers", "email=eq.ANN@x.io", &[], "");
    assert!(plan.sql.contains("(\"pgrst_0\".\"email\" = $1)"), "{}", plan.sql);
}

#[test]
fn like_turns_stars_into_percent_and_not_negates() {
    let plan = planned("GET", "customers", "name=not.ilike.*an*&or=(name.like.A*,id.eq.3)", &[], "");
    assert!(plan.sql.contains("NOT (\"pgrst_0\".\"name\" OPERATOR(pg_catalog.~~*) $1)"), "{}", plan.sql);
    assert!(plan.sql.contains(
        "((\"pgrst_0\".\"name\" OPERATOR(pg_catalog.~~) $2) OR (\"pgrst_0\".\"id\" OPERATOR(pg_catalog.=) $3))"
    ));
    assert_eq!(plan.params, vec![p("%an%"), p("A%"), p("3")]);
}

#[test]
fn quantified_and_distinct_comparisons() {
    let plan = planned("GET", "customers", "name=like(all).{A*,*n}&id=isdistinct.2", &[], "");
    assert!(plan.sql.contains("OPERATOR(pg_catalog.~~) ALL ($1)"), "{}", plan.sql);
    assert!(plan.sql.contains("(\"pgrst_0\".\"id\" IS NULL OR \"pgrst_0\".\"id\" OPERATOR(pg_catalog.<>) $2)"));
    assert_eq!(plan.params[0], p("{A%,%n}"));
}

#[test]
fn full_text_search_wraps_text_columns_and_takes_a_language() {
    let plan = planned("GET", "customers", "name=wfts(english).quick fox&doc=fts.cat", &[], "");
    assert!(
        plan.sql.contains("pg_catalog.to_tsvector($1::pg_catalog.regconfig, \"pgrst_0\".\"name\") OPERATOR(pg_catalog.@@) pg_catalog.websearch_to_tsquery($1::pg_catalog.regconfig, $2::pg_catalog.text)"),
        "{}",
        plan.sql
    );
    assert!(plan
        .sql
        .contains("\"pgrst_0\".\"doc\" OPERATOR(pg_catalog.@@) pg_catalog.to_tsquery($3::pg_catalog.text)"));
    assert_eq!(plan.params, vec![p("english"), p("quick fox"), p("cat")]);
}

#[test]
fn json_paths_are_parameters_with_pinned_arrows() {
    let plan = planned("GET", "customers", "select=b:data->a->>b,first:tags->0&data->>n=eq.1", &[], "");
    assert!(
        plan.sql.contains("((\"pgrst_0\".\"data\" OPERATOR(pg_catalog.->) $1::pg_catalog.text) OPERATOR(pg_catalog.->>) $2::pg_catalog.text) AS \"b\""),
        "{}",
        plan.sql
    );
    assert!(plan.sql.contains(
        "(pg_catalog.to_jsonb(\"pgrst_0\".\"tags\") OPERATOR(pg_catalog.->) $3::pg_catalog.int4) AS \"first\""
    ));
    assert_eq!(plan.params[..3], [p("a"), p("b"), p("0")]);
}

#[test]
fn casts_pin_builtin_types_and_quote_others() {
    let plan = planned("GET", "customers", "select=id::text,n:id::integer,e:email::mytype", &[], "");
    assert!(plan.sql.contains("\"pgrst_0\".\"id\"::pg_catalog.\"text\" AS \"id\""), "{}", plan.sql);
    assert!(plan.sql.contains("::pg_catalog.\"int4\" AS \"n\""));
    assert!(plan.sql.contains("\"pgrst_0\".\"email\"::\"mytype\" AS \"e\""));
}

#[test]
fn order_limit_offset_and_counts() {
    let plan =
        planned("GET", "orders", "order=amount.desc.nullslast,id&limit=10&offset=20", &[("Prefer", "count=exact")], "");
    assert!(
        plan.sql.contains(" ORDER BY \"pgrst_0\".\"amount\" DESC NULLS LAST, \"pgrst_0\".\"id\" LIMIT $1 OFFSET $2)"),
        "{}",
        plan.sql
    );
    assert!(plan.sql.contains(
        "SELECT (SELECT pg_catalog.count(*) FROM \"public\".\"orders\" AS \"pgrst_0\")::pg_catalog.int8 AS total_count"
    ));
    assert_eq!(plan.params, vec![p("10"), p("20")]);
    assert!(plan.shape.counted);
    assert_eq!(plan.shape.offset, 20);
    assert_eq!(plan.shape.preference_applied, vec!["count=exact".to_string()]);
}

#[test]
fn an_unlimited_count_reuses_the_page_count() {
    let plan = planned("GET", "orders", "status=eq.x", &[("Prefer", "count=exact")], "");
    assert!(plan.sql.contains("SELECT (pg_catalog.count(*))::pg_catalog.int8 AS total_count"), "{}", plan.sql);
}

#[test]
fn one_to_many_embeds_aggregate_an_array() {
    let plan = planned(
        "GET",
        "customers",
        "select=id,orders(id,amount)&orders.amount=gt.5&orders.order=id.desc&orders.limit=3",
        &[],
        "",
    );
    assert!(
        plan.sql.contains(
            "coalesce((SELECT pg_catalog.json_agg(pgrst_e) FROM (SELECT \"pgrst_1\".\"id\" AS \"id\", \"pgrst_1\".\"amount\" AS \"amount\" \
             FROM \"public\".\"orders\" AS \"pgrst_1\" WHERE \"pgrst_1\".\"customer_id\" OPERATOR(pg_catalog.=) \"pgrst_0\".\"id\" \
             AND (\"pgrst_1\".\"amount\" OPERATOR(pg_catalog.>) $1) ORDER BY \"pgrst_1\".\"id\" DESC LIMIT $2) AS pgrst_e), '[]'::pg_catalog.json) AS \"orders\""
        ),
        "{}",
        plan.sql
    );
    assert_eq!(plan.params, vec![p("5"), p("3")]);
}

#[test]
fn many_to_one_and_one_to_one_embeds_are_objects() {
    let plan = planned("GET", "orders", "select=id,buyer:customers(name)", &[], "");
    assert!(
        plan.sql.contains("(SELECT pg_catalog.row_to_json(pgrst_e) FROM (SELECT \"pgrst_1\".\"name\" AS \"name\" FROM \"public\".\"customers\" AS \"pgrst_1\" WHERE \"pgrst_1\".\"id\" OPERATOR(pg_catalog.=) \"pgrst_0\".\"customer_id\") AS pgrst_e) AS \"buyer\""),
        "{}",
        plan.sql
    );
    let one = planned("GET", "customers", "select=id,profiles(bio)", &[], "");
    assert!(one.sql.contains("pg_catalog.row_to_json(pgrst_e)"), "{}", one.sql);
}

#[test]
fn embeds_resolve_by_foreign_key_or_column_name() {
    let by_fk = planned("GET", "orders", "select=id,orders_customer_id_fkey(name)", &[], "");
    assert!(by_fk.sql.contains("FROM \"public\".\"customers\""));
    let by_column = planned("GET", "orders", "select=id,c:customer_id(name)", &[], "");
    assert!(by_column.sql.contains("FROM \"public\".\"customers\""));
}

#[test]
fn inner_embeds_filter_parents_with_exists() {
    let plan = planned(
        "GET",
        "customers",
        "select=id,orders!inner(id)&orders.status=eq.new",
        &[("Prefer", "count=exact")],
        "",
    );
    let exists = "EXISTS (SELECT 1 FROM \"public\".\"orders\" AS \"pgrst_1\" WHERE \"pgrst_1\".\"customer_id\" OPERATOR(pg_catalog.=) \"pgrst_0\".\"id\" AND (\"pgrst_1\".\"status\" OPERATOR(pg_catalog.=) $1))";
    assert_eq!(plan.sql.matches(exists).count(), 1, "{}", plan.sql);
    assert!(plan.sql.contains(&format!("FROM \"public\".\"customers\" AS \"pgrst_0\" WHERE {exists}")));
}

#[test]
fn null_filters_on_embeds_test_existence() {
    let none = planned("GET", "customers", "select=id,orders(id)&orders=is.null", &[], "");
    assert!(none.sql.contains("WHERE NOT EXISTS (SELECT 1 FROM \"public\".\"orders\""), "{}", none.sql);
    let some = planned("GET", "customers", "select=id,orders(id)&orders=not.is.null", &[], "");
    assert!(some.sql.contains("WHERE EXISTS (SELECT 1 FROM \"public\".\"orders\""), "{}", some.sql);
    let err = try_plan("GET", "customers", "select=id,orders(id)&orders=eq.1", &[], "").expect_err("bad op");
    assert_eq!((err.code(), err.status()), ("PGRST120", 400));
}

#[test]
fn nested_embeds_go_two_levels_deep() {
    let plan = planned("GET", "customers", "select=id,orders(id,items(qty))&orders.items.qty=gt.1", &[], "");
    assert!(plan.sql.contains("FROM \"public\".\"items\" AS \"pgrst_2\" WHERE \"pgrst_2\".\"order_id\" OPERATOR(pg_catalog.=) \"pgrst_1\".\"id\" AND (\"pgrst_2\".\"qty\" OPERATOR(pg_catalog.>) $1)"), "{}", plan.sql);
}

#[test]
fn a_single_object_takes_the_first_element() {
    let plan = planned("GET", "customers", "id=eq.1", &[("Accept", "application/vnd.pgrst.object+json")], "");
    assert!(plan.sql.contains(
        "coalesce(pg_catalog.json_agg(_t) OPERATOR(pg_catalog.->) 0, 'null'::pg_catalog.json)::pg_catalog.text AS body"
    ));
    assert!(plan.shape.single);
}

#[test]
fn head_builds_no_body() {
    let plan = planned("HEAD", "customers", "", &[], "");
    assert!(plan.sql.contains("NULL::pg_catalog.text AS body"));
    assert!(plan.shape.head);
}

#[test]
fn hostile_names_are_quoted_once_they_are_known() {
    let q = format!("select={0}&{0}=eq.x&order={0}", super::fixtures::pairs_escape(HOSTILE));
    let plan = planned("GET", HOSTILE, &q, &[], "");
    let quoted = ident(HOSTILE);
    assert!(plan.sql.contains(&format!("FROM \"public\".{quoted} AS \"pgrst_0\"")), "{}", plan.sql);
    assert!(plan.sql.contains(&format!("\"pgrst_0\".{quoted} AS {quoted}")));
    assert!(!plan.sql.replace(&quoted, "").contains("drop table"), "{}", plan.sql);
    assert_eq!(plan.params, vec![p("x")]);
}

#[test]
fn unknown_names_are_postgrest_errors() {
    let table = try_plan("GET", "nope", "", &[], "").expect_err("no table");
    assert_eq!((table.code(), table.status()), ("PGRST205", 404));
    assert_eq!(table.to_string(), "Could not find the table 'public.nope' in the schema cache");
    let column = try_plan("GET", "customers", "select=id,secret", &[], "").expect_err("no column");
    assert_eq!((column.code(), column.status()), ("42703", 400));
    assert_eq!(column.to_string(), "column customers.secret does not exist");
    for q in ["secret=eq.1", "order=secret", "or=(secret.eq.1)", "select=orders(secret)"] {
        assert_eq!(try_plan("GET", "customers", q, &[], "").expect_err(q).code(), "42703", "{q}");
    }
    let other_schema = try_plan("GET", "customers", "", &[("Accept-Profile", "api")], "").expect_err("api");
    assert_eq!(other_schema.to_string(), "Could not find the table 'api.customers' in the schema cache");
}

#[test]
fn unknown_or_ambiguous_relationships_are_pgrst200_and_201() {
    let none = try_plan("GET", "customers", "select=id,users(*)", &[], "").expect_err("unrelated");
    assert_eq!((none.code(), none.status()), ("PGRST200", 400));
    assert_eq!(none.to_string(), "Could not find a relationship between 'customers' and 'users' in the schema cache");
    let hinted = try_plan("GET", "orders", "select=id,customers!nope(*)", &[], "").expect_err("bad hint");
    assert!(hinted.body().details.as_str().is_some_and(|d| d.contains("using the hint 'nope'")));
    let two = try_plan("GET", "posts", "select=id,users(*)", &[], "").expect_err("two fks");
    assert_eq!((two.code(), two.status()), ("PGRST201", 300));
    let details = two.body().details;
    assert_eq!(details.as_array().map(Vec::len), Some(2));
    assert_eq!(details[0]["cardinality"], "many-to-one");
    assert!(two.body().hint.as_str().is_some_and(|h| h.contains("'users!posts_author_id_fkey'")));
    let chosen = planned(
        "GET",
        "posts",
        "select=id,author:users!author_id(name),editor:users!posts_editor_id_fkey(name)",
        &[],
        "",
    );
    assert!(
        chosen.sql.contains("\"pgrst_1\".\"id\" OPERATOR(pg_catalog.=) \"pgrst_0\".\"author_id\""),
        "{}",
        chosen.sql
    );
    assert!(chosen.sql.contains("\"pgrst_2\".\"id\" OPERATOR(pg_catalog.=) \"pgrst_0\".\"editor_id\""));
}

#[test]
fn filters_on_resources_not_embedded_are_pgrst108() {
    for q in ["orders.amount=gt.1", "orders.order=id", "orders.limit=1", "orders.or=(id.eq.1)"] {
        let err = try_plan("GET", "customers", q, &[], "").expect_err(q);
        assert_eq!((err.code(), err.status()), ("PGRST108", 400), "{q}");
    }
}

#[test]
fn self_references_need_a_hint() {
    let err = try_plan("GET", "employees", "select=id,employees(id)", &[], "").expect_err("both ways");
    assert_eq!(err.code(), "PGRST201");
}
