//! The request constraints the handlers enforce, as JSON Schema: what a field accepts is what
//! the document says, so a generated client (or a fuzzer) that keeps to the schema is never
//! refused with 400, and one that strays is. Each rule names the code that enforces it.

use serde_json::{json, Value};

/// No control character (API.md: any text holding one is 400 `INVALID_REQUEST`; `body.rs`).
pub const TEXT: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// SQL text (`control::sql`): multi-line (tabs and line breaks allowed, `body::Multiline`), no
/// other control character, and not blank.
const SQL: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";

/// `domain::DatabaseName::parse`: the grammar, minus the reserved names and prefixes.
fn name() -> Value {
    json!({
        "type": "string",
        "pattern": "^[a-z][a-z0-9-]{2,62}$",
        "not": {"anyOf": [
            {"enum": ["postgres", "template0", "template1", "pgbouncer", "berth", "berth-admin", "berth-control",
                      "public", "admin", "root"]},
            {"pattern": "^(pg|berth)-"}
        ]}
    })
}

/// `domain::{Id}::parse`: the prefix and a ULID.
fn id(prefix: &str) -> Value {
    json!({"type": "string", "pattern": format!("^{prefix}_[0-7][0-9A-HJKMNP-TV-Z]{{25}}$")})
}

fn text(max: u64) -> Value {
    json!({"type": "string", "pattern": TEXT, "maxLength": max})
}

