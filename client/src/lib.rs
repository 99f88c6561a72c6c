//! A typed async client for Berth's HTTP API (API.md), used by the `berth` CLI and by tests.
//! One method per route (see `routes`), returning the shapes the server publishes (`wire`);
//! errors tell an API refusal (status, code, message, request id) from a network failure.
//! `wait` follows an operation or a database to the state the caller waits for.

mod data_api;
mod error;
mod routes;
mod sql;
pub use routes::Lifecycle;
pub use sql::SqlReply;
mod wait;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

pub use error::{ApiError, Error};
pub use wait::{Progress, WaitFor};
/// The request and response bodies, as the server publishes them.
pub use wire;

/// A successful answer: the typed `data`, the same `data` as the server sent it, byte for
/// byte (what `--json` prints), and the answer's status and request id.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub data: T,
    pub raw: Box<RawValue>,
    pub status: u16,
    pub request_id: Option<String>,
    /// List endpoints: where the next page starts.
    pub next_cursor: Option<String>,
}

impl<T> Reply<T> {
    /// The raw `data` of a list, element by element (each as the server sent it).
    pub fn raw_items(&self) -> Vec<Box<RawValue>> {
        serde_json::from_str(self.raw.get()).unwrap_or_default()
    }
}

impl<T> std::ops::Deref for Reply<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

/// An answer with no body (204) or whose body is not needed (202 on a removal).
#[derive(Debug, Clone)]
pub struct Done {
    pub status: u16,
    pub request_id: Option<String>,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `…/api/v1`, no trailing slash.
    base: String,
    key: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Client").field("base", &self.base).field("key", &self.key.as_ref().map(|_| "…")).finish()
    }
}

/// The envelope of every success answer.
#[derive(serde::Deserialize)]
struct Envelope {
    data: Box<RawValue>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(serde::Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    request_id: Option<String>,
}

impl Client {
    /// `url` is the API's root (`http://host:port`; a trailing `/api/v1` is accepted too).
    /// Requests carry `Authorization: Bearer <api_key>` when a key is given.
    pub fn new(url: &str, api_key: Option<&str>) -> Result<Self, Error> {
        let root = url.trim_end_matches('/');
        let root = root.strip_suffix("/api/v1").unwrap_or(root);
        let parsed = reqwest::Url::parse(root).map_err(|e| Error::Local(format!("invalid API URL {root:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Local(format!("invalid API URL {root:?}: not http or https")));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("berth-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Local(format!("HTTP client: {e}")))?;
        Ok(Self { http, base: format!("{root}/api/v1"), key: api_key.map(str::to_owned) })
    }

    /// The API root this client talks to (without `/api/v1`).
    pub fn url(&self) -> &str {
        self.base.strip_suffix("/api/v1").unwrap_or(&self.base)
    }

    /// A request to `path` (under `/api/v1`), with the key.
    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base)).timeout(Duration::from_secs(120));
        match &self.key {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    /// Sends a request and turns an error status into [`Error::Api`]. A 429 with a short
    /// `retry-after` is retried (up to 3 times): the server did nothing with the request.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let mut req = req;
        let mut retries = 0;
        loop {
            let again = req.try_clone();
            let resp = req.send().await.map_err(|e| Error::network(&e))?;
            if resp.status().is_success() {
                return Ok(resp);
            }
            let wait = retry_after(&resp).filter(|w| *w <= MAX_RETRY_AFTER);
            match (resp.status() == StatusCode::TOO_MANY_REQUESTS && retries < 3, again, wait) {
                (true, Some(next), Some(wait)) => {
                    let _ = resp.bytes().await;
                    tokio::time::sleep(wait).await;
                    req = next;
                    retries += 1;
                }
                _ => return Err(error_from(resp).await),
            }
        }
    }

    /// A request whose answer is `{"data": …}` (or a page of a list).
    async fn data<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<Reply<T>, Error> {
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        let request_id = request_id(&resp);
        let bytes = resp.bytes().await.map_err(|e| Error::network(&e))?;
        let protocol = |message: String| Error::Protocol { status, message, request_id: request_id.clone() };
        let env: Envelope =
            serde_json::from_slice(&bytes).map_err(|e| protocol(format!("not the data envelope: {e}")))?;
        let data = serde_json::from_str(env.data.get()).map_err(|e| protocol(format!("unexpected data: {e}")))?;
        Ok(Reply { data, raw: env.data, status, request_id, next_cursor: env.next_cursor })
    }

    /// A request whose answer has no body worth reading.
    async fn done(&self, req: reqwest::RequestBuilder) -> Result<Done, Error> {
        let resp = self.send(req).await?;
        let done = Done { status: resp.status().as_u16(), request_id: request_id(&resp) };
        // Drain, so the connection can be reused.
        let _ = resp.bytes().await;
        Ok(done)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.req(Method::GET, path)
    }

    fn post<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> reqwest::RequestBuilder {
        self.req(Method::POST, path).json(body)
    }
}

/// The longest `retry-after` waited out rather than reported.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// `retry-after` in seconds (the only form the API sends).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let secs = resp.headers().get("retry-after")?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs.max(1)))
}

fn request_id(resp: &reqwest::Response) -> Option<String> {
    resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The API error of a non-2xx answer; a body that is not the error envelope still gives
/// the status and the request id.
async fn error_from(resp: reqwest::Response) -> Error {
    let status = resp.status();
    let header_id = request_id(&resp);
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Error::network(&e),
    };
    match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
        Ok(env) => Error::Api(ApiError {
            status: status.as_u16(),
            code: env.error.code,
            message: env.error.message,
            request_id: env.error.request_id.or(header_id),
        }),
        Err(_) => Error::Api(ApiError {
            status: status.as_u16(),
            code: format!("HTTP_{}", status.as_u16()),
            message: status.canonical_reason().unwrap_or("error").to_owned(),
            request_id: header_id,
        }),
    }
}

/// RFC 3986 unreserved characters stay; every other byte is percent-encoded.
const ESCAPED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one path segment (ids and names come from users).
fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, ESCAPED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_root_is_normalised_and_must_be_http() {
        let c = Client::new("http://127.0.0.1:8080/api/v1/", None).expect("valid");
        assert_eq!(c.url(), "http://127.0.0.1:8080");
        assert_eq!(c.base, "http://127.0.0.1:8080/api/v1");
        assert!(matches!(Client::new("ftp://x", None), Err(Error::Local(_))));
        assert!(matches!(Client::new("not a url", None), Err(Error::Local(_))));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("db_01ABC"), "db_01ABC");
        assert_eq!(seg("../admin?x=1"), "..%2Fadmin%3Fx%3D1");
        assert_eq!(seg("a b#"), "a%20b%23");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = Client::new("http://h", Some("brth_abcdefgh_secret")).expect("valid");
        assert!(!format!("{c:?}").contains("secret"));
    }
}
