//! The OpenAPI document: the API's contract (API.md, "Contract rules"), generated from code.
//! The routes come from the one route table (`with_routes!`), their success bodies and
//! route-specific errors from the handlers' annotations, the bodies' constraints from `wire`.
//! What holds for every route is added here, by rule: the errors every route of its kind can
//! answer (a body can be malformed, a credential missing, a budget spent, the store down),
//! the `x-request-id` header on every response, `retry-after` on 429 and 503, `security: []` on the
//! public routes, and the links between a resource's creation and the routes that act on it.

use std::sync::OnceLock;

use serde_json::{json, Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

macro_rules! document {
    (root: [$($rm:ident::$rf:ident),*], api: [$($am:ident::$af:ident),*]) => {
        #[derive(OpenApi)]
        #[openapi(
            info(
                title = "Berth API",
                description = "Managed PostgreSQL control plane. Success bodies are `{\"data\": …}` (lists: \
                               `{\"data\": […], \"next_cursor\": …}`); errors are `{\"error\": {code, message, \
                               request_id}}`. Every response carries `x-request-id`. Any text field or filter \
                               holding a NUL or other control character is 400 INVALID_REQUEST. A known path \
                               called with a method it does not serve is 405 METHOD_NOT_ALLOWED with `allow`. \
                               Caps (configurable): live API keys per account, manual backups per database per \
                               UTC day, database users per database (per plan, in /me's quotas): 403 \
                               QUOTA_EXCEEDED; anonymous sign-ups per client address per hour: 429 RATE_LIMITED \
                               with retry-after. A request the HTTP layer cannot parse (request line and headers \
                               over 128 KiB: 431; a malformed or over-long request line or header: 400) is \
                               answered with the error envelope, code INVALID_REQUEST, and x-request-id."
            ),
            paths($(routes::$rm::$rf,)* $(routes::$am::$af,)* routes::health::metrics),
            components(schemas(wire::ErrorCode)),
            modifiers(&BearerAuth),
            security(("bearer" = []))
        )]
        pub struct ApiDoc;
    };
}
crate::with_routes!(document);

/// The document as served.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        complete(&mut doc);
        crate::openapi_rules::constrain(&mut doc);
        doc
    })
}

/// The document as this deployment serves it: `CreateDatabase.region` lists the regions its
/// hosts are in (the built-in document names only the default one).
pub fn with_regions(regions: &[String]) -> Value {
    let mut doc = document().clone();
    if let Some(region) = doc.pointer_mut("/components/schemas/CreateDatabase/properties/region") {
        let mut allowed: Vec<Value> = regions.iter().map(|r| Value::String(r.clone())).collect();
        allowed.push(Value::Null);
        region["enum"] = Value::Array(allowed);
    }
    doc
}

/// The methods the document lists for a path template (upper case), for `allow`.
pub fn methods_of(template: &str) -> Vec<String> {
    let Some(item) = document()["paths"].get(template).and_then(Value::as_object) else { return vec![] };
    METHODS.iter().filter(|m| item.contains_key(**m)).map(|m| m.to_uppercase()).collect()
}