/// Text with at least one character that is not whitespace (`domain::AccountCommand::CreateKey`).
fn label(max: u64) -> Value {
    json!({
        "type": "string",
        "maxLength": max,
        "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    })
}

fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

/// IPv4 octet without leading zeros (`std::net::Ipv4Addr` refuses them).
const OCTET: &str = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";

/// `domain::Cidr::parse` takes any IPv4/IPv6 network whose host bits are zero; the pattern
/// admits the IPv4 forms whose host bits are zero by construction (an address, or a /8, /16,
/// /24 network, or everything). Other networks are accepted too, as the description says.
fn cidr() -> Value {
    let o = OCTET;
    json!({
        "type": "string",
        "description": "An IPv4/IPv6 network (`203.0.113.0/24`) or a single address; the network's host bits \
                        must be zero (`10.0.0.1/8` is refused: use `10.0.0.0/8`). `0.0.0.0/0` is allowed and \
                        recorded as open to all.",
        "pattern": format!(
            "^({o}\\.{o}\\.{o}\\.{o}(/32)?|{o}\\.0\\.0\\.0/8|{o}\\.{o}\\.0\\.0/16|{o}\\.{o}\\.{o}\\.0/24|0\\.0\\.0\\.0/0)$"
        )
    })
}

/// (schema, property, the property's schema) for the request bodies.
fn properties() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("CreateDatabase", "name", name()),
        ("CreateDatabase", "engine", json!({"type": ["string", "null"], "enum": ["postgres", null]})),
        // The regions of this deployment's hosts: `GET /api/v1/openapi.json` lists them
        // (`openapi::with_regions`); the built-in document names the default one.
        ("CreateDatabase", "region", json!({"type": ["string", "null"], "enum": [domain::DEFAULT_REGION, null]})),
        ("BranchDatabase", "name", name()),
        ("RestoreBackup", "target_name", name()),
        ("RestoreBackup", "backup_id", text(200)),
        ("MoveDatabase", "host_id", text(200)),
        // `<database>.<username>` must fit PostgreSQL's 63 bytes: short names always do.
        ("NewUser", "username", {
            let mut n = name();
            n["pattern"] = "^[a-z][a-z0-9-]{2,29}$".into();
            n["description"] =
                "`^[a-z][a-z0-9-]{2,62}$`, not a reserved name; the role `<database>.<username>` must fit \
                 63 bytes (longer names are 400 INVALID_NAME)"
                    .into();
            n
        }),
        ("CookieSignIn", "api_key", json!({"type": ["string", "null"], "pattern": TEXT})),
        ("CookieSignIn", "token", json!({"type": ["string", "null"], "pattern": TEXT})),
        ("CookieSignIn", "id_token", json!({"type": ["string", "null"], "pattern": TEXT})),
        ("NewRule", "cidr", cidr()),
        ("NewRule", "label", json!({"type": ["string", "null"], "pattern": TEXT, "maxLength": 100})),
        ("NewRule", "ttl_seconds", json!({"type": ["integer", "null"], "minimum": 1, "maximum": 2_592_000})),
        ("ApplyMigration", "name", {
            let mut n = label(200);
            n["minLength"] = 1.into();
            n["pattern"] = "^[^\\s\\u0000-\\u001F\\u007F-\\u009F]([^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F])?$".into();
            n
        }),
        // SQL is multi-line text: tabs and line breaks are allowed (`body::Multiline`).
        (
            "ApplyMigration",
            "sql",
            json!({"type": "string", "minLength": 1, "pattern": "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"}),
        ),
        // No maxLength: the body cap (413) bounds SQL text, as it does a migration's.
        ("SqlBody", "query", json!({"type": ["string", "null"], "pattern": SQL})),
        ("SqlBody", "file_content", json!({"type": ["string", "null"], "pattern": SQL})),
        (
            "ApprovalSettingsBody",
            "kinds",
            json!({"type": ["array", "null"], "items": one_of(&["drop", "truncate", "alter", "delete_without_where", "update_without_where"])}),
        ),
        (
            "ApprovalSettingsBody",
            "ttl_seconds",
            json!({"type": ["integer", "null"], "minimum": 60, "maximum": 2_592_000}),
        ),
        ("ApplyMigration", "checksum", json!({"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"})),
        ("CreateBackup", "label", json!({"type": ["string", "null"], "pattern": TEXT, "maxLength": 200})),
        ("CreateKey", "label", label(100)),
        ("CreateKey", "scope", json!({"type": ["string", "null"], "enum": ["all", "selected", null]})),
        ("CreateKey", "database_ids", json!({"type": ["array", "null"], "items": text(100), "maxItems": 100})),
        (
            "CreateKey",
            "databases",
            json!({"type": ["array", "null"], "maxItems": 100, "items": {"$ref": "#/components/schemas/KeyDatabase"}}),
        ),
        ("KeyDatabase", "id", text(100)),
        ("KeyDatabase", "access", one_of(&["ro", "rw"])),
        ("CreatePublishableKey", "name", json!({"type": ["string", "null"], "pattern": TEXT, "maxLength": 100})),
        ("CreateServiceKey", "name", json!({"type": ["string", "null"], "pattern": TEXT, "maxLength": 100})),
        (
            "CreatePublishableKey",
            "allowed_origins",
            json!({"type": ["array", "null"], "maxItems": 50,
                   "items": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.:\\[\\]-]{1,253}$"}}),
        ),
        (
            "CreatePublishableKey",
            "exposed_schemas",
            json!({"type": ["array", "null"], "maxItems": 20, "items": {"type": "string",
                   "pattern": "^[A-Za-z_][A-Za-z0-9_$]{0,62}$", "not": {"pattern": "^(pg_|information_schema$)"}}}),
        ),
        (
            "CreatePublishableKey",
            "exposed_tables",
            json!({"type": ["array", "null"], "maxItems": 200, "items": {"type": "string",
                   "pattern": "^([A-Za-z_][A-Za-z0-9_$]{0,62}\\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$"},
                   "description": "`table` or `schema.table`, the schema among `exposed_schemas`"}),
        ),
        ("AuthConfigBody", "auth_mode", one_of(&["byo_jwt"])),
        (
            "ByoJwtBody",
            "jwks_url",
            json!({"type": ["string", "null"], "maxLength": 2048,
                   "pattern": "^https?://[^\\s@/?#\\u0000-\\u001F\\u007F-\\u009F]+([/?#][^\\s\\u0000-\\u001F\\u007F-\\u009F]*)?$"}),
        ),
        // What `domain::AuthConfig::validated` takes: 1 to 20 public signing keys, and no
        // member outside a public key's (so no private or symmetric material can be sent).
        (
            "ByoJwtBody",
            "jwks",
            json!({"type": ["object", "null"], "required": ["keys"], "additionalProperties": false,
                   "properties": {"keys": {"type": "array", "minItems": 1, "maxItems": 20, "items": {
                       "type": "object", "required": ["kty"], "additionalProperties": false,
                       "properties": {
                           "kty": {"enum": ["RSA", "EC", "OKP"]},
                           "kid": {"type": "string", "maxLength": 200, "pattern": TEXT},
                           "use": {"type": "string", "maxLength": 20, "pattern": TEXT},
                           "alg": {"type": "string", "maxLength": 20, "pattern": TEXT},
                           "n": {"type": "string", "maxLength": 1024, "pattern": TEXT},
                           "e": {"type": "string", "maxLength": 16, "pattern": TEXT},
                           "crv": {"type": "string", "maxLength": 20, "pattern": TEXT},
                           "x": {"type": "string", "maxLength": 200, "pattern": TEXT},
                           "y": {"type": "string", "maxLength": 200, "pattern": TEXT}}}}},
                   "description": "A JWK Set of public signing keys (RSA, EC or OKP)"}),
        ),
        ("ByoJwtBody", "issuer", label(2048)),
        ("ByoJwtBody", "audience", label(2048)),
        (
            "ByoJwtBody",
            "subject_claim",
            json!({"type": ["string", "null"], "maxLength": 100, "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"}),
        ),
        ("ByoJwtBody", "claims_allowlist", json!({"type": ["array", "null"], "maxItems": 100, "items": label(100)})),
        ("AddCollaborator", "email", text(320)),
        ("AddCollaborator", "role", one_of(&["admin", "developer", "viewer"])),
        ("ChangeRole", "role", one_of(&["admin", "developer", "viewer"])),
        ("AccountPatch", "plan", one_of(&["free", "pro", "business"])),
        ("SessionRequest", "id_token", text(16_384)),
        ("AnonymousCredentials", "account_id", text(200)),
        ("AnonymousCredentials", "anonymous_secret", text(200)),
        // Responses: the values the domain's states and kinds spell (`domain::*::as_str`).
        (
            "DatabaseView",
            "state",
            one_of(&["provisioning", "running", "locked", "stopped", "deleting", "deleted", "failed"]),
        ),
        ("DatabaseView", "engine", one_of(&["postgres"])),
        ("BackupView", "state", one_of(&["pending", "running", "succeeded", "failed", "deleted"])),
        ("BackupView", "trigger", one_of(&["manual", "scheduled"])),
        ("KeyView", "scope", one_of(&["all", "selected"])),
        ("CollaboratorView", "role", one_of(&["admin", "developer", "viewer"])),
        ("UserView", "state", one_of(&["creating", "ready", "removing"])),
        ("MeView", "plan", one_of(&["free", "pro", "business"])),
        ("MeView", "platform_role", one_of(&["user", "admin"])),
        ("SessionUserView", "platform_role", one_of(&["user", "admin"])),
        ("AccountPlanView", "plan", one_of(&["free", "pro", "business"])),
        ("AccountView", "plan", one_of(&["free", "pro", "business"])),
        ("IncidentView", "state", one_of(&["open", "resolved"])),
    ]
}

/// Rules across properties: exactly one of `database_ids` and `databases` with, and neither
/// without, `scope: "selected"`
/// (`routes::api_keys::create`); the dashboard's sign-in takes exactly one credential
/// (`cookie::sign_in`; a null counts as absent).
fn objects() -> Vec<(&'static str, Value)> {
    let credential = |field: &str| json!({"required": [field], "properties": {field: {"type": "string"}}});
    vec![
        (
            "CreateKey",
            json!({"anyOf": [
                {"properties": {"scope": {"enum": ["all", null]}, "database_ids": {"type": "null"},
                                "databases": {"type": "null"}}},
                {"properties": {"scope": {"const": "selected"}, "database_ids": {"type": "array", "minItems": 1},
                                "databases": {"type": "null"}},
                 "required": ["scope", "database_ids"]},
                {"properties": {"scope": {"const": "selected"}, "databases": {"type": "array", "minItems": 1},
                                "database_ids": {"type": "null"}},
                 "required": ["scope", "databases"]}
            ]}),
        ),
        ("CookieSignIn", json!({"oneOf": [credential("api_key"), credential("token"), credential("id_token")]})),
        // Exactly one of `jwks_url` and `jwks` (`domain::AuthConfig::validated`).
        (
            "ByoJwtBody",
            json!({"oneOf": [
                {"required": ["jwks_url"], "properties": {"jwks_url": {"type": "string"}, "jwks": {"type": "null"}}},
                {"required": ["jwks"], "properties": {"jwks": {"type": "object"}, "jwks_url": {"type": "null"}}}
            ]}),
        ),
        // Exactly one of `query` and `file_content` (`control::sql::run`; a null counts as absent).
        (
            "SqlBody",
            json!({"oneOf": [
                {"required": ["query"], "properties": {"query": {"type": "string"}, "file_content": {"type": "null"}}},
                {"required": ["file_content"], "properties": {"file_content": {"type": "string"}, "query": {"type": "null"}}}
            ]}),
        ),
    ]
}

/// (operationId, query parameter, its schema).
fn parameters() -> Vec<(&'static str, &'static str, Value)> {
    let activity_cursor = json!({"type": "string", "pattern": "^[0-9]{1,18}$"});
    vec![
        ("listDatabases", "cursor", id("db")),
        ("listIncidents", "cursor", id("inc")),
        ("listIncidents", "state", one_of(&["open", "resolved"])),
        ("listAccounts", "cursor", id("acct")),
        ("listAccounts", "plan", one_of(&["free", "pro", "business"])),
        ("listActivity", "cursor", activity_cursor.clone()),
        ("listDatabaseActivity", "cursor", activity_cursor),
        ("listApprovals", "cursor", id("apr")),
        ("listQueries", "cursor", id("qry")),
        ("listQueries", "source", one_of(&["sql", "explorer", "migration", "approval", "data_api"])),
    ]
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        for (k, v) in from {
            into.insert(k, v);
        }
    }
}

