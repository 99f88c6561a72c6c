//! Helpers for end-to-end tests: typed calls to the API of the shared in-process platform
//! (`ops::harness`), and real clients connecting through PgBouncer.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use ops::harness::{self, Harness};

pub mod data;

pub fn app() -> &'static Harness {
    harness::shared()
}

/// A response as a test looks at it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub request_id: Option<String>,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        self
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!((self.status, self.code()), (status, code), "body: {}", self.body);
        assert!(self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.body);
        self
    }
}

/// An API client holding one credential.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: Option<String>,
    http: reqwest::Client,
}

impl Api {
    pub fn new(key: Option<&str>) -> Self {
        Self { base: app().api_url.clone(), key: key.map(str::to_owned), http: reqwest::Client::new() }
    }

    /// A client for a brand-new user with an account of their own.
    pub async fn new_user() -> Self {
        let user = app().new_user("user").await.expect("creating a test user");
        Self::new(Some(&user.key))
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<reqwest::Body>) -> Resp {
        let url = if path.starts_with('/')
            && !path.starts_with("/api")
            && !path.starts_with("/healthz")
            && !path.starts_with("/readyz")
        {
            format!("{}/api/v1{path}", self.base)
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, url);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("the API answers");
        let status = resp.status().as_u16();
        let request_id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = resp.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp { status, body, request_id }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(body.to_string().into())).await
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Resp {
        self.send(reqwest::Method::POST, path, Some(body.into())).await
    }

    pub async fn create_database(&self, name: &str) -> Resp {
        self.post("/databases", json!({ "name": name })).await
    }

    /// Creates `name` and waits until it is running; returns the create response's data.
    pub async fn create_running(&self, name: &str) -> Value {
        let r = self.create_database(name).await;
        assert!(r.status == 201 || r.status == 202, "create {name}: {} {}", r.status, r.body);
        let id = r.data()["id"].as_str().expect("id").to_owned();
        self.wait_state(&id, "running").await;
        r.data().clone()
    }

    /// Polls the database until it reaches `state` (or 404 for "deleted"), with a deadline.
    pub async fn wait_state(&self, id: &str, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get(&format!("/databases/{id}")).await;
            let now = if r.status == 404 { "deleted" } else { r.data()["state"].as_str().unwrap_or("?") };
            if now == state {
                return;
            }
            assert!(Instant::now() < deadline, "database {id} did not reach {state}; last: {} {}", r.status, r.body);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls an operation until it finishes; returns it.
    pub async fn wait_operation(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get(&format!("/operations/{id}")).await;
            r.expect(200);
            let state = r.data()["state"].as_str().unwrap_or("");
            if state == "succeeded" || state == "failed" {
                return r.data().clone();
            }
            assert!(Instant::now() < deadline, "operation {id} did not finish: {}", r.body);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A unique, valid database name for a test.
pub fn unique_name(label: &str) -> String {
    format!("{label}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// Connects as a client would, with a `postgresql://` URL from the API.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The tenant host's PostgreSQL as superuser (to check what really exists there).
pub async fn host_superuser() -> tokio_postgres::Client {
    connect(&app().platform.host.pg.dsn("postgres")).await.expect("superuser connects to the tenant host")
}

/// PgBouncer's admin console on the tenant host.
pub async fn bouncer_admin() -> tokio_postgres::Client {
    connect(&app().platform.host.bouncer.admin_dsn()).await.expect("pgbouncer admin console")
}

pub async fn served_pools() -> Vec<String> {
    hostctl::host::served_databases(&bouncer_admin().await).await.expect("SHOW DATABASES")
}

/// Roles and databases of `name` on the tenant host: (roles, databases).
pub async fn host_objects(name: &str) -> (i64, i64) {
    let c = host_superuser().await;
    let roles: i64 =
        c.query_one("select count(*) from pg_roles where rolname::text = $1", &[&name]).await.expect("q").get(0);
    let dbs: i64 =
        c.query_one("select count(*) from pg_database where datname::text = $1", &[&name]).await.expect("q").get(0);
    (roles, dbs)
}
