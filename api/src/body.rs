//! `Json<T>` that behaves as API.md says: the body is JSON whatever the Content-Type
//! (`curl -d` sends form encoding), a body over the cap is refused with 413 before it is
//! read whole, and a bad body names the field at fault. `Query<T>` likewise for query
//! strings. Neither lets a control character (NUL, newline, DEL, C1 …) into a text field or
//! filter: API.md makes that 400 `INVALID_REQUEST`, checked here once for every route
//! rather than per field (PostgreSQL would refuse a NUL with a 500 later).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error};

/// The body-size cap, set as app data.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_capped(req, payload);
        Box::pin(async move { parse(&read.await?).map(Json).map_err(ApiError) })
    }
}

/// Bodies with fields of multi-line text (SQL): in those top-level fields tabs and line
/// breaks are text, not refused; every other control character still is (NUL above all).
pub trait Multiline {
    const MULTILINE: &'static [&'static str];
    /// Top-level fields that are data, not text (values bound as SQL parameters, which may
    /// hold any character a value may): not checked at all.
    const DATA: &'static [&'static str] = &[];
}

impl Multiline for wire::ApplyMigration {
    const MULTILINE: &'static [&'static str] = &["sql"];
}

impl Multiline for wire::SqlBody {
    const MULTILINE: &'static [&'static str] = &["query", "file_content"];
    const DATA: &'static [&'static str] = &["params"];
}

/// Like [`Json`], for a body with multi-line text fields ([`Multiline`]).
pub struct MultilineJson<T>(pub T);

impl<T: DeserializeOwned + Multiline + 'static> FromRequest for MultilineJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_capped(req, payload);
        Box::pin(async move { parse_fields(&read.await?, T::MULTILINE, T::DATA).map(MultilineJson).map_err(ApiError) })
    }
}

/// Like [`Json`], but an empty body means `T::default()` (for bodies whose fields are all
/// optional, e.g. `POST …/backups {label?}`).
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for JsonOrEmpty<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_capped(req, payload);
        Box::pin(async move {
            let bytes = read.await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(JsonOrEmpty(T::default()));
            }
            parse(&bytes).map(JsonOrEmpty).map_err(ApiError)
        })
    }
}

/// Reads the body, refusing it with 413 as soon as it is known to be over the cap.
fn read_capped(req: &HttpRequest, payload: &mut Payload) -> impl Future<Output = Result<web::BytesMut, Error>> {
    let limit = req.app_data::<web::Data<BodyLimit>>().map(|l| l.0).unwrap_or(1 << 20);
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    async move {
        if declared.is_some_and(|n| n > limit) {
            if declared.is_some_and(|n| n <= DRAIN_MAX) {
                drain(&mut payload, 0).await;
            }
            return Err(Error::PayloadTooLarge(limit));
        }
        let mut buf = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| Error::InvalidRequest("could not read the request body".into()))?;
            if buf.len() + chunk.len() > limit {
                drain(&mut payload, buf.len() + chunk.len()).await;
                return Err(Error::PayloadTooLarge(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    }
}

/// How much of a refused body is still read (and dropped) before the 413 goes out, and for
/// how long. A server that answers while the client is still sending and then closes makes
/// the client's next write fail (EPIPE), and most HTTP clients then report that error, not
/// the 413: reading the rest lets them see the answer. Past these bounds the connection is
/// closed anyway — nobody is owed a read of an arbitrarily large upload.
const DRAIN_MAX: usize = 8 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

async fn drain(payload: &mut Payload, mut read: usize) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = payload.next().await {
            read += chunk.len();
            if read > DRAIN_MAX {
                break;
            }
        }
    })
    .await;
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    parse_text(bytes, &[])
}

/// [`parse`], with tabs and line breaks allowed in the top-level fields `multiline`.
pub fn parse_text<T: DeserializeOwned>(bytes: &[u8], multiline: &[&str]) -> Result<T, Error> {
    parse_fields(bytes, multiline, &[])
}

/// [`parse_text`], with the top-level fields `data` not checked for control characters.
fn parse_fields<T: DeserializeOwned>(bytes: &[u8], multiline: &[&str], data: &[&str]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::InvalidRequest("the request body is empty; a JSON object is expected".into()));
    }
    if holds_control(bytes) {
        if let Some(refused) = control_in_body(bytes, multiline, data) {
            return Err(refused);
        }
    }
    // Every body is an object; serde would also take a struct as an array of its fields.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b == b'[') {
        return Err(Error::InvalidRequest("invalid request body: expected a JSON object, not an array".into()));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = if inner.is_syntax() || inner.is_eof() {
            format!("the request body is not valid JSON: {inner}")
        } else if path == "." || path.is_empty() {
            format!("invalid request body: {}", plain(&inner.to_string()))
        } else {
            format!("invalid field `{path}`: {}", plain(&inner.to_string()))
        };
        Error::InvalidRequest(msg)
    })
}

