//! Statuses, headers and bodies after the statement ran; error bodies and SQLSTATE mapping.

use super::fixtures::planned;
use crate::*;

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn content_ranges_follow_postgrest() {
    assert_eq!(content_range(0, 10, Some(100)), "0-9/100");
    assert_eq!(content_range(20, 5, None), "20-24/*");
    assert_eq!(content_range(0, 0, Some(100)), "*/100");
    assert_eq!(content_range(0, 0, None), "*/*");
    assert_eq!(content_range(0, 3, Some(0)), "*/0");
}

#[test]
fn a_full_read_is_200_and_a_partial_counted_read_is_206() {
    let plan = planned("GET", "customers", "", &[("Prefer", "count=exact"), ("Range", "0-1")], "");
    let partial = plan.shape.respond(2, Some(3), Some("[1,2]".into())).expect("answers");
    assert_eq!(partial.status, 206);
    assert_eq!(header(&partial, "Content-Range"), Some("0-1/3"));
    assert_eq!(header(&partial, "Content-Type"), Some("application/json; charset=utf-8"));
    assert_eq!(header(&partial, "Preference-Applied"), Some("count=exact"));
    assert_eq!(partial.body, "[1,2]");
    let full = plan.shape.respond(3, Some(3), Some("[]".into())).expect("answers");
    assert_eq!(full.status, 200);
    let uncounted =
        planned("GET", "customers", "", &[], "").shape.respond(3, None, Some("[]".into())).expect("answers");
    assert_eq!((uncounted.status, header(&uncounted, "Content-Range")), (200, Some("0-2/*")));
}

#[test]
fn an_offset_past_the_end_is_416() {
    let plan = planned("GET", "customers", "offset=10", &[("Prefer", "count=exact")], "");
    let err = plan.shape.respond(0, Some(3), Some("[]".into())).expect_err("out of range");
    assert_eq!((err.code(), err.status()), ("PGRST103", 416));
    assert_eq!(err.body().details, serde_json::json!("An offset of 10 was requested, but there are only 3 rows."));
    let at_end = planned("GET", "customers", "offset=3", &[("Prefer", "count=exact")], "");
    let r = at_end.shape.respond(0, Some(3), Some("[]".into())).expect("answers");
    assert_eq!((r.status, header(&r, "Content-Range")), (206, Some("*/3")));
}

#[test]
fn head_sends_headers_only() {
    let plan = planned("HEAD", "customers", "", &[("Prefer", "count=exact")], "");
    let r = plan.shape.respond(3, Some(3), None).expect("answers");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(header(&r, "Content-Range"), Some("0-2/3"));
    assert_eq!(header(&r, "Content-Type"), None);
}

#[test]
fn single_objects_need_exactly_one_row() {
    let plan = planned("GET", "customers", "", &[("Accept", "application/vnd.pgrst.object+json")], "");
    let one = plan.shape.respond(1, None, Some("{\"id\":1}".into())).expect("answers");
    assert_eq!(header(&one, "Content-Type"), Some("application/vnd.pgrst.object+json; charset=utf-8"));
    assert_eq!(one.body, "{\"id\":1}");
    for rows in [0, 2] {
        let err = plan.shape.respond(rows, None, Some("null".into())).expect_err("not one row");
        assert_eq!((err.code(), err.status()), ("PGRST116", 406));
        let body = err.body();
        assert_eq!(body.message, "JSON object requested, multiple (or no) rows returned");
        assert_eq!(body.details, serde_json::json!(format!("The result contains {rows} rows")));
    }
}

