//! The local platform against real PostgreSQL and PgBouncer processes.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ops::harness::wait::eventually_blocking;
use ops::local::{testing, LocalHost, LocalHostOptions};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

async fn connect(dsn: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(dsn, NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

async fn bouncer_version(host: &LocalHost) -> String {
    let admin = connect(&host.bouncer.admin_dsn()).await;
    let rows = admin.simple_query("SHOW VERSION").await.expect("SHOW VERSION");
    rows.iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("a version row")
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !matches!(s.rsplit_once(')').map(|(_, r)| r.trim_start().as_bytes()[0]), Some(b'Z')))
        .unwrap_or(false)
}

fn uid_of(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let line = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid line");
    line.split_whitespace().nth(1).expect("real uid").parse().expect("numeric uid")
}

fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let ppid = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1).map(str::to_owned));
            ppid == Some(pid.to_string())
        })
        .collect()
}

#[tokio::test]
async fn a_host_keeps_its_data_passwords_and_port_across_a_restart() {
    let dir = testing::scratch_dir("restart").expect("scratch dir");
    let opts = LocalHostOptions::for_tests();

    let started = Instant::now();
    let host = LocalHost::start(&dir, &opts).await.expect("first start");
    eprintln!("initdb + postgres + pgbouncer start: {:?}", started.elapsed());

    let pg_pid = host.pg.pid().expect("postmaster pid");
    let bouncer_pid = host.bouncer.pid().expect("pgbouncer pid");
    if std::env::var("USER").as_deref() == Ok("root") || uid_of(std::process::id()) == 0 {
        assert_ne!(uid_of(pg_pid), 0, "postgres must not run as root");
        assert_ne!(uid_of(bouncer_pid), 0, "pgbouncer must not run as root");
    }
    let mode = std::fs::metadata(dir.join("pg/superuser.password")).expect("password file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let db = connect(&host.pg.dsn("postgres")).await;
    db.batch_execute("CREATE TABLE kept (n int); INSERT INTO kept SELECT generate_series(1, 3)")
        .await
        .expect("write rows");
    drop(db);
    assert!(bouncer_version(&host).await.contains("PgBouncer"));
    host.pg.create_database_if_missing("app").await.expect("create app db");
    host.pg.create_database_if_missing("app").await.expect("second create is a no-op");

    // Starting again while running reuses the servers instead of failing on the pidfile.
    let again = LocalHost::start(&dir, &opts).await.expect("start while running");
    assert_eq!((again.pg.port(), again.bouncer.port()), (host.pg.port(), host.bouncer.port()));
    assert_eq!(again.pg.pid(), Some(pg_pid));

    let (pg_port, bouncer_port) = (host.pg.port(), host.bouncer.port());
    let (su_password, admin_password) =
        (host.pg.superuser_password().to_owned(), host.bouncer.admin_password().to_owned());
    host.stop().expect("stop");
    assert!(!alive(pg_pid) && !alive(bouncer_pid), "stop leaves no server running");

    let started = Instant::now();
    let host = LocalHost::start(&dir, &opts).await.expect("restart");
    eprintln!("restart (postgres + pgbouncer): {:?}", started.elapsed());
    assert_eq!(host.pg.superuser_password(), su_password);
    assert_eq!(host.bouncer.admin_password(), admin_password);
    assert_eq!((host.pg.port(), host.bouncer.port()), (pg_port, bouncer_port), "free ports are reused");

    let db = connect(&host.pg.dsn("postgres")).await;
    let n: i64 = db.query_one("SELECT count(*) FROM kept", &[]).await.expect("count").get(0);
    assert_eq!(n, 3);
    let app = connect(&host.pg.dsn("app")).await;
    app.simple_query("SELECT 1").await.expect("app db survives");
    // The URL form (for sqlx/psql) names the same login.
    let via_url = connect(&host.pg.url("app")).await;
    let who: String = via_url.query_one("SELECT current_user::text", &[]).await.expect("whoami").get(0);
    assert_eq!(who, host.pg.superuser());
    assert!(bouncer_version(&host).await.contains("PgBouncer"));
    host.stop().expect("second stop");
}

async fn the_shared_platform_answers() {
    let p = testing::shared().await;
    for cluster in [&p.control, &p.host.pg] {
        let c = connect(&cluster.dsn("postgres")).await;
        c.simple_query("SELECT 1").await.expect("select");
    }
    assert!(bouncer_version(&p.host).await.contains("PgBouncer"));
    assert_ne!(p.control.port(), p.host.pg.port());
}

// Two tests, each with its own runtime, share one platform: the first one's runtime ending
// must not take the servers down.
#[tokio::test]
async fn the_shared_platform_serves_one_test() {
    the_shared_platform_answers().await;
}

#[tokio::test]
async fn the_shared_platform_serves_another_test() {
    the_shared_platform_answers().await;
    let p = testing::shared().await;
    p.control.create_database_if_missing("berth").await.expect("control db");
}

const HELPER_ENV: &str = "BERTH_TEST_KILL_HELPER";

/// Run in a child copy of this binary by the test below: starts the shared platform from a
/// runtime on a thread that then exits, reports the server pids, and waits to be killed.
#[test]
#[ignore = "helper for servers_die_when_the_test_binary_is_killed"]
fn helper_holds_the_platform_until_killed() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let platform = testing::shared_blocking();
    std::thread::sleep(Duration::from_millis(300));
    let mut pids = vec![platform.control.pid(), platform.host.pg.pid(), platform.host.bouncer.pid()];
    let pids: Vec<u32> =
        pids.drain(..).map(|p| p.expect("servers still running after the starting thread ended")).collect();
    let mut all = pids.clone();
    for pid in &pids {
        all.extend(children_of(*pid));
    }
    let list: Vec<String> = all.iter().map(u32::to_string).collect();
    println!("BERTH_PIDS {}", list.join(" "));
    std::thread::sleep(Duration::from_secs(300));
}