pub const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The route table: every route `configure_routes` serves (those of `with_routes!`), as
/// (method in upper case, path template as documented, e.g. `/api/v1/databases/{id}`). Read
/// from the document, which lists exactly these plus `/metrics` (served only where the
/// deployment binds it, and not by `configure_routes`).
pub fn route_table() -> Vec<(String, String)> {
    let Some(paths) = document()["paths"].as_object() else { return vec![] };
    paths
        .iter()
        .filter(|(path, _)| path.as_str() != "/metrics")
        .flat_map(|(path, item)| {
            METHODS.iter().filter(|m| item.get(**m).is_some()).map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

/// Probes: no budget, no store (but `readyz`, which reports on it).
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

fn error_description(status: u16) -> &'static str {
    match status {
        400 => {
            "INVALID_REQUEST (malformed JSON, a missing or invalid field or parameter, named in the \
                message), INVALID_NAME, ENGINE_DISABLED"
        }
        401 => "UNAUTHENTICATED: missing, malformed, revoked, replaced or expired credential",
        403 => "FORBIDDEN (the caller's role does not allow it), KEY_SCOPE_DENIED, PLAN_REQUIRED, QUOTA_EXCEEDED",
        404 => "DATABASE_NOT_FOUND (no such database, or the caller may not see it), NOT_FOUND",
        409 => "CONFLICT: the name is taken, or the resource is in the wrong state for this",
        413 => "PAYLOAD_TOO_LARGE: the body is over the configured cap (default 1 MiB)",
        422 => "UNPROCESSABLE: valid JSON, but semantically impossible",
        429 => "RATE_LIMITED: the request budget is spent; retry after `retry-after` seconds",
        500 => "INTERNAL: unexpected; the message never holds a secret or SQL",
        503 => "UNAVAILABLE: a dependency (the control-plane store, a tenant host, the object store) is unreachable",
        _ => "error",
    }
}

fn request_id_header() -> Value {
    json!({
        "description": "The request's id (the client's own, if it sent a sane one); error bodies repeat it.",
        "required": true,
        "schema": {"type": "string"}
    })
}

/// Adds what holds for every route (see the module's doc).
fn complete(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                complete_operation(path, op);
            }
        }
    }
    for (from, status, links) in links() {
        if let Some(response) = find_operation(doc, from).and_then(|op| op["responses"].get_mut(status)) {
            response["links"] = links;
        }
    }
}

fn complete_operation(path: &str, op: &mut Map<String, Value>) {
    let public = op.get("security").and_then(Value::as_array).is_some_and(|s| s.iter().all(|r| r == &json!({})));
    if public {
        op.insert("security".into(), json!([]));
    }
    // An optional body (`Option<T>`) is absent or a `T`, never JSON `null`.
    if let Some(schema) = op.get_mut("requestBody").and_then(|b| b.pointer_mut("/content/application~1json/schema")) {
        if let Some(other) = schema["oneOf"].as_array().and_then(|o| o.iter().find(|s| s["type"] != "null")).cloned() {
            *schema = other;
        }
    }
    let params = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
    let has_query = params.iter().any(|p| p["in"] == "query");
    let has_path = params.iter().any(|p| p["in"] == "path");
    let has_body = op.contains_key("requestBody");
    let probe = PROBES.contains(&path);
    let document_itself = path.ends_with("/openapi.json");
    let mut statuses = vec![];
    if has_body || has_query || has_path {
        statuses.push(400);
    }
    if !public {
        statuses.push(401);
    }
    if has_path || path == "/metrics" {
        statuses.push(404);
    }
    if has_body {
        statuses.push(413);
    }
    if !probe {
        statuses.extend([429, 500]);
    }
    if !probe && !document_itself || path == "/readyz" {
        statuses.push(503);
    }
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for status in statuses {
        responses.entry(status.to_string()).or_insert_with(|| json!({}));
    }
    for (status, response) in responses.iter_mut() {
        let code: u16 = status.parse().unwrap_or(0);
        if code >= 400 {
            *response = json!({
                "description": error_description(code),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            });
        }
        // A download is bytes, not the array of integers `Vec<u8>` describes.
        if let Some(gzip) = response.pointer_mut("/content/application~1gzip") {
            gzip["schema"] = json!({"type": "string", "format": "binary", "contentMediaType": "application/gzip"});
        }
        if let Some(sql) = response.pointer_mut("/content/application~1sql") {
            sql["schema"] = json!({"type": "string", "contentMediaType": "application/sql"});
        }
        let headers = response.as_object_mut().map(|r| r.entry("headers").or_insert_with(|| json!({})));
        if let Some(headers) = headers {
            headers["x-request-id"] = request_id_header();
            if code == 429 || code == 503 {
                headers["retry-after"] = json!({
                    "description": "Seconds to wait before retrying.",
                    "required": true,
                    "schema": {"type": "integer", "minimum": 1}
                });
            }
            if code == 200 && path.ends_with("/download") {
                headers["x-backup-sha256"] =
                    json!({"description": "The backup's recorded SHA-256, hex.", "schema": {"type": "string"}});
            }
        }
    }
}

