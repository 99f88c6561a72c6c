//! The document is complete for every route, and every route it lists is served.

use std::collections::BTreeSet;

use actix_web::{test as web_test, App};
use serde_json::Value;

use super::*;

/// (path, method, operation) for every operation in the document.
fn operations() -> Vec<(String, &'static str, Value)> {
    let doc = document();
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method, op.clone()));
            }
        }
    }
    out
}

/// Follows a `$ref` into `components`.
fn resolve(schema: &Value) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(&document()["components"]["schemas"][name])
        }
        None => schema.clone(),
    }
}

#[test]
fn operation_ids_are_unique_and_named() {
    let mut seen = BTreeSet::new();
    for (path, method, op) in operations() {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(id.chars().next().is_some_and(|c| c.is_ascii_lowercase()), "{id}: lowerCamelCase");
        assert!(!id.contains('_'), "{id}: lowerCamelCase");
        assert!(seen.insert(id.to_owned()), "operationId {id} repeats");
    }
}

#[test]
fn every_success_body_is_in_the_envelope() {
    for (path, method, op) in operations() {
        for (status, response) in op["responses"].as_object().expect("responses") {
            if !status.starts_with('2') {
                continue;
            }
            let Some(schema) = response.pointer("/content/application~1json/schema") else { continue };
            if path.ends_with("/openapi.json") {
                continue;
            }
            let schema = resolve(schema);
            assert!(
                schema["properties"]["data"].is_object()
                    && schema["required"].as_array().is_some_and(|r| r.contains(&"data".into())),
                "{method} {path} {status}: the body is not `{{\"data\": …}}`: {schema}"
            );
            if schema["properties"]["data"]["type"] == "array" && op["operationId"] != "listAllowlistRules" {
                let paged = schema["properties"].get("next_cursor").is_some();
                let listed =
                    ["listAllowlistRules", "listDatabaseUsers"].contains(&op["operationId"].as_str().unwrap_or(""));
                assert!(paged || listed, "{method} {path}: a list without next_cursor");
            }
        }
    }
}

#[test]
fn every_route_documents_the_statuses_it_can_answer() {
    let public: BTreeSet<&str> = [
        "getHealth",
        "getReadiness",
        "getMetrics",
        "getOpenApiDocument",
        "getCaCertificate",
        "createSession",
        "createAnonymousAccount",
        "refreshAnonymousSession",
        "createCookieSession",
        "getSignInMethods",
    ]
    .into();
    for (path, method, op) in operations() {
        let id = op["operationId"].as_str().unwrap_or_default();
        let responses = op["responses"].as_object().expect("responses");
        let has = |s: &str| responses.contains_key(s);
        assert!(responses.keys().any(|s| s.starts_with('2')), "{id}: no success status");
        if public.contains(id) {
            assert_eq!(op["security"], serde_json::json!([]), "{id}: a public route must say security: []");
        } else {
            assert!(op.get("security").is_none(), "{id}: must inherit the bearer requirement");
            assert!(has("401") && has("429") && has("500") && has("503"), "{id}: 401/429/500/503");
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if op.get("requestBody").is_some() {
            assert!(has("400") && has("413"), "{id}: a body can be malformed or too large");
        }
        if params.iter().any(|p| p["in"] == "path") {
            assert!(has("400") && has("404"), "{id}: a path id can be unknown");
        }
        if params.iter().any(|p| p["in"] == "query") {
            assert!(has("400"), "{id}: a query can be malformed");
        }
        for (status, response) in responses {
            assert!(
                response.pointer("/headers/x-request-id").is_some(),
                "{method} {path} {status}: x-request-id undocumented"
            );
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response.pointer("/content/application~1json/schema/$ref"),
                    Some(&Value::from("#/components/schemas/ErrorBody")),
                    "{method} {path} {status}: the error schema"
                );
            }
            if status == "429" {
                assert!(response.pointer("/headers/retry-after").is_some(), "{id}: 429 without retry-after");
            }
        }
    }
}

#[test]
fn error_codes_are_an_enum_of_api_md_codes() {
    let detail = resolve(&document()["components"]["schemas"]["ErrorDetail"]);
    let code = resolve(&detail["properties"]["code"]);
    let codes: Vec<&str> = code["enum"].as_array().expect("enum").iter().filter_map(Value::as_str).collect();
    for c in ["INVALID_REQUEST", "UNAUTHENTICATED", "DATABASE_NOT_FOUND", "METHOD_NOT_ALLOWED", "RATE_LIMITED"] {
        assert!(codes.contains(&c), "{c} missing from {codes:?}");
    }
}

#[test]
fn the_backup_download_is_binary() {
    let op = operations().into_iter().find(|(_, _, op)| op["operationId"] == "downloadBackup").expect("download");
    let schema = op.2.pointer("/responses/200/content/application~1gzip/schema").expect("gzip content").clone();
    assert_eq!(schema["type"], "string", "{schema}");
    assert!(schema["format"] == "binary" || schema["contentMediaType"].is_string(), "{schema}");
}

/// Every documented route is served, and an undocumented method on a served path is 405.
#[actix_web::test]
async fn every_route_is_documented_and_served() {
    let app = web_test::init_service(App::new().configure(crate::configure_routes)).await;
    let mut checked = 0;
    for (path, method, _) in operations() {
        if path == "/metrics" {
            continue; // served only when the deployment binds metrics to the API's listener
        }
        let concrete = path.replace("{id}", "x").replace("{backup_id}", "y").replace("{rule_id}", "z");
        let concrete = concrete.replace("{user_id}", "u").replace("{username}", "n");
        let req = web_test::TestRequest::default()
            .method(method.to_uppercase().parse().expect("method"))
            .uri(&concrete)
            .to_request();
        let status = web_test::call_service(&app, req).await.status().as_u16();
        assert!(status != 404 && status != 405, "{method} {path} is documented but not served ({status})");
        checked += 1;
    }
    assert!(checked > 40, "only {checked} routes");
    let req = web_test::TestRequest::put().uri("/api/v1/databases").to_request();
    let res = web_test::call_service(&app, req).await;
    assert_eq!(res.status().as_u16(), 405);
    assert_eq!(res.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));
    let req = web_test::TestRequest::get().uri("/api/v1/no-such-thing").to_request();
    assert_eq!(web_test::call_service(&app, req).await.status().as_u16(), 404);
}

#[test]
#[ignore = "prints the document: cargo test -p api print_document -- --ignored --nocapture"]
fn print_document() {
    println!("{}", serde_json::to_string_pretty(document()).unwrap_or_default());
}

#[test]
fn sql_cells_and_params_are_any_json_value() {
    let schemas = &document()["components"]["schemas"];
    let cell = &schemas["SqlResultView"]["properties"]["rows"]["items"]["items"];
    let param = &schemas["SqlBody"]["properties"]["params"]["items"];
    for (what, s) in [("a cell", cell), ("a param", param)] {
        assert!(s.is_object() && s.get("type").is_none() && s.get("$ref").is_none(), "{what} is any value: {s}");
    }
}
