//! The query-string grammar, item by item, and its errors.

use crate::ast::*;
use crate::grammar::*;
use crate::Error;

fn col(name: &str) -> Field {
    Field::column(name)
}

fn field_item(name: &str) -> SelectItem {
    SelectItem::Field { field: col(name), alias: None, cast: None }
}

fn filter(value: &str) -> Filter {
    parse_filter(col("c"), value).unwrap_or_else(|e| panic!("{value}: {e:?}"))
}

fn cmp(op: CmpOp, value: &str) -> Operation {
    Operation::Cmp { op, quantifier: None, value: value.to_string() }
}

#[test]
fn select_reads_columns_star_aliases_and_casts() {
    let items = parse_select("*,id, full_name:name,price::text,n:data->a->>b::int").expect("parses");
    assert_eq!(items[0], SelectItem::Star);
    assert_eq!(items[1], field_item("id"));
    assert_eq!(items[2], SelectItem::Field { field: col("name"), alias: Some("full_name".into()), cast: None });
    assert_eq!(items[3], SelectItem::Field { field: col("price"), alias: None, cast: Some("text".into()) });
    let SelectItem::Field { field, alias, cast } = &items[4] else { panic!("a field") };
    assert_eq!(alias.as_deref(), Some("n"));
    assert_eq!(cast.as_deref(), Some("int"));
    assert_eq!(
        field.json_path,
        vec![JsonStep::Arrow(JsonKey::Key("a".into())), JsonStep::DoubleArrow(JsonKey::Key("b".into()))]
    );
}

#[test]
fn an_empty_select_means_star() {
    assert_eq!(parse_select("").expect("parses"), vec![SelectItem::Star]);
}

