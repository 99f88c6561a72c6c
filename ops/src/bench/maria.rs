//! The MariaDB side of `berth bench provision` and `berth bench backup` (`--engine
//! mariadb`): the platform's MariaDB tenant host, started beside PostgreSQL's, against the
//! raw statements and the shell pipeline an operator would use on the same server, in the
//! same run, interleaved pair by pair.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mysql_async::prelude::Queryable;

use super::stats::summarize;
use crate::harness::{self, Harness};
use crate::local::MariaServer;

/// The bench's MariaDB server (the harness starts one when the bench asks for it).
pub fn server(h: &Harness) -> anyhow::Result<&'static MariaServer> {
    h.maria.map(|(s, _)| s).context("the harness runs no MariaDB server (was --engine mariadb configured?)")
}

/// A session of the platform's account on the server's socket.
pub async fn admin(server: &MariaServer) -> anyhow::Result<mysql_async::Conn> {
    let opts = mysql_async::OptsBuilder::default()
        .socket(Some(server.socket().display().to_string()))
        .user(Some(server.admin_user()))
        .pass(Some(server.admin_password()));
    Ok(mysql_async::Conn::new(opts).await?)
}

/// The raw statements of a MariaDB database and its user, one after another on one session;
/// each one's time.
pub async fn raw_create(conn: &mut mysql_async::Conn, name: &str) -> anyhow::Result<[Duration; 3]> {
    let statements = [
        format!("CREATE DATABASE `{name}`"),
        format!("CREATE USER '{name}'@'%' IDENTIFIED BY 'bench-password-{name}' WITH MAX_USER_CONNECTIONS 20"),
        format!("GRANT ALL PRIVILEGES ON `{name}`.* TO '{name}'@'%'"),
    ];
    let mut took = [Duration::ZERO; 3];
    for (sql, took) in statements.iter().zip(&mut took) {
        let t = Instant::now();
        conn.query_drop(sql).await?;
        *took = t.elapsed();
    }
    Ok(took)
}

/// A MariaDB database made through the API and filled with about `size_mb` of random text;
/// its name, the owner's login and the host's adapter.
struct Filled {
    name: domain::DatabaseName,
    login: hostctl::TenantLogin,
    engine: std::sync::Arc<dyn hostctl::TenantEngine>,
    password: String,
}

async fn filled(h: &Harness, size_mb: u64) -> anyhow::Result<Filled> {
    let name = format!("bench-maria-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let http = reqwest::Client::new();
    let r: serde_json::Value = http
        .post(format!("{}/api/v1/databases", h.api_url))
        .bearer_auth(&h.admin_key)
        .json(&serde_json::json!({ "name": name, "engine": "mariadb" }))
        .send()
        .await?
        .json()
        .await?;
    let id = r["data"]["id"].as_str().with_context(|| format!("create: {r}"))?.to_owned();
    let password = r["data"]["password"].as_str().context("password")?.to_owned();
    let client = client::Client::new(&h.api_url, Some(&h.admin_key))?;
    client.wait_database(&id, client::WaitFor::State("running"), Duration::from_secs(60), |_| {}).await?;
    let server = server(h)?;
    let mut tenant = mysql_async::Conn::new(
        mysql_async::OptsBuilder::default()
            .socket(Some(server.socket().display().to_string()))
            .user(Some(name.clone()))
            .pass(Some(password.clone()))
            .db_name(Some(name.clone())),
    )
    .await?;
    eprintln!("filling {name} with about {size_mb} MB of random text…");
    let rows = (size_mb * 1024 * 1024 / 600).max(1);
    tenant.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT) ENGINE=InnoDB").await?;
    // Random hex compresses like real data does (about 2:1); in batches of 10,000 rows.
    let mut done = 0;
    while done < rows {
        let n = (rows - done).min(10_000);
        tenant
            .query_drop(format!(
                "INSERT INTO t SELECT seq + {done}, CONCAT({body}) FROM seq_1_to_{n}",
                body = vec!["MD5(RAND())"; 16].join(", ")
            ))
            .await?;
        done += n;
    }
    // information_schema's sizes are InnoDB's statistics: bring them up to date.
    tenant.query_drop("ANALYZE TABLE t").await?;
    drop(tenant);
    let parsed = domain::DatabaseName::parse(&name)?;
    let login = hostctl::TenantLogin::owner(&parsed, password.clone());
    let engine = worker::hosts::engine(&hostctl::Hosts::default(), &h.store(), h.maria.context("maria")?.1).await?;
    Ok(Filled { name: parsed, login, engine, password })
}

