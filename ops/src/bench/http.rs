//! A small timed HTTP client of the public API for benchmarks that act as users: every
//! request's status and latency as the client saw them, and waits for what a 202 left
//! running.

use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// One answer: `status` is `None` when none came (connection error or client timeout).
pub struct Answer {
    pub status: Option<u16>,
    pub took: Duration,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// `data.<field>` as text.
    pub fn field(&self, field: &str) -> Option<String> {
        self.body["data"][field].as_str().map(str::to_owned)
    }
}

/// How often a wait polls.
const POLL: Duration = Duration::from_millis(20);

impl Api {
    pub fn new(base: &str, key: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Self { http, base: format!("{base}/api/v1"), key: key.to_owned() })
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let t = Instant::now();
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let bytes = r.bytes().await.unwrap_or_default();
                let took = t.elapsed();
                Answer { status: Some(status), took, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
            }
            Err(_) => Answer { status: None, took: t.elapsed(), body: Value::Null },
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Polls `path` until `data.state` is one of `ends`; the state it ended in, or `None`
    /// past `within`.
    pub async fn wait_state(&self, path: &str, ends: &[&str], within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let a = self.get(path).await;
            if let Some(s) = a.field("state").filter(|s| ends.contains(&s.as_str())) {
                return Some(s);
            }
            tokio::time::sleep(POLL).await;
        }
        None
    }

    /// The final state of an operation (`succeeded` or `failed`), or `None` past `within`.
    pub async fn wait_operation(&self, op: &str, within: Duration) -> Option<String> {
        self.wait_state(&format!("/operations/{op}"), &["succeeded", "failed"], within).await
    }

    /// The final state of a backup (`succeeded` or `failed`), or `None` past `within`.
    pub async fn wait_backup(&self, db: &str, backup: &str, within: Duration) -> Option<String> {
        self.wait_state(&format!("/databases/{db}/backups/{backup}"), &["succeeded", "failed"], within).await
    }
}