#[test]
fn json_paths_take_indexes_dashes_and_quoted_keys() {
    let items = parse_select("data->0->>-1,data->my-key,data->\"a.b\"").expect("parses");
    let paths: Vec<Vec<JsonStep>> = items
        .into_iter()
        .map(|i| match i {
            SelectItem::Field { field, .. } => field.json_path,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(paths[0], vec![JsonStep::Arrow(JsonKey::Index(0)), JsonStep::DoubleArrow(JsonKey::Index(-1))]);
    assert_eq!(paths[1], vec![JsonStep::Arrow(JsonKey::Key("my-key".into()))]);
    assert_eq!(paths[2], vec![JsonStep::Arrow(JsonKey::Key("a.b".into()))]);
}

#[test]
fn a_json_path_names_its_field_by_the_last_key() {
    let SelectItem::Field { field, .. } = &parse_select("data->a->>b").expect("parses")[0] else { panic!() };
    assert_eq!(field.default_alias(), "b");
    assert_eq!(col("x").default_alias(), "x");
}

#[test]
fn select_reads_embedded_resources_with_aliases_hints_and_inner() {
    let items = parse_select("id,orders(*),buyer:customers(name),orders!inner(id,items(qty)),users!posts_author_id_fkey(*),c:customers!cust!inner(id)").expect("parses");
    let embeds: Vec<&Embed> = items
        .iter()
        .filter_map(|i| match i {
            SelectItem::Embed(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(embeds.len(), 5);
    assert_eq!(embeds[0].name, "orders");
    assert_eq!(embeds[0].select, vec![SelectItem::Star]);
    assert_eq!(embeds[1].alias.as_deref(), Some("buyer"));
    assert_eq!(embeds[1].label(), "buyer");
    assert!(embeds[2].inner);
    assert!(matches!(&embeds[2].select[1], SelectItem::Embed(e) if e.name == "items"));
    assert_eq!(embeds[3].hint.as_deref(), Some("posts_author_id_fkey"));
    assert!(!embeds[3].inner);
    assert_eq!((embeds[4].hint.as_deref(), embeds[4].inner), (Some("cust"), true));
}

#[test]
fn quoted_names_may_hold_reserved_characters() {
    let items = parse_select(r#""a,b":"we\"ird(col)""#).expect("parses");
    assert_eq!(items[0], SelectItem::Field { field: col("we\"ird(col)"), alias: Some("a,b".into()), cast: None });
}

#[test]
fn select_errors_name_the_column() {
    let Err(Error::Parse { what, column, .. }) = parse_select("id,orders(id") else { panic!("an error") };
    assert_eq!((what, column), ("select parameter", 13));
    assert!(matches!(parse_select("id name(x"), Err(Error::Parse { .. })));
    assert!(matches!(parse_select("...orders(*)"), Err(Error::NotImplemented(_))));
    assert!(matches!(parse_select("amount.sum()"), Err(Error::NotImplemented(_))));
    assert!(matches!(parse_select("count()"), Err(Error::NotImplemented(_))));
}

#[test]
fn every_comparison_operator_parses() {
    for (text, op) in [
        ("eq", CmpOp::Eq),
        ("neq", CmpOp::Neq),
        ("gt", CmpOp::Gt),
        ("gte", CmpOp::Gte),
        ("lt", CmpOp::Lt),
        ("lte", CmpOp::Lte),
        ("like", CmpOp::Like),
        ("ilike", CmpOp::Ilike),
        ("match", CmpOp::Match),
        ("imatch", CmpOp::Imatch),
        ("cs", CmpOp::Contains),
        ("cd", CmpOp::ContainedIn),
        ("ov", CmpOp::Overlaps),
        ("sl", CmpOp::StrictlyLeft),
        ("sr", CmpOp::StrictlyRight),
        ("nxr", CmpOp::NotExtendsRight),
        ("nxl", CmpOp::NotExtendsLeft),
        ("adj", CmpOp::Adjacent),
        ("isdistinct", CmpOp::IsDistinct),
    ] {
        assert_eq!(filter(&format!("{text}.v.w")).operation, cmp(op, "v.w"), "{text}");
    }
}

#[test]
fn a_filter_value_is_everything_after_the_operator() {
    assert_eq!(filter("eq.a,b(c)\"d").operation, cmp(CmpOp::Eq, "a,b(c)\"d"));
    assert_eq!(filter("eq.").operation, cmp(CmpOp::Eq, ""));
}

#[test]
fn not_negates_and_quantifiers_apply() {
    let f = filter("not.like(any).{a*,b*}");
    assert!(f.negate);
    assert_eq!(
        f.operation,
        Operation::Cmp { op: CmpOp::Like, quantifier: Some(Quantifier::Any), value: "{a*,b*}".into() }
    );
    assert!(matches!(filter("gt(all).{1,2}").operation, Operation::Cmp { quantifier: Some(Quantifier::All), .. }));
}

#[test]
fn in_lists_accept_quoted_values_and_the_empty_list() {
    assert_eq!(filter("in.(1,2,3)").operation, Operation::In(vec!["1".into(), "2".into(), "3".into()]));
    assert_eq!(
        filter(r#"in.("a,b",c,"d\"e")"#).operation,
        Operation::In(vec!["a,b".into(), "c".into(), "d\"e".into()])
    );
    assert_eq!(filter("in.()").operation, Operation::In(vec![]));
    assert!(matches!(parse_filter(col("c"), "in.(1,2"), Err(Error::Parse { .. })));
}

#[test]
fn is_accepts_its_five_words_in_any_case() {
    for (text, v) in [
        ("null", IsValue::Null),
        ("NULL", IsValue::Null),
        ("not_null", IsValue::NotNull),
        ("true", IsValue::True),
        ("False", IsValue::False),
        ("unknown", IsValue::Unknown),
    ] {
        assert_eq!(filter(&format!("is.{text}")).operation, Operation::Is(v));
    }
    let Err(Error::Parse { details, .. }) = parse_filter(col("c"), "is.maybe") else { panic!() };
    assert!(details.contains("null, not_null, true, false, unknown"), "{details}");
}

#[test]
fn full_text_search_takes_a_language() {
    assert_eq!(
        filter("fts(english).cat & dog").operation,
        Operation::Fts { op: FtsOp::Fts, language: Some("english".into()), value: "cat & dog".into() }
    );
    for (text, op) in [("plfts", FtsOp::Plain), ("phfts", FtsOp::Phrase), ("wfts", FtsOp::Websearch)] {
        assert_eq!(filter(&format!("{text}.x")).operation, Operation::Fts { op, language: None, value: "x".into() });
    }
}

#[test]
fn unknown_operators_are_parse_errors_like_postgrest() {
    let Err(e) = parse_filter(col("c"), "gtx.5") else { panic!() };
    assert_eq!(e.code(), "PGRST100");
    assert_eq!(e.to_string(), "\"failed to parse filter (gtx.5)\" (line 1, column 1)");
    assert_eq!(e.body().details, serde_json::json!("unknown operator \"gtx\" expecting operator (eq, gt, ...)"));
    assert!(matches!(parse_filter(col("c"), "5"), Err(Error::Parse { column: 1, .. })));
    assert!(matches!(parse_filter(col("c"), "eq"), Err(Error::Parse { .. })));
}

#[test]
fn logic_trees_nest_and_negate() {
    let tree =
        parse_logic(true, false, "(a.eq.1,and(b.gt.2,c.not.is.null),not.or(d.like.*x*,e.in.(1,2)))").expect("parses");
    let LogicTree::Group { negate: false, or: true, children } = tree else { panic!() };
    assert_eq!(children.len(), 3);
    assert_eq!(
        children[0],
        LogicTree::Filter(Filter { field: col("a"), negate: false, operation: cmp(CmpOp::Eq, "1") })
    );
    let LogicTree::Group { or: false, children: and, .. } = &children[1] else { panic!() };
    assert_eq!(
        and[1],
        LogicTree::Filter(Filter { field: col("c"), negate: true, operation: Operation::Is(IsValue::Null) })
    );
    let LogicTree::Group { negate: true, or: true, children: or } = &children[2] else { panic!() };
    assert_eq!(
        or[1],
        LogicTree::Filter(Filter {
            field: col("e"),
            negate: false,
            operation: Operation::In(vec!["1".into(), "2".into()])
        })
    );
}

#[test]
fn logic_values_may_be_quoted_or_arrays() {
    let tree = parse_logic(false, true, r#"(a.eq."x,y)",b.cs.{1,2},c->>k.eq.v)"#).expect("parses");
    let LogicTree::Group { negate: true, or: false, children } = tree else { panic!() };
    assert_eq!(
        children[0],
        LogicTree::Filter(Filter { field: col("a"), negate: false, operation: cmp(CmpOp::Eq, "x,y)") })
    );
    assert_eq!(
        children[1],
        LogicTree::Filter(Filter { field: col("b"), negate: false, operation: cmp(CmpOp::Contains, "{1,2}") })
    );
    let LogicTree::Filter(f) = &children[2] else { panic!() };
    assert_eq!(f.field.json_path, vec![JsonStep::DoubleArrow(JsonKey::Key("k".into()))]);
}

#[test]
fn logic_tree_errors() {
    assert!(matches!(parse_logic(true, false, "a.eq.1"), Err(Error::Parse { what: "logic tree", .. })));
    assert!(matches!(parse_logic(true, false, "(a.eq.1"), Err(Error::Parse { .. })));
    assert!(matches!(parse_logic(true, false, "(a.nope.1)"), Err(Error::Parse { .. })));
}

#[test]
fn order_reads_directions_and_nulls() {
    let terms = parse_order("a.desc.nullslast,b,c.asc,d.nullsfirst,data->x.desc").expect("parses");
    assert_eq!(terms[0], OrderTerm { field: col("a"), direction: Some(Direction::Desc), nulls: Some(Nulls::Last) });
    assert_eq!(terms[1], OrderTerm { field: col("b"), direction: None, nulls: None });
    assert_eq!(terms[2].direction, Some(Direction::Asc));
    assert_eq!(terms[3], OrderTerm { field: col("d"), direction: None, nulls: Some(Nulls::First) });
    assert_eq!(terms[4].field.json_path, vec![JsonStep::Arrow(JsonKey::Key("x".into()))]);
    assert!(matches!(parse_order("a.sideways"), Err(Error::Parse { what: "order", .. })));
    assert!(matches!(parse_order("orders(amount).desc"), Err(Error::NotImplemented(_))));
}

#[test]
fn column_lists_accept_quotes_and_spaces() {
    assert_eq!(
        parse_columns("columns parameter", r#""id", name ,"a,b""#).expect("parses"),
        vec!["id".to_string(), "name".into(), "a,b".into()]
    );
    assert!(matches!(parse_columns("on_conflict parameter", "a,,b"), Err(Error::Parse { .. })));
}

#[test]
fn keys_split_into_embed_path_and_field() {
    assert_eq!(parse_key("amount").expect("parses"), (vec![], col("amount")));
    assert_eq!(parse_key("orders.amount").expect("parses"), (vec!["orders".to_string()], col("amount")));
    let (path, field) = parse_key("orders.items.data->>k").expect("parses");
    assert_eq!(path, vec!["orders".to_string(), "items".into()]);
    assert_eq!(field.json_path.len(), 1);
}
