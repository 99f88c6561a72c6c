//! Backups at rest and the data dir: after `berth up` has served a database and taken a
//! backup of it, nothing under the data dir that holds tenant data or secrets is readable
//! or writable by group or others. Backup directories are 0700 and objects 0600, owned by
//! the user `berth` runs as.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ops::harness::wait::eventually;
use serde_json::Value;

struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

/// Starts `berth up`; returns it with the API URL and the admin key it printed (first
/// run only).
fn start(dir: &Path) -> (Up, String, Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["up", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("BERTH_LOG", "warn")
        .spawn()
        .expect("berth up starts");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let up = Up(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    let api = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("berth up prints its API URL");
        if let Some(a) = line.strip_prefix("api: ") {
            break a.to_owned();
        }
    };
    // The key line follows at once when there is one.
    let key =
        rx.recv_timeout(Duration::from_secs(2)).ok().and_then(|l| l.strip_prefix("admin api key: ").map(str::to_owned));
    (up, api, key)
}

async fn poll(http: &reqwest::Client, url: &str, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("{url} to get there"), Duration::from_secs(90), || async {
        let v: Value = http.get(url).bearer_auth(key).send().await.expect("get").json().await.expect("json");
        if done(&v["data"]) {
            Ok(v["data"].clone())
        } else {
            Err(v.to_string())
        }
    })
    .await
}

/// Every path under `root` (itself included), not following symlinks.
fn walk(root: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue; // removed while we walked (a temp file)
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        }
        out.push((path, meta));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_under_the_data_dir_is_readable_by_other_users_and_backups_are_private() {
    let dir = ops::local::testing::scratch_dir("modes").expect("scratch dir");
    let (up, api, key) = tokio::task::block_in_place(|| start(&dir));
    let key = key.expect("the first run prints an admin key");
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{api}/api/v1/databases"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(r#"{"name":"vault"}"#)
        .send()
        .await
        .expect("create answers")
        .json()
        .await
        .expect("json");
    let id = created["data"]["id"].as_str().expect("id").to_owned();
    let url = created["data"]["connection_string"].as_str().expect("url").to_owned();
    poll(&http, &format!("{api}/api/v1/databases/{id}"), &key, |d| d["state"] == "running").await;
    let out = Command::new("psql")
        .arg(&url)
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "create table cards as select 'secret-' || g as pan from generate_series(1, 100) g",
        ])
        .output()
        .expect("psql");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let backup: Value = http
        .post(format!("{api}/api/v1/databases/{id}/backups"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("backup answers")
        .json()
        .await
        .expect("json");
    let backup_id = backup["data"]["id"].as_str().expect("backup id").to_owned();
    let done = poll(&http, &format!("{api}/api/v1/databases/{id}/backups/{backup_id}"), &key, |b| {
        assert_ne!(b["state"], "failed", "{b}");
        b["state"] == "succeeded"
    })
    .await;
    let object = dir.join("backups").join(done["object_key"].as_str().expect("object key"));

    // The platform runs as this test's user (root here); backups are its own, not the
    // service account's that runs PostgreSQL and PgBouncer.

    let mut wrong = Vec::new();
    let entries = walk(&dir);
    assert!(entries.len() > 100, "walked the data dir: {} entries", entries.len());
    for (path, meta) in &entries {
        let mode = meta.permissions().mode() & 0o777;
        let in_backups = path.starts_with(dir.join("backups"));
        let ok = if meta.is_dir() && in_backups {
            mode == 0o700
        } else if meta.is_dir() {
            // Traverse (x) may be granted so the service account reaches its directories.
            mode & 0o066 == 0
        } else if meta.is_file() && in_backups {
            mode == 0o600
        } else if meta.is_file() {
            mode & 0o077 == 0
        } else {
            true // sockets and symlinks: nothing to read
        };
        if !ok {
            wrong.push(format!("{:o} {}", mode, path.display()));
        }
    }
    assert!(wrong.is_empty(), "readable or writable by other users:\n{}", wrong.join("\n"));
    let me = std::fs::metadata(&dir).expect("data dir").uid();
    let meta = std::fs::metadata(&object).expect("the backup object is on disk");
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, me), "mode {:o} of {}", meta.mode(), object.display());
    for secret in ["master.key", "backups", "backups/.tmp", "hosts/local/pgbouncer", "control"] {
        assert!(dir.join(secret).exists(), "{secret} is where the README says");
    }
    tokio::task::block_in_place(|| drop(up));

    // A data dir from before this rule (or loosened by hand) is repaired at the next start.
    let loose =
        [(object.clone(), 0o644), (object.parent().expect("dir").to_owned(), 0o755), (dir.join("master.key"), 0o644)];
    for (path, mode) in &loose {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode)).expect("chmod");
    }
    let (again, _, _) = tokio::task::block_in_place(|| start(&dir));
    for (path, mode) in &loose {
        let now = std::fs::metadata(path).expect("still there").permissions().mode() & 0o777;
        assert_eq!(now, if *mode == 0o755 { 0o700 } else { 0o600 }, "{} repaired: {now:o}", path.display());
    }
    tokio::task::block_in_place(|| drop(again));
}
