//! The README's first command, end to end: `berth up` boots the platform, prints the API URL
//! and (first time only) an admin key; a database created with that key works through
//! PgBouncer; SIGINT stops every process it started; a second `up` keeps everything.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ops::harness::wait::{eventually, eventually_blocking, eventually_every};

struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Up {
    fn start(dir: &std::path::Path) -> Up {
        Self::start_with(dir, &[])
    }

    fn start_with(dir: &std::path::Path, env: &[(&str, &str)]) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["up", "--data-dir"])
            .arg(dir)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("BERTH_LOG", "warn")
            .spawn()
            .expect("berth up starts");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Up { child, lines }
    }

    /// Lines printed until `api:` (inclusive), with a deadline.
    fn until_api(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("no api line; saw {seen:?}"));
            let done = line.starts_with("api: ");
            seen.push(line);
            if done {
                // The key line follows at once when there is one.
                if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
                    seen.push(l);
                }
                return seen;
            }
        }
    }

    fn interrupt_and_wait(mut self) {
        let pid = self.child.id() as i32;
        Command::new("kill").args(["-INT", &pid.to_string()]).status().expect("kill runs");
        let status = eventually_blocking("berth up to stop on SIGINT", Duration::from_secs(60), || {
            self.child.try_wait().expect("wait")
        });
        assert!(status.success(), "berth up exited with {status}");
    }
}

fn value(lines: &[String], prefix: &str) -> Option<String> {
    lines.iter().find_map(|l| l.strip_prefix(prefix)).map(str::to_owned)
}