pub fn constrain(doc: &mut Value) {
    for (schema, property, rule) in properties() {
        if let Some(p) = doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{property}")) {
            let description = p.get("description").cloned();
            *p = rule;
            if let (Some(d), None) = (description, p.get("description")) {
                p["description"] = d;
            }
        }
    }
    for (schema, rule) in objects() {
        if let Some(s) = doc.pointer_mut(&format!("/components/schemas/{schema}")) {
            merge(s, rule);
        }
    }
    let rules = parameters();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|i| i.values_mut()) {
        let id = op.get("operationId").and_then(Value::as_str).unwrap_or_default().to_owned();
        let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
        for p in params.iter_mut() {
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            if let Some((_, _, rule)) = rules.iter().find(|(o, n, _)| *o == id && *n == name) {
                merge(&mut p["schema"], rule.clone());
            }
            // Any other text filter: no control characters (`body::query`).
            let in_query = p["in"] == "query";
            let schema = &mut p["schema"];
            let text =
                schema["type"] == "string" || schema["type"].as_array().is_some_and(|t| t.contains(&"string".into()));
            let free =
                schema.get("pattern").is_none() && schema.get("enum").is_none() && schema.get("format").is_none();
            if in_query && text && free {
                schema["pattern"] = TEXT.into();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule lands on a field the document has (a renamed field must not drop its rule).
    #[test]
    fn every_rule_finds_its_field() {
        let doc = crate::openapi::document();
        for (schema, property, rule) in properties() {
            let p = doc.pointer(&format!("/components/schemas/{schema}/properties/{property}"));
            assert_eq!(p.and_then(|p| p.get("type")), rule.get("type"), "{schema}.{property}");
        }
        let text = doc.to_string();
        for (op, param, _) in parameters() {
            assert!(text.contains(&format!("\"operationId\":\"{op}\"")), "{op}.{param}");
        }
    }
}
