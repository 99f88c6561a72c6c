//! The contract test: schemathesis (installed by `scripts/install-deps`) reads the served
//! `/api/v1/openapi.json` and throws generated requests at a real platform — valid ones,
//! invalid ones, boundary cases, and stateful sequences following the document's links
//! (create a database, then get, back up, delete it …). It fails on any 5xx, any response
//! that does not match the document (status, body, content type, headers), any invalid
//! request accepted or valid one refused, and an unknown method not answered 405.
//!
//! Budget: `BERTH_CONTRACT_EXAMPLES` cases per operation (default 5) and a hard limit of
//! `BERTH_CONTRACT_SECONDS` (default 300) for the whole run; `BERTH_CONTRACT_SEED` replays a
//! run. A missing schemathesis fails the test (it never passes by skipping).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const SCHEMATHESIS: &str = "4.32";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn configure() {
    let mut opts = ops::harness::HarnessOptions::default();
    // The fuzzer's request rate is not what this test is about (budgets have their own).
    opts.api.credential_budget = None;
    opts.api.ip_budget = None;
    opts.api.create_wait = Duration::from_secs(3);
    ops::harness::configure(opts);
}

struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}/api/v1{path}", self.base)).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("the API answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// The admin's account on the business plan, with a running database and a backup of it.
async fn seed(c: &Client) {
    let (status, me) = c.call(reqwest::Method::GET, "/me", None).await;
    assert_eq!(status, 200, "{me}");
    let account = me["data"]["account_id"].as_str().expect("account id");
    let (status, body) =
        c.call(reqwest::Method::PATCH, &format!("/admin/accounts/{account}"), Some(json!({"plan": "business"}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, created) = c.call(reqwest::Method::POST, "/databases", Some(json!({"name": "contract-seed"}))).await;
    assert!(status == 201 || status == 202, "{created}");
    let id = created["data"]["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, db) = c.call(reqwest::Method::GET, &format!("/databases/{id}"), None).await;
        if db["data"]["state"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "the seeded database never ran: {db}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = c.call(reqwest::Method::POST, &format!("/databases/{id}/backups"), Some(json!({}))).await;
    assert_eq!(status, 202, "{body}");
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-contract-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_its_openapi_contract() {
    let version = std::process::Command::new("st").arg("--version").output();
    let version = match version {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => panic!("schemathesis (`st`) is not installed: run scripts/install-deps"),
    };
    assert!(version.contains(SCHEMATHESIS), "schemathesis {SCHEMATHESIS}.x expected, found {version}");
    configure();
    let h = ops::harness::shared();
    let client = Client { base: h.api_url.clone(), key: h.admin_key.clone(), http: reqwest::Client::new() };
    seed(&client).await;

    let examples = env_or("BERTH_CONTRACT_EXAMPLES", 5);
    let seconds = env_or("BERTH_CONTRACT_SECONDS", 300);
    let dir = scratch();
    // The credential reaches schemathesis through its environment, never its arguments.
    std::fs::write(dir.join("schemathesis.toml"), "headers = { Authorization = \"Bearer ${BERTH_CONTRACT_KEY}\" }\n")
        .expect("config written");
    let mut cmd = tokio::process::Command::new("st");
    cmd.arg("--config-file").arg(dir.join("schemathesis.toml")).arg("--no-color");
    cmd.arg("run").arg(format!("{}/api/v1/openapi.json", h.api_url));
    cmd.args(["--url", &h.api_url, "--workers", "2", "--max-examples", &examples.to_string()]);
    cmd.args(["--phases", "examples,coverage,fuzzing,stateful", "--max-response-time", "15"]);
    cmd.args(["--checks", "all", "--exclude-checks", "object_level_authorization,missing_required_header"]);
    cmd.args(["--suppress-health-check", "all", "--output-truncate", "false"]);
    cmd.arg("--report").arg("junit").arg("--report-dir").arg(dir.join("report"));
    if let Ok(seed) = std::env::var("BERTH_CONTRACT_SEED") {
        cmd.args(["--seed", &seed]);
    }
    cmd.env("BERTH_CONTRACT_KEY", &h.admin_key).current_dir(&dir).kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().expect("schemathesis starts");
    let status = match tokio::time::timeout(Duration::from_secs(seconds), child.wait()).await {
        Ok(status) => status.expect("schemathesis ran"),
        Err(_) => {
            let _ = child.kill().await;
            panic!("schemathesis did not finish within {seconds} s (BERTH_CONTRACT_SECONDS)");
        }
    };
    eprintln!("schemathesis: {:.0} s, report in {}", started.elapsed().as_secs_f64(), dir.display());
    assert!(status.success(), "schemathesis found contract violations (see its output above): {status}");
}