/// `berth bench backup --engine mariadb`.
pub async fn backup(size_mb: u64, runs: usize) -> anyhow::Result<()> {
    let h = harness::shared();
    let server = server(h)?;
    let f = filled(h, size_mb).await?;
    let mut admin = admin(server).await?;
    let size: i64 = admin
        .exec_first(
            "SELECT CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS SIGNED) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
            (f.name.as_str(),),
        )
        .await?
        .unwrap_or(0);
    let mb = size as f64 / 1e6;
    let dir = h.platform.dir.join("bench-maria-backup");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let objects = hostctl::objects::ObjectStoreConfig::Fs { root: dir.clone() }.operator()?;
    let bins = hostctl::bins::PgBins::find()?;
    let streams =
        hostctl::engine::Streams { objects: &objects, bins: &bins, level: 1, deadline: Duration::from_secs(3600) };
    let (mut ours, mut shell) = (Vec::new(), Vec::new());
    let mut last = None;
    for i in 0..runs {
        let key = format!("run{i}.sql.gz");
        let t = Instant::now();
        let taken = f.engine.backup(&f.name, &f.login, streams, &key).await?;
        ours.push(t.elapsed());
        last = Some((key, taken.dump.sha256));
        let t = Instant::now();
        shell_run(server, &f, &dir.join(format!("shell{i}.sql.gz")), SHELL_BACKUP)?;
        shell.push(t.elapsed());
        eprint!("\rbackup {}/{runs}", i + 1);
    }
    eprintln!();
    let (key, sha) = last.context("no run")?;
    let (mut ours_restore, mut shell_restore) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let scratch = format!("berth-bench-{i}");
        f.engine.create_scratch(&scratch, &f.name).await?;
        let t = Instant::now();
        f.engine.restore(&scratch, &f.login, streams, &key, &sha).await?;
        ours_restore.push(t.elapsed());
        f.engine.drop_scratch(&scratch).await?;
        f.engine.create_scratch(&scratch, &f.name).await?;
        let t = Instant::now();
        shell_load(server, &f, &scratch, &dir.join("shell0.sql.gz"))?;
        shell_restore.push(t.elapsed());
        f.engine.drop_scratch(&scratch).await?;
        eprint!("\rrestore {}/{runs}", i + 1);
    }
    eprintln!();
    let median = |v: &[Duration]| summarize(v, v.iter().sum()).p50;
    let rate = |d: Duration| mb / d.as_secs_f64();
    let (bo, bs, ro, rs) = (median(&ours), median(&shell), median(&ours_restore), median(&shell_restore));
    let compressed = std::fs::metadata(dir.join(&key))?.len() as f64 / 1e6;
    println!(
        "bench backup --engine mariadb: database of {mb:.0} MB ({compressed:.0} MB gzipped), {runs} runs each, medians"
    );
    println!(
        "  backup  berth (stats in a snapshot + mariadb-dump and routines → flate2 -1 → store): {:.1} MB/s",
        rate(bo)
    );
    println!(
        "  backup  shell (mariadb-dump --single-transaction | gzip -1 > file):                {:.1} MB/s",
        rate(bs)
    );
    println!("  ratio backup berth/shell: {:.2}x", bs.as_secs_f64() / bo.as_secs_f64());
    println!("  restore berth (store → gunzip → definer filter → mariadb): {:.1} MB/s", rate(ro));
    println!("  restore shell (gunzip -c | mariadb):                       {:.1} MB/s", rate(rs));
    println!("  ratio restore berth/shell: {:.2}x", rs.as_secs_f64() / ro.as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

const SHELL_BACKUP: &str = "set -o pipefail; mariadb-dump --no-defaults --socket=\"$2\" --user=\"$3\" \
     --single-transaction --routines --hex-blob \"$3\" | gzip -1 > \"$1\"";

fn shell_run(server: &MariaServer, f: &Filled, file: &Path, script: &str) -> anyhow::Result<()> {
    let mut cmd = Command::new("bash");
    cmd.args(["-c", script, "bash"]).arg(file).arg(server.socket()).arg(f.name.as_str());
    cmd.env("MYSQL_PWD", &f.password);
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("{script}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn shell_load(server: &MariaServer, f: &Filled, into: &str, file: &Path) -> anyhow::Result<()> {
    let script = format!(
        "set -o pipefail; gunzip -c \"$1\" | mariadb --no-defaults --socket=\"$2\" --user=\"$3\" --database='{into}'"
    );
    shell_run(server, f, file, &script)
}