#[test]
fn inserts_are_201_with_a_star_range() {
    let minimal = planned("POST", "orders", "", &[("Prefer", "count=exact")], "{}");
    let r = minimal.shape.respond(1, Some(1), None).expect("answers");
    assert_eq!((r.status, r.body.as_str()), (201, ""));
    assert_eq!(header(&r, "Content-Range"), Some("*/1"));
    let full = planned("POST", "orders", "", &[("Prefer", "return=representation")], "{}");
    let r = full.shape.respond(1, None, Some("[{}]".into())).expect("answers");
    assert_eq!((r.status, r.body.as_str()), (201, "[{}]"));
    assert_eq!(header(&r, "Content-Range"), Some("*/*"));
    assert_eq!(header(&r, "Preference-Applied"), Some("return=representation"));
}

#[test]
fn updates_and_deletes_are_204_without_representation() {
    let update = planned("PATCH", "orders", "id=eq.1", &[], "{\"status\":\"x\"}");
    let r = update.shape.respond(1, None, None).expect("answers");
    assert_eq!((r.status, header(&r, "Content-Range")), (204, Some("0-0/*")));
    let full = planned("PATCH", "orders", "", &[("Prefer", "return=representation")], "{\"status\":\"x\"}");
    assert_eq!(full.shape.respond(2, None, Some("[]".into())).expect("answers").status, 200);
    let delete = planned("DELETE", "orders", "", &[("Prefer", "count=exact")], "");
    let r = delete.shape.respond(4, Some(4), None).expect("answers");
    assert_eq!((r.status, header(&r, "Content-Range")), (204, Some("*/4")));
}

#[test]
fn a_single_object_write_touching_several_rows_is_refused() {
    let plan = planned("PATCH", "orders", "", &[("Accept", "application/vnd.pgrst.object+json")], "{\"status\":\"x\"}");
    assert_eq!(plan.shape.respond(3, None, None).expect_err("three rows").code(), "PGRST116");
}

#[test]
fn calls_answer_200_or_204_for_void() {
    let add = planned("POST", "rpc/add", "", &[], "{\"a\":1}");
    let r = add.shape.respond(1, None, Some("2".into())).expect("answers");
    assert_eq!((r.status, r.body.as_str()), (200, "2"));
    let ping = planned("POST", "rpc/ping", "", &[], "");
    let r = ping.shape.respond(1, None, None).expect("answers");
    assert_eq!((r.status, r.body.as_str()), (204, ""));
}

#[test]
fn a_profile_chosen_by_header_is_named_back() {
    let plan = planned("GET", "customers", "", &[("Accept-Profile", "public")], "");
    let r = plan.shape.respond(0, None, Some("[]".into())).expect("answers");
    assert_eq!(header(&r, "Content-Profile"), Some("public"));
}

#[test]
fn error_bodies_have_the_four_keys() {
    let body =
        serde_json::to_value(Error::TableNotFound { schema: "public".into(), name: "x".into() }.body()).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"code": "PGRST205", "message": "Could not find the table 'public.x' in the schema cache", "details": null, "hint": null})
    );
}

#[test]
fn sqlstates_map_to_postgrest_statuses() {
    let cases = [
        ("23505", 409),
        ("23503", 409),
        ("25006", 405),
        ("22P02", 400),
        ("22001", 400),
        ("23502", 400),
        ("42883", 404),
        ("42P01", 404),
        ("42703", 400),
        ("57014", 500),
        ("57P01", 503),
        ("P0001", 400),
        ("P0002", 500),
        ("08006", 503),
        ("53300", 503),
        ("53400", 500),
        ("28000", 403),
        ("40001", 500),
        ("XX000", 500),
        ("42P17", 500),
        ("PT402", 402),
        ("PTxyz", 500),
    ];
    for (state, status) in cases {
        assert_eq!(pg_error_status(state, "", true), status, "{state}");
    }
    assert_eq!(pg_error_status("42501", "permission denied", false), 401);
    assert_eq!(pg_error_status("42501", "permission denied", true), 403);
    assert_eq!(pg_error_status("21000", "UPDATE requires a WHERE clause", true), 400);
    assert_eq!(pg_error_status("21000", "more than one row returned by a subquery", true), 500);
    assert_eq!(pg_error_status("22023", "role \"x\" does not exist", true), 401);
}