/// A serde message in the API's words: JSON's type names, not Rust's (`expected struct
/// CreateDatabase with 2 elements` → `expected a JSON object`, `expected u64` → `expected a
/// non-negative integer`), without the parser's position.
pub fn plain(msg: &str) -> String {
    let mut msg = match msg.find(" at line ") {
        Some(at) => msg[..at].to_owned(),
        None => msg.to_owned(),
    };
    if let Some(at) = msg.find("expected struct ") {
        msg = format!("{}expected a JSON object", &msg[..at]);
    }
    if let Some(at) = msg.find("expected enum ") {
        msg = format!("{}expected one of the allowed values", &msg[..at]);
    }
    for (rust, json) in [
        ("sequence", "array"),
        ("a map", "an object"),
        ("invalid type: map", "invalid type: object"),
        ("unit value", "null"),
        ("expected usize", "expected a non-negative integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer"),
        ("expected u16", "expected a non-negative integer"),
        ("expected u8", "expected a non-negative integer"),
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected i16", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
    ] {
        msg = msg.replace(rust, json);
    }
    msg
}

/// Whether a JSON text holds a control character in a string, raw or escaped (`\u0000`,
/// `\n`, …). Raw tabs and line breaks between tokens are JSON whitespace, not text (inside a
/// string they are a syntax error the parser reports).
fn holds_control(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    if text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return true;
    }
    // Backslashes occur only inside strings: walk the escapes.
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'b' | b'f' | b'n' | b'r' | b't') => return true,
            Some(b'u') => {
                let hex = bytes.get(i + 2..i + 6).and_then(|h| std::str::from_utf8(h).ok());
                let code = hex.and_then(|h| u32::from_str_radix(h, 16).ok());
                if code.and_then(char::from_u32).is_some_and(char::is_control) {
                    return true;
                }
                i += 6;
            }
            _ => i += 2,
        }
    }
    false
}

/// The refusal of a body with a control character, naming the field that holds it; `None`
/// when the only ones are tabs and line breaks in the top-level fields `multiline`, or
/// anything in the top-level fields `data`.
fn control_in_body(bytes: &[u8], multiline: &[&str], data: &[&str]) -> Option<Error> {
    fn find(v: &serde_json::Value, path: String, multiline: &[&str], data: &[&str]) -> Option<String> {
        match v {
            serde_json::Value::String(s) => {
                let lines = multiline.contains(&path.as_str());
                let refused = |c: char| c.is_control() && !(lines && matches!(c, '\t' | '\n' | '\r'));
                s.chars().any(refused).then_some(path)
            }
            serde_json::Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, item)| find(item, format!("{path}[{i}]"), &[], &[]))
            }
            serde_json::Value::Object(fields) => fields.iter().find_map(|(k, item)| {
                let key: String = k.chars().filter(|c| !c.is_control()).collect();
                if k.chars().any(char::is_control) {
                    return Some(key);
                }
                let top = path.is_empty();
                if top && data.contains(&k.as_str()) {
                    return None;
                }
                let (path, multiline) = if top { (key, multiline) } else { (format!("{path}.{key}"), &[][..]) };
                find(item, path, multiline, &[])
            }),
            _ => None,
        }
    }
    let parsed = serde_json::from_slice::<serde_json::Value>(bytes).ok();
    let field = parsed.as_ref().map(|v| find(v, String::new(), multiline, data));
    match field {
        Some(None) if !multiline.is_empty() || !data.is_empty() => None,
        Some(Some(f)) if !f.is_empty() => {
            Some(Error::InvalidRequest(format!("invalid field `{f}`: control characters are not allowed in text")))
        }
        _ => Some(Error::InvalidRequest("invalid request body: control characters are not allowed in text".into())),
    }
}

/// `web::Query<T>`, refusing control characters in any parameter (name or value).
pub struct Query<T>(pub T);

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(query(req.query_string()).map(Query).map_err(ApiError))
    }
}

