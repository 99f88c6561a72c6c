//! Backup and restore throughput of the platform's streaming path against the shell
//! pipelines an operator would write, on the same database in the same run, interleaved
//! pair by pair:
//!
//! - backup: what the backup job does (exported snapshot, per-table stats in it, pg_dump →
//!   flate2 level 1 → object store, sha256 on the fly), run in a child `berth` process so
//!   its peak memory (VmHWM) is the backup path's own, vs `pg_dump | gzip -1 > file`;
//! - restore: object → gunzip → psql (in process) vs `gunzip -c file | psql`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hostctl::bins::PgBins;
use hostctl::dump::{self, PgTarget as DumpTarget};
use hostctl::objects::ObjectStoreConfig;

use super::stats::summarize;
use crate::local::testing;

const DB: &str = "bench_backup";

/// Where the bench's own scratch database is (on a cluster of the bench's own, no tenant's).
struct PgTarget {
    host: String,
    port: u16,
    user: String,
    password: String,
    dbname: String,
}

impl PgTarget {
    fn dump(&self) -> DumpTarget {
        DumpTarget::for_benchmark(&self.host, self.port, &self.user, &self.password, &self.dbname)
    }
}

fn target(dbname: &str, pg: &crate::local::PgCluster) -> PgTarget {
    PgTarget {
        host: pg.host().to_owned(),
        port: pg.port(),
        user: pg.superuser().to_owned(),
        password: pg.superuser_password().to_owned(),
        dbname: dbname.to_owned(),
    }
}

fn with_pg_env(cmd: &mut Command, t: &PgTarget) {
    cmd.env("PGHOST", &t.host)
        .env("PGPORT", t.port.to_string())
        .env("PGUSER", &t.user)
        .env("PGPASSWORD", &t.password)
        .env("PGDATABASE", &t.dbname);
}

pub async fn run(size_mb: u64, runs: usize) -> anyhow::Result<()> {
    anyhow::ensure!(size_mb > 0 && runs > 0, "--size-mb and --runs must be positive");
    let platform = testing::shared().await;
    let pg = &platform.host.pg;
    let bins = PgBins::find()?;
    let admin = crate::local::connect(&pg.dsn("postgres")).await?;
    // One statement per call: CREATE DATABASE refuses to share an implicit transaction.
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)")).await?;
    admin.batch_execute(&format!("CREATE DATABASE {DB}")).await?;
    let db = crate::local::connect(&pg.dsn(DB)).await?;
    eprintln!("filling {DB} with about {size_mb} MB of random text…");
    // ~560 bytes per row on disk; random hex compresses like real data does (about 2:1).
    let rows = (size_mb * 1024 * 1024 / 560).max(1) as i64;
    db.execute(
        "create table t as select g as id, (select string_agg(md5(random()::text || g || s), '')
                                            from generate_series(1, 16) s) as body
         from generate_series(1, $1::bigint) g",
        &[&rows],
    )
    .await?;
    db.batch_execute("alter table t add primary key (id)").await?;
    db.batch_execute("vacuum analyze t").await?;
    let bytes: i64 = db.query_one("select pg_database_size(current_database())", &[]).await?.get(0);
    let mb = bytes as f64 / 1e6;

    let dir = platform.dir.join("bench-backup");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let source = target(DB, pg);
    let (mut ours, mut shell, mut hwm) = (Vec::new(), Vec::new(), Vec::new());
    let mut last_key = String::new();
    for i in 0..runs {
        let key = format!("{DB}/run{i}.sql.gz");
        let t = Instant::now();
        hwm.push(backup_in_child(&source, &dir, &key)?);
        ours.push(t.elapsed());
        last_key = key;
        let t = Instant::now();
        shell_backup(&bins, &source, &dir.join(format!("shell{i}.sql.gz")))?;
        shell.push(t.elapsed());
        eprint!("\rbackup {}/{runs}", i + 1);
    }
    eprintln!();

    let objects = ObjectStoreConfig::Fs { root: dir.clone() }.operator()?;
    let sha = {
        use sha2::Digest;
        let body = std::fs::read(dir.join(&last_key))?;
        hex::encode(sha2::Sha256::digest(&body))
    };
    let (mut ours_restore, mut shell_restore) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let scratch = format!("bench_restore_{i}");
        recreate(&admin, &scratch).await?;
        let t = Instant::now();
        dump::restore_from_object(&bins, &target(&scratch, pg).dump(), &objects, &last_key, &sha, "").await?;
        ours_restore.push(t.elapsed());
        recreate(&admin, &scratch).await?;
        let t = Instant::now();
        shell_restore_run(&bins, &target(&scratch, pg), &dir.join("shell0.sql.gz"))?;
        shell_restore.push(t.elapsed());
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {scratch}")).await?;
        eprint!("\rrestore {}/{runs}", i + 1);
    }
    eprintln!();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)")).await?;

    let median = |v: &[Duration]| summarize(v, v.iter().sum()).p50;
    let rate = |d: Duration| mb / d.as_secs_f64();
    let (bo, bs, ro, rs) = (median(&ours), median(&shell), median(&ours_restore), median(&shell_restore));
    hwm.sort();
    let peak = hwm.last().copied().unwrap_or(0);
    let compressed = std::fs::metadata(dir.join(&last_key))?.len() as f64 / 1e6;
    println!("bench backup: database of {mb:.0} MB ({compressed:.0} MB gzipped), {runs} runs each, medians");
    println!("  backup  berth (snapshot + stats + pg_dump → flate2 -1 → store): {:.1} MB/s", rate(bo));
    println!("  backup  shell (pg_dump | gzip -1 > file):                     {:.1} MB/s", rate(bs));
    println!("  ratio backup berth/shell: {:.2}x (target ≥ 0.90x)", bs.as_secs_f64() / bo.as_secs_f64());
    println!("  restore berth (store → gunzip → psql): {:.1} MB/s", rate(ro));
    println!("  restore shell (gunzip -c | psql):      {:.1} MB/s", rate(rs));
    println!("  ratio restore berth/shell: {:.2}x", rs.as_secs_f64() / ro.as_secs_f64());
    println!("  peak memory of the backup process (VmHWM): {:.1} MiB (target < 64 MiB)", peak as f64 / 1024.0);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn recreate(admin: &tokio_postgres::Client, db: &str) -> anyhow::Result<()> {
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).await?;
    admin.batch_execute(&format!("CREATE DATABASE {db}")).await?;
    Ok(())
}

