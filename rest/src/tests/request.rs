//! Reading a whole request: methods, paths, headers, and how query keys are sorted.

use super::fixtures::request;
use crate::ast::*;
use crate::*;

#[test]
fn paths_name_a_table_or_a_function() {
    assert_eq!(Target::from_path("todos"), Ok(Target::Table("todos".into())));
    assert_eq!(Target::from_path("/rpc/add_todo"), Ok(Target::Rpc("add_todo".into())));
    assert!(Target::from_path("").is_err());
    assert!(Target::from_path("a/b").is_err());
}

#[test]
fn methods_outside_postgrest_are_pgrst117() {
    assert_eq!(Method::parse("get"), Ok(Method::Get));
    let err = Method::parse("TRACE").expect_err("unsupported");
    assert_eq!((err.code(), err.status()), ("PGRST117", 405));
}

#[test]
fn prefer_headers_combine_across_repeats_and_commas() {
    let req = request(
        "POST",
        "orders",
        "",
        &[
            ("Prefer", "return=representation, count=planned"),
            ("prefer", "resolution=ignore-duplicates,missing=default"),
            ("Prefer", "tx=rollback, nonsense=1"),
        ],
    )
    .expect("parses");
    let p = &req.preferences;
    assert_eq!(p.representation, Some(Representation::Full));
    assert_eq!(p.count.as_deref(), Some("planned"));
    assert_eq!(p.resolution, Some(Resolution::IgnoreDuplicates));
    assert!(p.missing_default && p.rollback);
}

#[test]
fn prefer_accepts_every_postgrest_value() {
    let p = Preferences::parse(["return=minimal", "resolution=merge-duplicates", "count=estimated"]);
    assert_eq!(p.representation, Some(Representation::Minimal));
    assert_eq!(p.resolution, Some(Resolution::MergeDuplicates));
    assert_eq!(p.count.as_deref(), Some("estimated"));
    assert_eq!(Preferences::parse(["return=headers-only"]).representation, Some(Representation::HeadersOnly));
    assert_eq!(Preferences::parse(Vec::<&str>::new()), Preferences::default());
}

#[test]
fn accept_chooses_json_or_a_single_object() {
    assert_eq!(MediaType::negotiate(None), Ok(MediaType::Json));
    assert_eq!(MediaType::negotiate(Some("*/*")), Ok(MediaType::Json));
    assert_eq!(MediaType::negotiate(Some("application/vnd.pgrst.object+json")), Ok(MediaType::SingleObject));
    assert_eq!(
        MediaType::negotiate(Some("application/vnd.pgrst.object+json;nulls=stripped")),
        Ok(MediaType::SingleObject)
    );
    assert_eq!(
        MediaType::negotiate(Some("text/html;q=0.9, application/vnd.pgrst.object+json;q=0.5, application/json;q=0.8")),
        Ok(MediaType::Json)
    );
    let err = MediaType::negotiate(Some("text/csv")).expect_err("unsupported");
    assert_eq!((err.code(), err.status()), ("PGRST107", 406));
}

#[test]
fn profiles_choose_among_exposed_schemas() {
    let read = request("GET", "t", "", &[("Accept-Profile", "api")]).expect("parses");
    assert_eq!((read.schema.as_str(), read.profile_negotiated), ("api", true));
    let default = request("GET", "t", "", &[("Content-Profile", "api")]).expect("parses");
    assert_eq!((default.schema.as_str(), default.profile_negotiated), ("public", false));
    let write = request("POST", "t", "", &[("Content-Profile", "api")]).expect("parses");
    assert_eq!(write.schema, "api");
    let err = request("GET", "t", "", &[("Accept-Profile", "secret")]).expect_err("not exposed");
    assert_eq!((err.code(), err.status()), ("PGRST106", 406));
    assert_eq!(err.body().hint, serde_json::json!("Only the following schemas are exposed: public, api"));
}

