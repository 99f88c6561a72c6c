//! The JWK Sets the data API verifies bearer JWTs with, per database: parsed from the auth
//! config's inline `jwks`, or fetched from its `jwks_url` and kept in memory.
//!
//! Refresh rules for a URL:
//! - keys older than [`MAX_AGE`] are fetched again on the next verification (the schedule:
//!   an idle database costs no fetch);
//! - a token whose `kid` the keys do not hold fetches again at once (an issuer rotated its
//!   keys), at most once per [`REFETCH_AFTER`] per database, so tokens with made-up `kid`s
//!   cannot make us hammer the issuer;
//! - a failed fetch keeps the keys we have for up to [`STALE_FOR`] (the issuer is down, not
//!   the keys wrong) and is logged without the URL's query;
//! - every fetch has a deadline ([`FETCH_TIMEOUT`]), follows no redirect, and reads at most
//!   [`MAX_BYTES`].
//!
//! One fetch per database at a time: verifications of a database wait on its entry's lock
//! while it fetches, instead of each fetching.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{AuthConfig, DatabaseId};
use jsonwebtoken::jwk::JwkSet;

pub const MAX_AGE: Duration = Duration::from_secs(300);
pub const REFETCH_AFTER: Duration = Duration::from_secs(5);
pub const STALE_FOR: Duration = Duration::from_secs(3600);
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_BYTES: usize = 256 * 1024;
/// Databases whose keys are kept at most; past it, an arbitrary one makes room.
const CAPACITY: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS could not be fetched: {0}")]
    Fetch(String),
    #[error("the JWKS is not a JWK Set: {0}")]
    Parse(String),
}

#[derive(Default)]
struct Entry {
    /// What the keys were read from (the URL, or the inline set's text).
    source: String,
    keys: Option<Arc<JwkSet>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

pub struct JwksCache {
    http: reqwest::Client,
    /// Whether a `jwks_url` may name a loopback, private or link-local address (`[limits]
    /// jwks_private_networks`, off by default): a tenant's auth config must not make the API
    /// process reach what only it can reach (the control plane's database, a cloud metadata
    /// service).
    private_networks: bool,
    entries: parking_lot::Mutex<HashMap<DatabaseId, Arc<tokio::sync::Mutex<Entry>>>>,
}

fn client() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("berth-jwks/1")
}

/// A client that reaches `url`'s host only at an address checked to be public: the name is
/// resolved here, every address it resolves to must be public, and the connection goes to
/// the first (pinned, so a second lookup cannot answer otherwise).
async fn pinned_to_public(url: &str) -> Result<reqwest::Client, JwksError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| JwksError::Fetch("not a URL".into()))?;
    let host = parsed.host_str().ok_or_else(|| JwksError::Fetch("the URL has no host".into()))?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<std::net::SocketAddr> = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(FETCH_TIMEOUT, tokio::net::lookup_host((bare, port)))
            .await
            .map_err(|_| JwksError::Fetch("resolving the host timed out".into()))?
            .map_err(|_| JwksError::Fetch("the host does not resolve".into()))?
            .collect(),
    };
    if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(JwksError::Fetch("the host is not on a public network".into()));
    }
    client().resolve(bare, addrs[0]).build().map_err(|e| JwksError::Fetch(e.to_string()))
}

/// Whether `ip` is a public unicast address (not loopback, private, link-local, shared,
/// documentation, multicast or unspecified).
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

/// Parses a JWK Set (inline, or a fetched body).
pub fn parse(text: &[u8]) -> Result<JwkSet, JwksError> {
    serde_json::from_slice(text).map_err(|e| JwksError::Parse(e.to_string()))
}

impl JwksCache {
    pub fn new(private_networks: bool) -> anyhow::Result<Self> {
        Ok(Self { http: client().build()?, private_networks, entries: Default::default() })
    }

    fn entry(&self, db: DatabaseId) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut entries = self.entries.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(&db) {
            if let Some(k) = entries.keys().next().copied() {
                entries.remove(&k);
            }
        }
        entries.entry(db).or_default().clone()
    }

    /// Forgets a database's keys (its auth config changed in this process).
    pub fn forget(&self, db: DatabaseId) {
        self.entries.lock().remove(&db);
    }

    /// The keys for `config`, holding `kid` if they can (see the module's rules).
    pub async fn keys(&self, db: DatabaseId, config: &AuthConfig, kid: Option<&str>) -> Result<Arc<JwkSet>, JwksError> {
        if let Some(inline) = &config.jwks {
            // Inline keys are in the config itself: parsed on every call, nothing to keep fresh.
            return Ok(Arc::new(parse(inline.to_string().as_bytes())?));
        }
        let Some(url) = &config.jwks_url else { return Err(JwksError::Parse("no key source".into())) };
        let entry = self.entry(db);
        let mut e = entry.lock().await;
        if e.source != *url {
            *e = Entry { source: url.clone(), ..Entry::default() };
        }
        let now = Instant::now();
        let age = e.fetched_at.map(|t| now.duration_since(t));
        let missing_kid = match (&e.keys, kid) {
            (Some(keys), Some(kid)) => keys.find(kid).is_none(),
            _ => false,
        };
        let may_retry = e.attempted_at.is_none_or(|t| now.duration_since(t) >= REFETCH_AFTER);
        let due = e.keys.is_none() || age.is_some_and(|a| a >= MAX_AGE) || missing_kid;
        if due && may_retry {
            e.attempted_at = Some(now);
            match self.fetch(url).await {
                Ok(keys) => {
                    e.keys = Some(Arc::new(keys));
                    e.fetched_at = Some(Instant::now());
                }
                Err(err) => {
                    tracing::warn!(database_id = %db, error = %err, "fetching a data-API JWKS failed");
                    if age.is_none_or(|a| a >= STALE_FOR) {
                        e.keys = None;
                        return Err(err);
                    }
                }
            }
        }
        e.keys.clone().ok_or_else(|| JwksError::Fetch("no keys fetched yet; retry shortly".into()))
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, JwksError> {
        // Errors are described without the URL: it may carry a token in its query.
        let fail = |e: reqwest::Error| JwksError::Fetch(e.without_url().to_string());
        let http = if self.private_networks { self.http.clone() } else { pinned_to_public(url).await? };
        let mut res = http.get(url).send().await.map_err(fail)?;
        if !res.status().is_success() {
            return Err(JwksError::Fetch(format!("the issuer answered {}", res.status())));
        }
        if res.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(JwksError::Fetch(format!("over {MAX_BYTES} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(JwksError::Fetch(format!("over {MAX_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        parse(&body)
    }
}

#[cfg(test)]
mod address_tests {
    use super::{is_public, pinned_to_public};

    #[tokio::test]
    async fn a_url_naming_a_private_host_is_not_fetched() {
        for url in
            ["http://127.0.0.1:9/jwks", "http://localhost/jwks", "http://[::1]/jwks", "http://169.254.169.254/latest"]
        {
            let refused = pinned_to_public(url).await.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                refused.contains("not on a public network") || refused.contains("does not resolve"),
                "{url}: {refused}"
            );
        }
        assert!(pinned_to_public("https://8.8.8.8/jwks").await.is_ok());
    }

    #[test]
    fn only_public_addresses_are_fetched_from() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }
}