/// Runs one backup in a child `berth bench backup-worker` and returns its VmHWM in KiB.
fn backup_in_child(source: &PgTarget, root: &Path, key: &str) -> anyhow::Result<u64> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["bench", "backup-worker", "--root"]).arg(root).args(["--key", key]);
    with_pg_env(&mut cmd, source);
    let out = cmd.output().context("running the backup child")?;
    if !out.status.success() {
        bail!("backup child failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let kib = text.lines().find_map(|l| l.strip_prefix("vmhwm_kib ")).context("the child reports VmHWM")?;
    Ok(kib.trim().parse()?)
}

/// The child's side: what the backup job does, then its own peak RSS.
pub async fn worker(root: PathBuf, key: String) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).with_context(|| format!("{k} is not set"));
    let source = PgTarget {
        host: env("PGHOST")?,
        port: env("PGPORT")?.parse()?,
        user: env("PGUSER")?,
        password: env("PGPASSWORD")?,
        dbname: env("PGDATABASE")?,
    };
    let bins = PgBins::find()?;
    let objects = ObjectStoreConfig::Fs { root }.operator()?;
    let dsn = format!(
        "host={} port={} user={} password={} dbname={}",
        source.host,
        source.port,
        source.user,
        crate::local::dsn_value(&source.password),
        source.dbname
    );
    let mut client = crate::local::connect(&dsn).await?;
    let (tx, snap) = hostctl::restore_check::export_snapshot(&mut client).await?;
    let target = source.dump();
    let (dumped, stats) = tokio::join!(
        dump::dump_to_object(&bins, &target, Some(&snap), &objects, &key, 1),
        hostctl::restore_check::table_stats(&tx)
    );
    dumped?;
    stats?;
    tx.rollback().await?;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).context("VmHWM in /proc/self/status")?;
    println!("vmhwm_kib {}", hwm.trim().trim_end_matches("kB").trim());
    Ok(())
}

fn shell(script: &str, t: &PgTarget, file: &Path, bins: &PgBins) -> anyhow::Result<()> {
    let mut cmd = Command::new("bash");
    cmd.args(["-c", script, "bash"]).arg(file).arg(bins.bindir.as_os_str());
    with_pg_env(&mut cmd, t);
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("{script}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn shell_backup(bins: &PgBins, t: &PgTarget, file: &Path) -> anyhow::Result<()> {
    shell("set -o pipefail; \"$2/pg_dump\" --no-owner --no-privileges | gzip -1 > \"$1\"", t, file, bins)
}

fn shell_restore_run(bins: &PgBins, t: &PgTarget, file: &Path) -> anyhow::Result<()> {
    shell("set -o pipefail; gunzip -c \"$1\" | \"$2/psql\" -X -q -v ON_ERROR_STOP=1 > /dev/null", t, file, bins)
}