#[test]
fn keys_sort_into_filters_logic_order_and_windows() {
    let req = request(
        "GET",
        "customers",
        "select=id,orders(id)&id=gt.1&orders.amount=lt.5&or=(a.eq.1,b.eq.2)&orders.not.and=(c.eq.3)&order=id.desc&orders.order=amount&limit=10&offset=20&orders.limit=2&on_conflict=id&columns=a,b",
        &[],
    )
    .expect("parses");
    assert_eq!(req.filters.len(), 2);
    assert_eq!(req.filters[0].0, Vec::<String>::new());
    assert_eq!(req.filters[1].0, vec!["orders".to_string()]);
    assert_eq!(req.logic.len(), 2);
    assert!(
        matches!(&req.logic[1], (p, LogicTree::Group { negate: true, or: false, .. }) if p == &vec!["orders".to_string()])
    );
    assert_eq!(req.order.len(), 2);
    assert_eq!(req.root_window(), Window { offset: 20, limit: Some(10) });
    assert_eq!(req.window(&["orders".to_string()]), Window { offset: 0, limit: Some(2) });
    assert_eq!(req.on_conflict, Some(vec!["id".to_string()]));
    assert_eq!(req.columns, Some(vec!["a".to_string(), "b".into()]));
}

#[test]
fn bad_limits_are_parse_errors() {
    for q in ["limit=ten", "offset=-1", "orders.limit=1.5"] {
        let err = request("GET", "t", q, &[]).expect_err(q);
        assert_eq!(err.code(), "PGRST100", "{q}");
    }
}

#[test]
fn the_range_header_folds_into_the_root_window_on_reads() {
    let req = request("GET", "t", "", &[("Range", "0-9"), ("Range-Unit", "items")]).expect("parses");
    assert_eq!(req.root_window(), Window { offset: 0, limit: Some(10) });
    let both = request("GET", "t", "limit=5&offset=2", &[("Range", "0-9")]).expect("parses");
    assert_eq!(both.root_window(), Window { offset: 2, limit: Some(5) });
    let open = request("GET", "t", "", &[("Range", "5-")]).expect("parses");
    assert_eq!(open.root_window(), Window { offset: 5, limit: None });
    let ignored = request("PATCH", "t", "", &[("Range", "0-9")]).expect("parses");
    assert_eq!(ignored.root_window(), Window::default());
    let malformed = request("GET", "t", "", &[("Range", "items=0-9")]).expect("parses");
    assert_eq!(malformed.root_window(), Window::default());
    let err = request("GET", "t", "", &[("Range", "9-0")]).expect_err("inverted");
    assert_eq!((err.code(), err.status()), ("PGRST103", 416));
}

#[test]
fn windows_intersect() {
    let a = Window { offset: 0, limit: Some(10) };
    assert_eq!(a.intersect(Window { offset: 5, limit: None }), Window { offset: 5, limit: Some(5) });
    assert_eq!(a.intersect(Window { offset: 20, limit: Some(5) }), Window { offset: 20, limit: Some(0) });
    assert_eq!(Window::default().intersect(Window::default()), Window::default());
}

#[test]
fn rpc_reads_take_plain_values_as_arguments_and_operators_as_filters() {
    let req = request("GET", "rpc/f", "a=1&b=hello world&c=gt.5&d=", &[]).expect("parses");
    assert_eq!(
        req.rpc_args,
        vec![("a".to_string(), "1".to_string()), ("b".into(), "hello world".into()), ("d".into(), "".into())]
    );
    assert_eq!(req.filters.len(), 1);
    let err = request("GET", "t", "a=1", &[]).expect_err("not an rpc");
    assert_eq!(err.code(), "PGRST100");
}

#[test]
fn no_exposed_schema_is_pgrst106() {
    let err = parse_request("GET", "t", &[], &[], &[]).expect_err("nothing exposed");
    assert_eq!(err.code(), "PGRST106");
}
