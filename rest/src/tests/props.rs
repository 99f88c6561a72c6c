//! Property tests: whatever a request carries as a value, the SQL text never contains it,
//! and names outside the schema cache never reach SQL at all.
//!
//! Values are wrapped in `⟨…⟩`: the SQL the planner writes is ASCII apart from names that
//! came from the cache, so a `⟨` in the SQL text would be a value spliced into it.

use proptest::prelude::*;

use super::fixtures::{cache, exposed, pairs_escape};
use crate::{parse_request, plan};

const COLUMNS: &[&str] = &["id", "name", "email", "data", "doc", "tags"];
const OPS: &[&str] = &[
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "like",
    "ilike",
    "match",
    "imatch",
    "cs",
    "cd",
    "ov",
    "sl",
    "sr",
    "nxr",
    "nxl",
    "adj",
    "isdistinct",
    "fts",
    "plfts",
    "phfts",
    "wfts",
    "not.eq",
    "like(any)",
    "eq(all)",
    "fts(english)",
];

fn marked(s: &str) -> String {
    format!("⟨{s}⟩")
}

fn plan_get(pairs: Vec<(String, String)>) -> Result<crate::Plan, crate::Error> {
    let req = parse_request("GET", "customers", &pairs, &[], &exposed())?;
    plan(&req, &cache(), None)
}

fn no_value_in(sql: &str) -> Result<(), TestCaseError> {
    prop_assert!(!sql.contains('⟨') && !sql.contains('⟩'), "a value reached the SQL: {sql}");
    Ok(())
}

proptest! {
    #[test]
    fn filter_values_are_always_parameters(col in 0..COLUMNS.len(), op in 0..OPS.len(), value in ".*") {
        let v = marked(&value);
        let pairs = vec![(COLUMNS[col].to_string(), format!("{}.{v}", OPS[op]))];
        let planned = plan_get(pairs).expect("a known column with a known operator plans");
        no_value_in(&planned.sql)?;
        prop_assert!(planned.params.iter().flatten().any(|p| p.contains('⟨')));
    }

    #[test]
    fn in_lists_and_logic_trees_keep_values_out(values in prop::collection::vec("[^\"\\\\]*", 0..5), col in 0..COLUMNS.len()) {
        let list = values.iter().map(|v| pairs_escape(&marked(v))).collect::<Vec<_>>().join(",");
        let c = COLUMNS[col];
        let first = pairs_escape(&marked(values.first().map(String::as_str).unwrap_or("")));
        let pairs = vec![
            (c.to_string(), format!("in.({list})")),
            ("or".to_string(), format!("({c}.eq.{first},and({c}.like.{first},{c}.not.in.({list})))")),
        ];
        let planned = plan_get(pairs).expect("plans");
        no_value_in(&planned.sql)?;
    }

    #[test]
    fn json_path_keys_and_limits_are_parameters(key in ".*", limit in 0u64..1_000_000, offset in 0u64..1_000_000) {
        let k = pairs_escape(&marked(&key));
        let pairs = vec![
            ("select".to_string(), format!("x:data->{k}->>{k}")),
            (format!("data->>{k}"), "eq.1".to_string()),
            ("order".to_string(), format!("data->{k}.desc")),
            ("limit".to_string(), limit.to_string()),
            ("offset".to_string(), offset.to_string()),
        ];
        let planned = plan_get(pairs).expect("plans");
        no_value_in(&planned.sql)?;
        prop_assert!(planned.params.contains(&Some(limit.to_string())));
        prop_assert!(offset == 0 || planned.params.contains(&Some(offset.to_string())));
    }

    #[test]
    fn unknown_column_names_are_refused_before_sql(name in "[a-z_][a-z0-9_]{0,12}|\"[^\"\\\\]{1,12}\"") {
        let bare = name.trim_matches('"').to_string();
        prop_assume!(!COLUMNS.contains(&bare.as_str()) && !bare.contains('.'));
        for pairs in [
            vec![(name.clone(), "eq.1".to_string())],
            vec![("select".to_string(), name.clone())],
            vec![("order".to_string(), name.clone())],
        ] {
            match plan_get(pairs) {
                Err(e) => prop_assert!(matches!(e.code(), "42703" | "PGRST100" | "PGRST200"), "{e:?}"),
                Ok(p) => prop_assert!(false, "planned an unknown column: {}", p.sql),
            }
        }
    }

    #[test]
    fn body_values_are_one_parameter(value in ".*", amount in any::<f64>()) {
        let body = serde_json::json!([{"id": 1, "status": marked(&value), "note": amount.to_string()}]).to_string();
        let req = parse_request("POST", "orders", &[], &[], &exposed()).expect("parses");
        let planned = plan(&req, &cache(), Some(body.as_bytes())).expect("plans");
        no_value_in(&planned.sql)?;
        prop_assert_eq!(planned.params, vec![Some(body)]);
    }

    #[test]
    fn rpc_arguments_are_parameters(a in ".*", b in ".*") {
        let body = serde_json::json!({"a": marked(&a), "b": marked(&b)}).to_string();
        let req = parse_request("POST", "rpc/add", &[], &[], &exposed()).expect("parses");
        let planned = plan(&req, &cache(), Some(body.as_bytes())).expect("plans");
        no_value_in(&planned.sql)?;
        prop_assert_eq!(planned.params, vec![Some(marked(&a)), Some(marked(&b))]);
    }
}
