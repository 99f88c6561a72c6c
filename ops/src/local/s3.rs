//! A real S3-protocol server for tests and benchmarks: moto's server (`pip install
//! 'moto[server]'`, see scripts/install-deps) on a free loopback port, started with a
//! parent-death signal so it goes down with the process that started it, SIGKILL included.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{ports, process};

/// A running moto server with one bucket.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    child: Child,
}

/// `moto_server` on PATH, else `python3 -m moto.server`.
fn moto_command() -> Command {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("moto_server")).find(|p| p.is_file()))
        .unwrap_or_default();
    match on_path {
        Some(bin) => Command::new(bin),
        None => {
            let mut c = Command::new("python3");
            c.args(["-m", "moto.server"]);
            c
        }
    }
}

impl S3Server {
    /// Starts moto on a free loopback port (logging to `log`) and creates `bucket`.
    pub async fn start(log: &Path, bucket: &str) -> anyhow::Result<S3Server> {
        let port = ports::choose(None, &["127.0.0.1".to_owned()])?;
        let mut cmd = moto_command();
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let mut child = process::spawn_server(cmd, libc::SIGKILL)
            .await
            .context("starting the moto S3 server (is moto[server] installed? run scripts/install-deps)")?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                bail!("moto exited during startup ({status}); see {}", log.display());
            }
            // moto does not check signatures: an unsigned PUT creates the bucket.
            if let Ok(r) = http.put(format!("{endpoint}/{bucket}")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("moto did not answer on {endpoint} within 30 s; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(S3Server { endpoint, bucket: bucket.to_owned(), child })
    }

    /// The object-store configuration pointing at this server's bucket.
    pub fn config(&self) -> hostctl::objects::ObjectStoreConfig {
        hostctl::objects::ObjectStoreConfig::S3 {
            bucket: self.bucket.clone(),
            endpoint: self.endpoint.clone(),
            region: "us-east-1".into(),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            root: None,
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
