//! A headless Chromium (Debian's `chromium`) driven over WebDriver by its `chromedriver`,
//! both started here and ended when the `Browser` drops.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use integration_tests::eventually_every;
use serde_json::{json, Value};

pub struct Browser {
    pub client: Client,
    pub base: String,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

/// How long one wait for the page may take (provisioning and backups included).
pub const WAIT: Duration = Duration::from_secs(60);

/// How often a wait on the browser looks again.
const RETRY: Duration = Duration::from_millis(100);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("an address").port()
}

impl Browser {
    pub async fn start(base: &str) -> Self {
        let port = free_port();
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // A group of its own: dropping the Browser ends chromedriver and every Chromium
            // process it started, even when the test panicked.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (scripts/install-deps installs chromium and chromium-driver)");
        let profile = tempfile::tempdir().expect("a profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--hide-scrollbars",
                         format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = eventually_every("chromedriver to answer", Duration::from_secs(30), RETRY, || async {
            ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
        })
        .await;
        Self { client, base: base.to_owned(), driver, _profile: profile }
    }

    /// Ends the WebDriver session (Chromium quits); the processes go with the Browser anyway.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("navigates");
    }

    /// Sets the hash route without reloading the page.
    pub async fn route(&self, hash: &str) {
        self.client.execute("location.hash = arguments[0];", vec![json!(hash)]).await.expect("routes");
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.expect("find_all").len()
    }

    /// Clicks `css`, finding it again if the page re-rendered it meanwhile.
    pub async fn click(&self, css: &str) {
        eventually_every(&format!("a click on {css}"), WAIT, RETRY, || async {
            match self.find(css).await.click().await {
                Err(e) if !stale(&e) => panic!("clicking {css}: {e}"),
                done => done,
            }
        })
        .await
    }

    /// Replaces the text of input `css`, finding it again if the page re-rendered it.
    pub async fn type_in(&self, css: &str, text: &str) {
        eventually_every(&format!("typing into {css}"), WAIT, RETRY, || async {
            let el = self.find(css).await;
            let done = match el.clear().await {
                Ok(()) => el.send_keys(text).await,
                Err(e) => Err(e),
            };
            match done {
                Err(e) if !stale(&e) => panic!("typing into {css}: {e}"),
                done => done,
            }
        })
        .await
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Waits until `script` returns true, with a deadline.
    pub async fn until(&self, what: &str, script: &str) {
        eventually_every(what, WAIT, RETRY, || async { self.eval(script).await == Value::Bool(true) }).await
    }

    pub async fn sign_in(&self, key: &str) {
        self.goto("/#/signin").await;
        // From the keyboard: the key, then Enter submits the form.
        self.type_in("input[name=api_key]", &format!("{key}\u{E007}")).await;
        self.find("[data-test=db-table], main p.muted").await;
        self.find("header nav").await;
    }

    pub async fn sign_out(&self) {
        self.click("[data-test=sign-out]").await;
        self.find("[data-test=signin-form]").await;
    }

    /// Saves a PNG of the page under target/dashboard-screenshots/.
    pub async fn screenshot(&self, name: &str) {
        // Let the last render and any countdown settle on a frame.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("writes the screenshot");
    }
}

fn stale(e: &fantoccini::error::CmdError) -> bool {
    e.to_string().contains("stale element")
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            // The whole process group: chromedriver and the browser it launched.
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        }
    }
}

pub fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("dashboard-screenshots")
}