pub fn query<T: DeserializeOwned>(qs: &str) -> Result<T, Error> {
    if let Ok(pairs) = web::Query::<Vec<(String, String)>>::from_query(qs) {
        for (k, v) in pairs.iter() {
            if k.chars().chain(v.chars()).any(char::is_control) {
                let name: String = k.chars().filter(|c| !c.is_control()).collect();
                return Err(Error::InvalidRequest(format!(
                    "invalid query parameter `{name}`: control characters are not allowed"
                )));
            }
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(qs.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let what = match field.as_str() {
            "limit" => "must be an integer between 1 and 200".to_owned(),
            "since" | "until" => "must be an RFC 3339 timestamp (e.g. 2026-01-31T12:00:00Z)".to_owned(),
            _ => plain(&e.into_inner().to_string()),
        };
        if field.is_empty() || field == "." {
            return Error::InvalidRequest(format!("invalid query string: {what}"));
        }
        Error::InvalidRequest(format!("invalid query parameter `{field}`: {what}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        name: String,
    }

    fn msg(r: Result<Req, Error>) -> String {
        match r {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("expected INVALID_REQUEST, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_at_fault() {
        assert!(msg(parse(br#"{"name": 5}"#)).contains("`name`"));
        assert!(msg(parse(br#"{"name": "x", "extra": 1}"#)).contains("extra"));
        assert!(msg(parse(br#"{}"#)).contains("name"));
        assert!(msg(parse(b"")).contains("empty"));
        assert!(msg(parse(b"{")).contains("not valid JSON"));
        assert!(msg(parse(b"[]")).contains("invalid"));
    }

    #[test]
    fn control_characters_in_text_are_refused_and_named() {
        for body in
            [r#"{"name": "a\u0000b"}"#, r#"{"name": "a\nb"}"#, r#"{"name": "a\u007fb"}"#, "{\"name\": \"a\u{85}b\"}"]
        {
            let m = msg(parse(body.as_bytes()));
            assert!(m.contains("`name`") && m.contains("control"), "{body}: {m}");
        }
        // An escaped backslash followed by `u0000` is text, not a NUL; whitespace is fine.
        assert!(parse::<Req>(br#"{"name": "a\\u0000b"}"#).is_ok());
        assert!(parse::<Req>(b"{\n\t\"name\": \"x\"\r\n}").is_ok());
        assert!(parse::<Req>(r#"{"name": "caf\u00e9 \ud83d\ude00"}"#.as_bytes()).is_ok());
    }

    #[test]
    fn multiline_fields_take_line_breaks_and_tabs_only() {
        let sql = |body: &str| parse_text::<wire::ApplyMigration>(body.as_bytes(), &["sql"]);
        assert!(sql(r#"{"name": "m1", "sql": "create table t (\n\ta int\r\n);"}"#).is_ok());
        for body in [
            r#"{"name": "m1", "sql": "select 1\u0000"}"#,
            r#"{"name": "m1", "sql": "select\u001b 1"}"#,
            r#"{"name": "m\n1", "sql": "select 1"}"#,
        ] {
            assert!(matches!(sql(body), Err(Error::InvalidRequest(m)) if m.contains("control")), "{body}");
        }
    }

    #[test]
    fn data_fields_are_values_and_not_checked() {
        let body = |b: &str| parse_fields::<wire::SqlBody>(b.as_bytes(), &["query"], &["params"]);
        let ok = body(r#"{"query": "select $1::text,\n $2::jsonb", "params": ["a\u0000b\nc", {"k\u0001": "\u001b"}]}"#);
        assert_eq!(ok.expect("params are data").params.len(), 2);
        let nul = body(r#"{"query": "select 1\u0000", "params": []}"#);
        assert!(matches!(nul, Err(Error::InvalidRequest(m)) if m.contains("`query`")));
    }

    #[test]
    fn control_characters_in_query_strings_are_refused() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Q {
            action: Option<String>,
        }
        assert!(matches!(query::<Q>("action=a%00b"), Err(Error::InvalidRequest(m)) if m.contains("`action`")));
        assert!(query::<Q>("action=a%0Ab").is_err());
        assert!(query::<Q>("action=database.create").is_ok());
    }

    #[test]
    fn errors_speak_json_not_rust() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            name: String,
            ttl_seconds: Option<u64>,
        }
        for (body, want) in [
            (r#"[]"#, "expected a JSON object"),
            (r#"["a", 1]"#, "expected a JSON object"),
            (
                r#"{"name": "a", "ttl_seconds": -1}"#,
                "`ttl_seconds`: invalid value: integer `-1`, expected a non-negative integer",
            ),
            (r#"{"name": {}}"#, "`name`: invalid type: object, expected a string"),
        ] {
            let m = match parse::<Body>(body.as_bytes()) {
                Err(Error::InvalidRequest(m)) => m,
                other => panic!("{body}: {other:?}"),
            };
            assert!(m.contains(want), "{body}: {m}");
            assert!(!m.contains("struct") && !m.contains("u64") && !m.contains("Body"), "{body}: {m}");
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Q {
            limit: Option<i64>,
            since: Option<chrono::DateTime<chrono::Utc>>,
        }
        let m = match query::<Q>("limit=abc") {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(m, "invalid query parameter `limit`: must be an integer between 1 and 200");
        assert!(
            matches!(query::<Q>("since=yesterday"), Err(Error::InvalidRequest(m)) if m.contains("`since`: must be an RFC 3339"))
        );
        assert!(query::<Q>("limit=5&since=2026-01-31T12:00:00Z").is_ok());
    }
}
