//! Helpers for end-to-end tests: typed calls to the API of the shared in-process platform
//! (`ops::harness`), and real clients connecting through PgBouncer.

use std::time::Duration;

use serde_json::{json, Value};

pub use ops::harness::wait::{consistently, eventually, eventually_blocking, eventually_every, Check};
pub use ops::harness::{self, Harness};

pub mod data;
pub mod engine;
pub mod fixtures;
pub mod maria;

/// The binary's platform, configured for tests on first use: small free-plan quotas, an
/// OIDC issuer of our own, every log line captured (see [`fixtures::captured_logs`]), and a
/// MariaDB tenant host beside PostgreSQL's (about half a second more to boot), so that any
/// suite can run its scenarios for both engines ([`engine`]).
pub fn app() -> &'static Harness {
    fixtures::configure_once();
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

    /// A client whose requests come from `source` (another loopback address, e.g. 127.0.0.2).
    pub fn from_source(key: Option<&str>, source: std::net::IpAddr) -> Self {
        let http = reqwest::Client::builder().local_address(source).build().expect("a client");
        Self { base: app().api_url.clone(), key: key.map(str::to_owned), http }
    }

    /// A client for a brand-new user with an account of their own.
    pub async fn new_user() -> Self {
        let user = app().new_user("user").await.expect("creating a test user");
        Self::new(Some(&user.key))
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<reqwest::Body>) -> Resp {
        let url = if path.starts_with('/')
            && !path.starts_with("/api/")
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

    /// A plain-text GET (e.g. `/metrics`); panics unless 200.
    pub async fn get_text(&self, path: &str) -> String {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await.expect("the API answers");
        assert_eq!(resp.status().as_u16(), 200, "GET {path}");
        resp.text().await.expect("a text body")
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

    /// The typed client (`client` crate, as `berth` uses it) with this credential: for
    /// what a test does on its way to what it checks. (What a test asserts about the wire —
    /// statuses, error envelopes, the exact JSON — it reads from [`Api::send`]'s untyped
    /// [`Resp`].)
    pub fn client(&self) -> client::Client {
        client::Client::new(&self.base, self.key.as_deref()).expect("a client for the test platform")
    }

    /// Waits (typed client, with a deadline) until the database reaches `state`, or is gone
    /// for "deleted".
    pub async fn wait_state(&self, id: &str, state: &str) {
        let until = if state == "deleted" { client::WaitFor::Gone } else { client::WaitFor::State(state) };
        let waited = self.client().wait_database(id, until, Duration::from_secs(60), |_| {}).await;
        if let Err(e) = waited {
            // The incidents name the cause (what the operator would read): print them.
            let incidents = Api::new(Some(&app().admin_key)).get(&format!("/admin/incidents?resource={id}")).await;
            panic!("database {id} did not reach {state}: {e}; its incidents: {}", incidents.body);
        }
    }

    /// Polls an operation (typed client) until it finishes, succeeded or failed; returns it.
    pub async fn wait_operation(&self, id: &str) -> Value {
        let client = self.client();
        let op = eventually(&format!("operation {id} to finish"), Duration::from_secs(60), || async {
            let op = client.operation(id).await.map_err(|e| e.to_string())?.data;
            match op.state.as_str() {
                "succeeded" | "failed" => Ok(op),
                other => Err(format!("still {other}")),
            }
        })
        .await;
        serde_json::to_value(op).expect("an operation serialises")
    }
}

/// A host registration pointing nowhere, for tests that write the log directly.
pub fn unreachable_host(host_id: domain::HostId) -> domain::HostEvent {
    domain::HostEvent::HostRegistered {
        host_id,
        name: "h".into(),
        pg_host: "127.0.0.1".into(),
        pg_port: 1,
        superuser: "s".into(),
        bouncer_host: "127.0.0.1".into(),
        bouncer_port: 2,
        admin_user: "a".into(),
        config_dir: "/nonexistent".into(),
        capacity: 10,
        engine: "postgres".into(),
        region: "unreachable".into(),
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

/// An orphan reconciler over the test platform's host and backup store, whose rounds the test
/// drives itself; the platform's own reconciler runs beside it with a grace of minutes.
pub fn reconciler(grace: Duration) -> worker::drift::Reconciler {
    let objects = app().backups.operator().expect("backup store");
    worker::drift::Reconciler::new(app().store(), hostctl::Hosts::default(), fixtures::plans(), Some(objects), grace)
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

impl Api {
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PATCH, path, Some(body.to_string().into())).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PUT, path, Some(body.to_string().into())).await
    }

    /// A new user on `plan`, with their full-account key.
    pub async fn new_user_on(plan: domain::Plan) -> (Self, ops::accounts::Bootstrapped) {
        let user = app().new_user_on("user", plan).await.expect("creating a test user");
        (Self::new(Some(&user.key)), user)
    }

    /// Signs `email` in through OIDC and returns a client holding the session token.
    pub async fn sign_in(email: &str, subject: &str) -> Self {
        let r = Api::new(None)
            .post("/auth/session", json!({ "id_token": fixtures::id_token(subject, email, json!({})) }))
            .await;
        r.expect(200);
        Self::new(Some(r.data()["token"].as_str().expect("token")))
    }

    /// Email of the caller (via /me).
    pub async fn email(&self) -> String {
        self.get("/me").await.data()["email"].as_str().expect("email").to_owned()
    }

    /// Creates an API key; returns (id, key).
    pub async fn create_key(&self, body: Value) -> (String, String) {
        let r = self.post("/api-keys", body).await;
        r.expect(201);
        (r.data()["id"].as_str().expect("id").to_owned(), r.data()["key"].as_str().expect("key").to_owned())
    }

    /// Polls an activity listing until `pred` holds of its entries, with a deadline: activity
    /// is listed once the audit consumer has numbered it, milliseconds after the write.
    pub async fn wait_activity(&self, path: &str, pred: impl Fn(&[Value]) -> bool) -> Resp {
        eventually(&format!("activity at {path} to match"), Duration::from_secs(30), || async {
            let r = self.get(path).await;
            r.expect(200);
            if pred(r.body["data"].as_array().map(Vec::as_slice).unwrap_or_default()) {
                Ok(r)
            } else {
                Err(r.body.to_string())
            }
        })
        .await
    }
}

/// The incidents of `kind` an admin sees on `resource`, in `state` (any when empty).
pub async fn admin_incidents(kind: &str, resource: &str, state: &str) -> Vec<Value> {
    let state = if state.is_empty() { String::new() } else { format!("&state={state}") };
    let query = format!("/admin/incidents?kind={kind}{state}&resource={resource}");
    let r = Api::new(Some(&app().admin_key)).get(&query).await;
    r.expect(200);
    r.body["data"].as_array().expect("array").clone()
}

/// Whether any entry has `action`.
pub fn has_action(entries: &[Value], action: &str) -> bool {
    entries.iter().any(|e| e["action"] == action)
}

/// A control-plane database of the test's own (migrated, empty), in the shared control
/// cluster: for tests that tamper with the log or need it to themselves.
pub async fn fresh_control_store(label: &str) -> (eventstore::Store, String) {
    let name = format!("{label}_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let control = &app().platform.control;
    control.create_database_if_missing(&name).await.expect("creating a scratch control database");
    let url = control.url(&name);
    let store = eventstore::Store::connect(&url, 4).expect("URL parses").with_keyring(app().keyring.clone());
    store.migrate().await.expect("migrations apply");
    (store, url)
}

/// The error a login attempt got, as the client sees it (the server's message if it sent one).
pub async fn login_error(url: &str) -> String {
    match connect(url).await {
        Ok(c) => match c.simple_query("select 1").await {
            Ok(_) => panic!("login through {url} succeeded but should have been refused"),
            Err(e) => error_text(&e),
        },
        Err(e) => error_text(&e),
    }
}

pub fn error_text(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_else(|| e.to_string())
}

/// A libpq key=value DSN straight to the tenant host's PostgreSQL, bypassing PgBouncer:
/// through its Unix socket, the way PgBouncer itself logs in (the only way in for tenant
/// roles; the socket's directory is the service account's, so only the platform, PgBouncer
/// and root reach it).
pub fn direct_dsn(user: &str, password: &str, dbname: &str) -> String {
    let pg = &app().platform.host.pg;
    format!("host={} port={} user={user} password={password} dbname={dbname}", pg.socket_dir().display(), pg.port())
}

/// The same, over TCP to the PostgreSQL port, as a tenant on the network would try it.
pub fn tcp_dsn(user: &str, password: &str, dbname: &str) -> String {
    let pg = &app().platform.host.pg;
    format!("host={} port={} user={user} password={password} dbname={dbname}", pg.host(), pg.port())
}

/// Waits (with a deadline) until `url` logs in and answers a query.
pub async fn wait_login(url: &str) -> tokio_postgres::Client {
    eventually(&format!("{url} to log in and answer a query"), Duration::from_secs(20), || async {
        match connect(url).await {
            Ok(c) => match c.simple_query("select 1").await {
                Ok(_) => Ok(c),
                Err(e) => Err(format!("connected but cannot query: {}", error_text(&e))),
            },
            Err(e) => Err(format!("never logged in: {}", error_text(&e))),
        }
    })
    .await
}

impl Api {
    /// POSTs a lifecycle action and waits for its operation; returns the final database view.
    pub async fn lifecycle(&self, id: &str, action: &str) -> Value {
        let r = self.post(&format!("/databases/{id}/{action}"), json!({})).await;
        assert!(r.status == 200 || r.status == 202, "{action}: {} {}", r.status, r.body);
        let op = r.data()["operation_id"].as_str().expect("operation id").to_owned();
        let done = self.wait_operation(&op).await;
        assert_eq!(done["state"], "succeeded", "{action}: {done}");
        self.get(&format!("/databases/{id}")).await.data().clone()
    }
}

/// Connects to the PgBouncer of `url` from the local source address `source` (e.g.
/// 127.0.0.2: all of 127/8 is this machine, so a socket bound there reaches PgBouncer on
/// 127.0.0.1 and PgBouncer sees it come from `source`).
pub async fn connect_from(source: std::net::IpAddr, url: &str) -> Result<tokio_postgres::Client, String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| format!("bad url: {e}"))?;
    let (Some(tokio_postgres::config::Host::Tcp(host)), Some(port)) =
        (config.get_hosts().first(), config.get_ports().first())
    else {
        return Err(format!("no TCP address in {url}"));
    };
    let target: std::net::SocketAddr = format!("{host}:{port}").parse().map_err(|e| format!("address: {e}"))?;
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket.bind(std::net::SocketAddr::new(source, 0)).map_err(|e| format!("bind {source}: {e}"))?;
    let stream = socket.connect(target).await.map_err(|e| format!("connect: {e}"))?;
    let (client, conn) = config.connect_raw(stream, tokio_postgres::NoTls).await.map_err(|e| error_text(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client.simple_query("select 1").await.map_err(|e| error_text(&e))?;
    Ok(client)
}

/// Waits (with a deadline) until a login from `source` succeeds (`admitted`) or is refused;
/// returns the last refusal's message, if any.
pub async fn wait_source(source: &str, url: &str, admitted: bool) -> Option<String> {
    let ip: std::net::IpAddr = source.parse().expect("an IP address");
    let what = format!("login from {source} to be {}", if admitted { "admitted" } else { "refused" });
    eventually(&what, Duration::from_secs(20), || async {
        let got = connect_from(ip, url).await;
        if got.is_ok() == admitted {
            Ok(got.err())
        } else {
            Err(format!("{:?}", got.err()))
        }
    })
    .await
}

/// Starts another API process (in this test's runtime) on the shared platform's control
/// plane, with the tests' caps and no request budgets; returns its base URL. It stops with
/// the test's runtime.
pub async fn second_api() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = listener.local_addr().expect("address");
    let config = api::ApiConfig {
        credential_budget: None,
        ip_budget: None,
        limits: fixtures::limits(),
        plans: fixtures::plans(),
        workers: 1,
        ..api::ApiConfig::default()
    };
    let server = api::server(app().store(), config, listener).await.expect("a second API");
    tokio::spawn(server);
    format!("http://{addr}")
}

impl Api {
    /// The same credential against another API process.
    pub fn at(&self, base: &str) -> Self {
        Self { base: base.to_owned(), ..self.clone() }
    }
}

/// Records a request for a database of `account` on `host` through the application layer
/// (`control::databases::request`: the aggregate decides; password sealed, verifier stored),
/// for tests that drive the jobs themselves or need a chosen host.
pub async fn request_database(
    store: &eventstore::Store,
    account: domain::AccountId,
    host: domain::HostId,
    name: &domain::DatabaseName,
    source: Option<domain::DatabaseSource>,
    meta: &eventstore::Metadata,
) -> control::databases::Requested {
    let engine = store.host(host).await.map_or(domain::Engine::Postgres, |h| h.engine);
    let new = control::databases::NewDatabase {
        account_id: account,
        host_id: host,
        engine,
        name: name.clone(),
        source,
        quota: None,
        placed: false,
    };
    let password = control::databases::NewPassword::generate(engine).await.expect("a password");
    control::databases::request(store, new, password, meta).await.expect("the database is requested")
}