fn servers_under(dir: &std::path::Path) -> usize {
    let out = Command::new("pgrep").args(["-f", &dir.display().to_string()]).output().expect("pgrep");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_up_serves_keeps_data_across_restarts_and_stops_cleanly() {
    let dir = ops::local::testing::scratch_dir("berth-up").expect("scratch dir");
    // The first run is a deployment without MariaDB (as every one before engines was); the
    // second turns it on by default, on the same data dir.
    let up = Up::start_with(&dir, &[("BERTH_ENGINES", "postgres")]);
    let lines = tokio::task::block_in_place(|| up.until_api());
    let api = value(&lines, "api: ").expect("api line");
    let key = value(&lines, "admin api key: ").unwrap_or_else(|| panic!("first run prints a key: {lines:?}"));
    assert!(key.starts_with("brth_"));

    let http = reqwest::Client::new();
    // Exactly what the README shows: no Content-Type header.
    let r = http
        .post(format!("{api}/api/v1/databases"))
        .header("Authorization", format!("Bearer {key}"))
        .body(r#"{"name":"shop"}"#)
        .send()
        .await
        .expect("create answers");
    assert!(r.status().as_u16() == 201 || r.status().as_u16() == 202, "{}", r.status());
    let body: serde_json::Value = r.json().await.expect("json");
    let url = body["data"]["connection_string"].as_str().expect("connection string").to_owned();
    wait_running(&http, &api, &key, body["data"]["id"].as_str().expect("id")).await;
    let psql = |sql: &str| {
        Command::new("psql")
            .arg(&url)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql")
    };
    let out = psql("create table orders (id int); insert into orders values (1), (2);");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // After a crash the server syncs the file system once, not every file of every database.
    let out = psql("show recovery_init_sync_method");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "syncfs", "{}", String::from_utf8_lossy(&out.stderr));

    // A backup taken before the upgrade, to restore after it.
    let db_id = body["data"]["id"].as_str().expect("id").to_owned();
    let r = http
        .post(format!("{api}/api/v1/databases/{db_id}/backups"))
        .bearer_auth(&key)
        .body("{}")
        .send()
        .await
        .expect("backup answers");
    let backup: serde_json::Value = r.json().await.expect("json");
    let backup_id = backup["data"]["id"].as_str().unwrap_or_else(|| panic!("{backup}")).to_owned();
    eventually("the backup to succeed", Duration::from_secs(60), || async {
        let b: serde_json::Value = http
            .get(format!("{api}/api/v1/databases/{db_id}/backups/{backup_id}"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("get backup")
            .json()
            .await
            .expect("json");
        assert!(b["data"]["state"] != "failed", "backup: {b}");
        if b["data"]["state"] == "succeeded" {
            Ok(())
        } else {
            Err(format!("backup: {b}"))
        }
    })
    .await;

    // A host prepared by an older Berth never let tenant roles set pg_stat_statements.track,
    // which every session of ours in a tenant database now sets: take the grant away; the next
    // start gives it back before anything of ours logs in there (the restore below would fail).
    let su_password = std::fs::read_to_string(dir.join("hosts/local/pg/superuser.password")).expect("password");
    let pg_port = std::fs::read_to_string(dir.join("hosts/local/pg/port")).expect("pg port");
    let revoked = Command::new("psql")
        .env("PGPASSWORD", su_password.trim())
        .args(["-h", "127.0.0.1", "-p", pg_port.trim(), "-U", ops::local::SUPERUSER, "-d", "postgres", "-X"])
        .args(["-v", "ON_ERROR_STOP=1", "-c", "revoke set on parameter pg_stat_statements.track from public"])
        .output()
        .expect("psql");
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    tokio::task::block_in_place(|| up.interrupt_and_wait());
    eventually_blocking("the servers to stop after berth up stopped", Duration::from_secs(20), || {
        servers_under(&dir) == 0
    });

    // A host set up by an older Berth: its pools reach PostgreSQL over TCP, which today's
    // pg_hba.conf refuses to tenant roles (every tenant was cut off after such an upgrade).
    // The next start renders PgBouncer from the store again, before anyone creates anything.
    let pools = dir.join("hosts/local/pgbouncer/tenants.ini");
    let current = std::fs::read_to_string(&pools).expect("tenants.ini");
    let port = std::fs::read_to_string(dir.join("hosts/local/pg/port")).expect("pg port");
    let old_layout: String = current
        .lines()
        .map(|l| match l.split_once(" = ") {
            Some((name, _)) if !l.starts_with('[') => {
                format!("{name} = host=127.0.0.1 port={} dbname={name} max_db_connections=10\n", port.trim())
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert_ne!(old_layout, current, "the test rewrote the pools");
    std::fs::write(&pools, old_layout).expect("old layout written");
    // A backup attempt killed mid-write left its temporary file: the next start removes it.
    let leftover = dir.join("backups").join(hostctl::objects::FS_TMP_DIR).join("20260101_000000.sql.gz.x1y2");
    std::fs::write(&leftover, b"half a dump").expect("leftover temporary file");
    let again = Up::start(&dir);
    let lines = tokio::task::block_in_place(|| again.until_api());
    eventually_blocking("berth up to remove the dead attempt's temporary file", Duration::from_secs(20), || {
        !leftover.exists()
    });
    assert!(value(&lines, "admin api key: ").is_none(), "the key is printed only the first time: {lines:?}");
    let api = value(&lines, "api: ").expect("api line");
    let list: serde_json::Value = http
        .get(format!("{api}/api/v1/databases"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["data"][0]["name"], "shop", "{list}");
    // The old connection string works at once (within seconds of the API line).
    eventually_blocking("the old connection string to work after the upgrade", Duration::from_secs(10), || {
        psql("select 1").status.success()
    });
    let out = psql("select count(*) from orders");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    // The backup taken before the upgrade restores under the new one.
    // MariaDB is on now: a MariaDB database is created and the mariadb client reaches it.
    let maria = create_and_wait(&http, &api, &key, r#"{"name":"shop-m","engine":"mariadb"}"#).await;
    let maria_url = maria["data"]["connection_string"].as_str().expect("connection string").to_owned();
    assert!(maria_url.starts_with("mysql://"), "{maria_url}");
    assert_eq!(mariadb(&maria_url, "CREATE TABLE t (x INT); INSERT INTO t VALUES (7); SELECT SUM(x) FROM t"), "7");
    let r = http
        .post(format!("{api}/api/v1/databases/{db_id}/restore"))
        .bearer_auth(&key)
        .body(format!(r#"{{"backup_id":"{backup_id}","target_name":"shop-restored"}}"#))
        .send()
        .await
        .expect("restore answers");
    let restored: serde_json::Value = r.json().await.expect("json");
    wait_running(&http, &api, &key, restored["data"]["id"].as_str().unwrap_or_else(|| panic!("{restored}"))).await;
    let restored_url = restored["data"]["connection_string"].as_str().expect("connection string").to_owned();
    let out = Command::new("psql")
        .arg(&restored_url)
        .args(["-X", "-A", "-t", "-c", "select count(*) from orders"])
        .output()
        .expect("psql");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2", "{}", String::from_utf8_lossy(&out.stderr));
    // The log written before the upgrade replays to the live read models and its chain holds.
    for command in ["replay", "verify"] {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["audit", command])
            .env("BERTH_DATA_DIR", &dir)
            .env("BERTH_LOG", "warn")
            .output()
            .expect("berth audit");
        assert!(
            out.status.success(),
            "audit {command}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    tokio::task::block_in_place(|| again.interrupt_and_wait());
}

/// Creates a database with `body` and waits until it runs; the create answer.
async fn create_and_wait(http: &reqwest::Client, api: &str, key: &str, body: &'static str) -> serde_json::Value {
    let r = http.post(format!("{api}/api/v1/databases")).bearer_auth(key).body(body).send().await.expect("create");
    let created: serde_json::Value = r.json().await.expect("json");
    wait_running(http, api, key, created["data"]["id"].as_str().unwrap_or_else(|| panic!("{created}"))).await;
    created
}

/// Runs `sql` with Debian's `mariadb` client on a `mysql://user:password@host:port/db`
/// string (the password in its environment); its batch output, or the empty string.
fn mariadb(url: &str, sql: &str) -> String {
    let rest = url.strip_prefix("mysql://").expect("a mysql:// URL");
    let (auth, rest) = rest.rsplit_once('@').expect("@");
    let (user, password) = auth.split_once(':').expect("user:password");
    let (addr, db) = rest.split_once('/').expect("/db");
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let out = Command::new("mariadb")
        .args(["--no-defaults", "--protocol=TCP", "--batch", "--skip-column-names", "--connect-timeout=2"])
        .args([
            format!("--host={host}"),
            format!("--port={port}"),
            format!("--user={user}"),
            format!("--database={db}"),
        ])
        .args(["-e", sql])
        .env("MYSQL_PWD", password)
        .output()
        .expect("the mariadb client runs");
    if !out.status.success() {
        return String::new();
    }
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn wait_running(http: &reqwest::Client, api: &str, key: &str, id: &str) {
    eventually(&format!("database {id} to run"), Duration::from_secs(60), || async {
        let v: serde_json::Value = http
            .get(format!("{api}/api/v1/databases/{id}"))
            .bearer_auth(key)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if v["data"]["state"] == "running" {
            Ok(())
        } else {
            Err(format!("not running: {v}"))
        }
    })
    .await
}

/// The first line of a pid file.
fn pid_in(path: &std::path::Path) -> u32 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().next().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no pid in {}", path.display()))
}

fn kill_9(pid: u32) {
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill -9 {pid}");
}

/// Polls `check` until it is true; how long it took.
async fn back_within<F, Fut>(what: &str, limit: Duration, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    eventually_every(&format!("{what} to come back"), limit, Duration::from_millis(100), check).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_up_brings_back_each_server_it_runs_after_kill_9() {
    let dir = ops::local::testing::scratch_dir("berth-up-supervise").expect("scratch dir");
    let up = Up::start(&dir);
    let lines = tokio::task::block_in_place(|| up.until_api());
    let api = value(&lines, "api: ").expect("api line");
    let key = value(&lines, "admin api key: ").expect("first run prints a key");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{api}/api/v1/databases"))
        .bearer_auth(&key)
        .body(r#"{"name":"kept"}"#)
        .send()
        .await
        .expect("create answers");
    let body: serde_json::Value = r.json().await.expect("json");
    let url = body["data"]["connection_string"].as_str().expect("connection string").to_owned();
    wait_running(&http, &api, &key, body["data"]["id"].as_str().expect("id")).await;
    let tenant_works = || {
        Command::new("psql")
            .arg(format!("{url}?connect_timeout=2"))
            .args(["-X", "-A", "-t", "-c", "select 1"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(tenant_works());
    let maria = create_and_wait(&http, &api, &key, r#"{"name":"kept-m","engine":"mariadb"}"#).await;
    let maria_url = maria["data"]["connection_string"].as_str().expect("connection string").to_owned();
    assert_eq!(
        mariadb(&maria_url, "CREATE TABLE k (x INT); INSERT INTO k VALUES (1), (2); SELECT COUNT(*) FROM k"),
        "2"
    );

    let mariadbd = pid_in(&dir.join("hosts/mariadb/mariadb.pid"));
    kill_9(mariadbd);
    let took = back_within("MariaDB", Duration::from_secs(40), || async {
        mariadb(&maria_url, "SELECT COUNT(*) FROM k") == "2"
    })
    .await;
    eprintln!("MariaDB tenant connections back {took:?} after kill -9 of mariadbd");

    let bouncer = pid_in(&dir.join("hosts/local/pgbouncer/pgbouncer.pid"));
    kill_9(bouncer);
    let took = back_within("PgBouncer", Duration::from_secs(10), || async { tenant_works() }).await;
    eprintln!("tenant connections back {took:?} after kill -9 of PgBouncer");

    let tenant_pg = pid_in(&dir.join("hosts/local/pg/data/postmaster.pid"));
    kill_9(tenant_pg);
    // A create while the host is down is accepted and waits for it: it must not fail for
    // good because of an outage that heals.
    let r = http
        .post(format!("{api}/api/v1/databases"))
        .bearer_auth(&key)
        .body(r#"{"name":"during"}"#)
        .send()
        .await
        .expect("create answers");
    let during: serde_json::Value = r.json().await.expect("json");
    let took = back_within("the tenant host's PostgreSQL", Duration::from_secs(40), || async { tenant_works() }).await;
    eprintln!("tenant connections back {took:?} after kill -9 of the tenant PostgreSQL");

    let control = pid_in(&dir.join("control/data/postmaster.pid"));
    kill_9(control);
    let list = format!("{api}/api/v1/databases");
    // Meanwhile every request answers at once: 200, or 503 with `retry-after` (never 500,
    // never a hang).
    let api_works = || async {
        let answer = http.get(&list).bearer_auth(&key).timeout(Duration::from_secs(5)).send().await;
        let answer = answer.expect("the API answers within 5 s while the control plane restarts");
        match answer.status().as_u16() {
            200 => true,
            503 => {
                assert!(answer.headers().contains_key("retry-after"), "a 503 says when to retry");
                false
            }
            other => panic!("{other} while the control plane restarts: {:?}", answer.text().await),
        }
    };
    let took = back_within("the API", Duration::from_secs(60), api_works).await;
    eprintln!("the API answered again {took:?} after kill -9 of the control-plane PostgreSQL");

    wait_running(&http, &api, &key, during["data"]["id"].as_str().unwrap_or_else(|| panic!("{during}"))).await;
    // Everything works afterwards: a new database is created and served, the old one too.
    let r = http
        .post(format!("{api}/api/v1/databases"))
        .bearer_auth(&key)
        .body(r#"{"name":"after"}"#)
        .send()
        .await
        .expect("create answers");
    let body: serde_json::Value = r.json().await.expect("json");
    wait_running(&http, &api, &key, body["data"]["id"].as_str().unwrap_or_else(|| panic!("{body}"))).await;
    assert!(tenant_works());
    // Each restart is on record.
    let incidents: serde_json::Value = http
        .get(format!("{api}/api/v1/admin/incidents?kind=process_restarted"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("incidents")
        .json()
        .await
        .expect("json");
    let mut restarted: Vec<String> = incidents["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["resource"]["id"].as_str().unwrap_or("?").to_owned())
        .collect();
    restarted.sort();
    assert_eq!(
        restarted,
        ["control-plane-postgresql", "tenant-host-mariadb", "tenant-host-pgbouncer", "tenant-host-postgresql"],
        "{incidents}"
    );
    tokio::task::block_in_place(|| up.interrupt_and_wait());
}