fn find_operation<'a>(doc: &'a mut Value, operation_id: &str) -> Option<&'a mut Value> {
    let paths = doc.get_mut("paths")?.as_object_mut()?;
    paths
        .values_mut()
        .flat_map(|item| item.as_object_mut().into_iter().flat_map(|i| i.values_mut()))
        .find(|op| op.get("operationId").and_then(Value::as_str) == Some(operation_id))
}

/// OpenAPI links: what a creation's response lets a client (and a stateful fuzzer) call next.
fn links() -> Vec<(&'static str, &'static str, Value)> {
    let db = |ops: &[&str]| {
        let mut links = Map::new();
        for op in ops {
            links.insert((*op).into(), json!({"operationId": op, "parameters": {"id": "$response.body#/data/id"}}));
        }
        Value::Object(links)
    };
    let database_ops = [
        "getDatabase",
        "deleteDatabase",
        "stopDatabase",
        "startDatabase",
        "restartDatabase",
        "resetDatabasePassword",
        "getDatabaseCredentials",
        "getDatabaseMetrics",
        "getDatabaseSchema",
        "getDatabaseObservability",
        "listDatabaseActivity",
        "listBackups",
        "createBackup",
        "branchDatabase",
        "listAllowlistRules",
        "addAllowlistRule",
        "listDatabaseUsers",
        "createDatabaseUser",
        "listCollaborators",
        "addCollaborator",
        "listMigrations",
        "applyMigration",
        "dumpDatabase",
        "listPublishableKeys",
        "createPublishableKey",
        "listServiceKeys",
        "createServiceKey",
        "getAuthConfig",
        "putAuthConfig",
    ];
    let on_backup = |op: &str| json!({"operationId": op, "parameters": {"id": "$request.path.id", "backup_id": "$response.body#/data/id"}});
    let backup = json!({
        "downloadBackup": on_backup("downloadBackup"),
        "verifyBackup": on_backup("verifyBackup"),
        "restoreBackup": {"operationId": "restoreBackup", "parameters": {"id": "$request.path.id"},
            "requestBody": {"backup_id": "$response.body#/data/id", "target_name": "restored-from-link"}},
        "getBackup": {"operationId": "getBackup",
            "parameters": {"id": "$request.path.id", "backup_id": "$response.body#/data/id"}},
        "deleteBackup": {"operationId": "deleteBackup",
            "parameters": {"id": "$request.path.id", "backup_id": "$response.body#/data/id"}},
    });
    let rule = json!({"removeAllowlistRule": {"operationId": "removeAllowlistRule",
        "parameters": {"id": "$request.path.id", "rule_id": "$response.body#/data/id"}}});
    let user = json!({"deleteDatabaseUser": {"operationId": "deleteDatabaseUser",
        "parameters": {"id": "$request.path.id", "username": "$response.body#/data/name"}}});
    let key = json!({
        "replaceApiKey": {"operationId": "replaceApiKey", "parameters": {"id": "$response.body#/data/id"}},
        "revokeApiKey": {"operationId": "revokeApiKey", "parameters": {"id": "$response.body#/data/id"}},
    });
    let on_key = |op: &str| json!({"operationId": op, "parameters": {"id": "$request.path.id", "key_id": "$response.body#/data/id"}});
    let publishable = json!({"revokePublishableKey": on_key("revokePublishableKey")});
    let service = json!({"revokeServiceKey": on_key("revokeServiceKey")});
    let operation = json!({"getOperation": {"operationId": "getOperation",
        "parameters": {"id": "$response.body#/data/operation_id"}}});
    let incident = json!({"resolveIncident": {"operationId": "resolveIncident",
        "parameters": {"id": "$response.body#/data/0/id"}}});
    vec![
        ("listIncidents", "200", incident),
        ("createDatabase", "201", db(&database_ops)),
        ("createDatabase", "202", db(&database_ops)),
        ("createBackup", "202", backup),
        ("addAllowlistRule", "201", rule.clone()),
        ("addAllowlistRule", "202", rule),
        ("createDatabaseUser", "201", user.clone()),
        ("createDatabaseUser", "202", user),
        ("createApiKey", "201", key),
        ("createPublishableKey", "201", publishable),
        ("createServiceKey", "201", service),
        ("deleteDatabase", "202", operation),
    ]
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