#[test]
fn servers_die_when_the_test_binary_is_killed() {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["--exact", "helper_holds_the_platform_until_killed", "--ignored", "--nocapture"])
        .env(HELPER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn helper");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(pids) = line.strip_prefix("BERTH_PIDS ") {
                let _ = tx.send(pids.split(' ').filter_map(|p| p.parse::<u32>().ok()).collect::<Vec<_>>());
            }
        }
    });
    let pids = rx.recv_timeout(Duration::from_secs(120));
    child.kill().expect("SIGKILL the helper");
    child.wait().expect("reap the helper");
    let pids = pids.expect("helper reported its server pids");
    assert!(pids.len() > 3, "postmasters have children: {pids:?}");

    eventually_blocking("the servers to die with the killed test binary", Duration::from_secs(10), || {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("processes outlived the killed test binary: {left:?}"))
        }
    });
}

/// A PgBouncer started by a Berth from before the guard listens on the TCP port itself. When
/// today's Berth finds one running on its dir, it restarts it behind the guard on the same
/// port, and logins through the port work.
#[tokio::test]
async fn a_pgbouncer_listening_on_the_port_itself_is_restarted_behind_the_guard() {
    use std::os::unix::fs::MetadataExt;
    let dir = testing::scratch_dir("old-bouncer").expect("scratch dir");
    let opts = LocalHostOptions::for_tests();
    let host = LocalHost::start(&dir, &opts).await.expect("first start");
    let port = host.bouncer.port();
    host.bouncer.stop().expect("stop pgbouncer and its guard");

    // The older Berth's ini, PgBouncer on the TCP port, started by hand (daemonised) as the
    // ini's owner.
    let ini_path = dir.join("pgbouncer/pgbouncer.ini");
    let ini = std::fs::read_to_string(&ini_path).expect("ini");
    std::fs::write(&ini_path, ini.replacen("[pgbouncer]\n", "[pgbouncer]\nlisten_addr = 127.0.0.1\n", 1))
        .expect("old ini");
    let program =
        if std::path::Path::new("/usr/sbin/pgbouncer").exists() { "/usr/sbin/pgbouncer" } else { "pgbouncer" };
    let owner = std::fs::metadata(&ini_path).expect("ini metadata").uid();
    let mut start = if uid_of(std::process::id()) == 0 && owner != 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", ops::local::SERVICE_USER, "--", program]);
        c
    } else {
        Command::new(program)
    };
    let started = start.arg("-d").arg(&ini_path).output().expect("pgbouncer -d");
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    // Daemonised, it writes its pidfile and binds in an order of its own: wait for both.
    let old_pid = eventually_blocking("the old PgBouncer's pidfile and port", Duration::from_secs(10), || {
        let pid = std::fs::read_to_string(dir.join("pgbouncer/pgbouncer.pid"))
            .map_err(|e| format!("pidfile: {e}"))?
            .trim()
            .parse::<u32>()
            .map_err(|e| format!("pidfile: {e}"))?;
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("port: {e}"))?;
        Ok::<u32, String>(pid)
    });

    let again = LocalHost::start(&dir, &opts).await.expect("start over the old PgBouncer");
    assert_eq!(again.bouncer.port(), port, "the connection strings' port is kept");
    assert!(!alive(old_pid), "the PgBouncer on the TCP port was stopped");
    assert!(again.bouncer.pid().is_some_and(|p| p != old_pid));
    let ini = std::fs::read_to_string(&ini_path).expect("ini");
    assert!(!ini.lines().any(|l| l.starts_with("listen_addr")), "{ini}");
    // Through the port (the guard) to PgBouncer's console.
    assert!(bouncer_version(&again).await.contains("PgBouncer"));
    again.stop().expect("stop");
}
