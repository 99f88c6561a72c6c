//! Moving a database's contents as a stream: `pg_dump` (plain SQL) → gzip → object store for
//! a backup, object store → gunzip → `psql` for a restore, `pg_dump` → `psql` for a branch.
//! Nothing is held whole in memory or written to local disk: a few MiB are in flight at a
//! time, whatever the database's size. Compression runs on a blocking thread so that
//! pg_dump, gzip and the upload overlap, as in a shell pipeline.
//!
//! Child processes get their connection through `PG*` environment variables; the password
//! travels as `PGPASSWORD`, never on a command line (which `ps` shows to every user).

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use flate2::Compression;
use futures::StreamExt;
use opendal::Operator;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::bins::PgBins;
use crate::objects::store_error;
use crate::tenant::{pinned_options, SessionLimits, JOB_LOCK_WAIT};
use crate::HostError;

/// Where a child process connects: a tenant's own role in a tenant database (built from a
/// [`crate::tenant::TenantLogin`] by [`crate::HostConn::tenant_target`]), never the superuser.
#[derive(Clone)]
pub struct PgTarget {
    host: String,
    port: u16,
    user: String,
    password: String,
    dbname: String,
    limits: SessionLimits,
}

impl PgTarget {
    pub(crate) fn new(
        host: &str,
        port: u16,
        login: &crate::tenant::TenantLogin,
        dbname: &str,
        limits: SessionLimits,
    ) -> Self {
        Self {
            host: host.to_owned(),
            port,
            user: login.role().to_owned(),
            password: login.password().to_owned(),
            dbname: dbname.to_owned(),
            limits,
        }
    }

    /// A target outside any tenant's reach, for `berth bench backup`'s scratch database on a
    /// cluster of its own. Never for a tenant database.
    pub fn for_benchmark(host: &str, port: u16, user: &str, password: &str, dbname: &str) -> Self {
        Self {
            host: host.to_owned(),
            port,
            user: user.to_owned(),
            password: password.to_owned(),
            dbname: dbname.to_owned(),
            limits: SessionLimits::job(crate::tenant::DEFAULT_JOB_DEADLINE),
        }
    }

    /// The same login, in another database (a scratch copy the role owns).
    pub fn in_database(&self, dbname: &str) -> Self {
        Self { dbname: dbname.to_owned(), ..self.clone() }
    }

    fn apply(&self, cmd: &mut Command) {
        for var in ["PGSERVICE", "PGSERVICEFILE", "PGPASSFILE", "PGHOSTADDR", "PGSSLMODE"] {
            cmd.env_remove(var);
        }
        cmd.env("PGHOST", &self.host)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", &self.user)
            .env("PGPASSWORD", &self.password)
            .env("PGDATABASE", &self.dbname)
            .env("PGOPTIONS", pinned_options(self.limits))
            .env("PGAPPNAME", "berth-backup")
            .env("PGCONNECT_TIMEOUT", "10");
    }
}

/// How a dump came out: the compressed object's size and SHA-256, and the SQL's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpOutcome {
    pub size_bytes: i64,
    pub sha256: String,
    pub sql_bytes: u64,
}

/// Bytes read from pg_dump at a time, and compressed bytes sent to the uploader at a time.
const READ_BLOCK: usize = 256 * 1024;
const SEND_BLOCK: usize = 1024 * 1024;
/// Upload part size. Parts go one at a time: with `concurrent(n > 1)`, opendal 0.54 keeps
/// every finished part's bytes queued (up to 8192 of them) until the writer is closed, which
/// made a 166 MB backup peak at 171 MiB RSS. One part plus a short channel keeps the backup
/// path around 30 MiB whatever the database's size; compression still overlaps the upload.
const UPLOAD_CHUNK: usize = 8 * 1024 * 1024;

/// Kills and reaps a child when dropped early (a cancelled job, one past its deadline), so
/// neither a pg_dump nor a psql outlives the work it was for. Its stderr is read from the
/// start by a thread of its own: a child that writes more than a pipe holds (a tenant's
/// `RAISE WARNING`s during a restore) would otherwise block for ever on a pipe nobody reads.
/// Only the first [`STDERR_KEPT`] bytes are kept; the rest is read and dropped.
struct ChildGuard {
    child: Option<Child>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// Bytes of a child's stderr kept for its error message.
pub(crate) const STDERR_KEPT: u64 = 16 * 1024;

impl ChildGuard {
    fn take(&mut self) -> Option<(Child, Option<std::thread::JoinHandle<String>>)> {
        self.child.take().map(|c| (c, self.stderr.take()))
    }

    fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            std::thread::spawn(move || child.wait());
        }
    }
}

/// Reads `stderr` to its end, keeping the first [`STDERR_KEPT`] bytes.
fn drain(mut stderr: impl Read) -> String {
    let mut kept = Vec::new();
    let _ = stderr.by_ref().take(STDERR_KEPT).read_to_end(&mut kept);
    let _ = std::io::copy(&mut stderr, &mut std::io::sink());
    String::from_utf8_lossy(&kept).into_owned()
}

fn spawn(mut cmd: Command, what: &str) -> Result<ChildGuard, HostError> {
    cmd.stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| HostError::Permanent(format!("starting {what}: {e}")))?;
    let stderr = child.stderr.take().map(|e| std::thread::spawn(move || drain(e)));
    Ok(ChildGuard { child: Some(child), stderr })
}

/// Waits for the child. If it failed, the error names the tool and its exit status only:
/// what it printed can hold a tenant's own text (its `RAISE` messages, object names), which
/// must not reach incidents that operators read as the platform's word. The first lines go to
/// the log, scrubbed of control characters.
async fn finish(mut guard: ChildGuard, what: &'static str) -> Result<(), HostError> {
    let Some((mut child, stderr)) = guard.take() else { return Ok(()) };
    let waited = tokio::task::spawn_blocking(move || {
        let status = child.wait();
        let err = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        status.map(|status| (status, err))
    })
    .await
    .map_err(|e| HostError::Transient(format!("{what}: {e}")))?;
    let (status, err) = waited.map_err(|e| HostError::Transient(format!("{what}: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let said: String = err.lines().take(3).collect::<Vec<_>>().join(" / ");
    let said: String = said.chars().map(|c| if c.is_control() { ' ' } else { c }).take(600).collect();
    tracing::warn!(tool = what, %status, stderr = %said, "a client tool failed");
    Err(HostError::Transient(format!("{what} failed ({status}); its messages are in the worker's log")))
}

pub(crate) fn pg_dump(bins: &PgBins, source: &PgTarget, snapshot: Option<&str>, privileges: bool) -> Command {
    let mut cmd = Command::new(bins.tool("pg_dump"));
    source.apply(&mut cmd);
    // Objects are restored owned by whoever restores them (the new database's own role).
    cmd.args(["--format=plain", "--no-owner", "--quote-all-identifiers"]);
    // A backup, restore or branch leaves grants out (the roles they name may not exist where
    // it is restored); a move keeps them: the same roles exist on the new host first.
    if !privileges {
        cmd.arg("--no-privileges");
    }
    // pg_dump sets its own session's timeouts to 0: without this it would wait for ever for
    // a table a tenant keeps locked.
    cmd.arg(format!("--lock-wait-timeout={}", JOB_LOCK_WAIT.as_millis()));
    if let Some(s) = snapshot {
        cmd.arg(format!("--snapshot={s}"));
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn psql(bins: &PgBins, target: &PgTarget) -> Command {
    let mut cmd = Command::new(bins.tool("psql"));
    target.apply(&mut cmd);
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
    cmd.stdout(Stdio::null());
    cmd
}

/// Dumps `source` (inside `snapshot` when given) through gzip into the object `key`. The
/// object exists only if everything succeeded: on any failure the upload is aborted.
pub async fn dump_to_object(
    bins: &PgBins,
    source: &PgTarget,
    snapshot: Option<&str>,
    op: &Operator,
    key: &str,
    level: u32,
) -> Result<DumpOutcome, HostError> {
    command_to_object(vec![(pg_dump(bins, source, snapshot, false), "pg_dump")], op, key, level).await
}

/// A dump tool (`Command`, its name for errors and logs).
pub(crate) type Tool = (Command, &'static str);

/// Started tools, each with its name.
type Running = Vec<(ChildGuard, &'static str)>;

/// Starts each of `tools` with its stdout piped; their outputs one after the other.
fn spawn_chained(tools: Vec<Tool>) -> Result<(Running, Box<dyn Read + Send>), HostError> {
    let mut children = Vec::with_capacity(tools.len());
    let mut out: Box<dyn Read + Send> = Box::new(std::io::empty());
    for (mut cmd, what) in tools {
        cmd.stdout(Stdio::piped());
        let mut child = spawn(cmd, what)?;
        let stdout =
            child.child_mut().and_then(|c| c.stdout.take()).ok_or(HostError::Transient(format!("no {what} stdout")))?;
        out = Box::new(out.chain(stdout));
        children.push((child, what));
    }
    Ok((children, out))
}

/// How each of `children` ended: the first failure.
async fn finish_all(children: Running) -> Result<(), HostError> {
    let mut first = Ok(());
    for (child, what) in children {
        let ended = finish(child, what).await;
        first = first.and(ended);
    }
    first
}

/// Runs `tools` (dump tools, one after the other's output) through gzip into the object
/// `key`. The object exists only if everything succeeded: on any failure the upload is
/// aborted.
pub(crate) async fn command_to_object(
    tools: Vec<Tool>,
    op: &Operator,
    key: &str,
    level: u32,
) -> Result<DumpOutcome, HostError> {
    let (children, stdout) = spawn_chained(tools)?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    let compressor = tokio::task::spawn_blocking(move || compress(stdout, tx, level));
    let mut writer = op.writer_with(key).chunk(UPLOAD_CHUNK).concurrent(1).await.map_err(store_error)?;
    let mut upload = Ok(());
    while let Some(block) = rx.recv().await {
        if let Err(e) = writer.write(block).await {
            upload = Err(store_error(e));
            break;
        }
    }
    drop(rx); // unblocks the compressor if the upload failed
    let compressed = compressor.await.map_err(|e| HostError::Transient(format!("compressor: {e}")));
    let dumped = finish_all(children).await;
    let outcome = upload.and(dumped).and_then(|()| compressed?);
    match outcome {
        Ok(outcome) => {
            writer.close().await.map_err(store_error)?;
            Ok(outcome)
        }
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(key, error = %abort, "aborting a failed backup upload");
            }
            Err(e)
        }
    }
}

/// The compressor thread: reads SQL, gzips it, hashes the compressed bytes and hands them
/// to the uploader in blocks of about [`SEND_BLOCK`].
fn compress(mut sql: impl Read, tx: mpsc::Sender<Bytes>, level: u32) -> Result<DumpOutcome, HostError> {
    let io = |e: std::io::Error| HostError::Transient(format!("reading pg_dump output: {e}"));
    let gone = || HostError::Transient("the upload stopped".into());
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(SEND_BLOCK * 2), Compression::new(level));
    let mut hash = Sha256::new();
    let (mut size, mut sql_bytes) = (0u64, 0u64);
    let mut buf = vec![0u8; READ_BLOCK];
    loop {
        let n = sql.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        sql_bytes += n as u64;
        gz.write_all(&buf[..n]).map_err(io)?;
        if gz.get_ref().len() >= SEND_BLOCK {
            let block = std::mem::replace(gz.get_mut(), Vec::with_capacity(SEND_BLOCK * 2));
            hash.update(&block);
            size += block.len() as u64;
            tx.blocking_send(Bytes::from(block)).map_err(|_| gone())?;
        }
    }
    let last = gz.finish().map_err(io)?;
    hash.update(&last);
    size += last.len() as u64;
    tx.blocking_send(Bytes::from(last)).map_err(|_| gone())?;
    Ok(DumpOutcome { size_bytes: size as i64, sha256: hex::encode(hash.finalize()), sql_bytes })
}

/// Restores the object `key` into `target`: streamed through gunzip into psql, whose first
/// statement is `prelude` (e.g. `SET ROLE …` so the objects belong to the tenant's role).
/// Fails if the object's SHA-256 is not `expect_sha256`.
pub async fn restore_from_object(
    bins: &PgBins,
    target: &PgTarget,
    op: &Operator,
    key: &str,
    expect_sha256: &str,
    prelude: &str,
) -> Result<u64, HostError> {
    object_into_command((psql(bins, target), plain), "psql", op, key, expect_sha256, prelude).await
}

/// Where a load tool's input goes through: its stdin as it is, or a filter over it (see
/// `crate::maria::definer`). Flushed at the end of the input, then dropped (closing stdin).
pub(crate) type Sink = Box<dyn Write + Send>;
pub(crate) type SinkFilter = fn(std::process::ChildStdin) -> Sink;

pub(crate) fn plain(stdin: std::process::ChildStdin) -> Sink {
    Box::new(stdin)
}

/// Streams the object `key` through gunzip into the stdin of `cmd` (a load tool, `what`,
/// through `filter`), `prelude` first. Fails if the object's SHA-256 is not `expect_sha256`.
pub(crate) async fn object_into_command(
    (mut cmd, filter): (Command, SinkFilter),
    what: &'static str,
    op: &Operator,
    key: &str,
    expect_sha256: &str,
    prelude: &str,
) -> Result<u64, HostError> {
    let reader = op.reader_with(key).chunk(4 * 1024 * 1024).await.map_err(store_error)?;
    let mut stream = reader.into_bytes_stream(..).await.map_err(store_error)?;
    cmd.stdin(Stdio::piped());
    let mut child = spawn(cmd, what)?;
    let stdin =
        child.child_mut().and_then(|c| c.stdin.take()).ok_or(HostError::Transient(format!("no {what} stdin")))?;
    let mut stdin = filter(stdin);
    let io = move |e: std::io::Error| HostError::Transient(format!("writing to {what}: {e}"));
    stdin.write_all(prelude.as_bytes()).map_err(io)?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    let decompressor = tokio::task::spawn_blocking(move || -> Result<(u64, String), HostError> {
        let mut gz = flate2::write::GzDecoder::new(stdin);
        let mut hash = Sha256::new();
        let mut size = 0u64;
        while let Some(block) = rx.blocking_recv() {
            hash.update(&block);
            size += block.len() as u64;
            gz.write_all(&block).map_err(io)?;
        }
        gz.try_finish().map_err(io)?;
        gz.get_mut().flush().map_err(io)?;
        drop(gz); // closes the tool's stdin: end of input
        Ok((size, hex::encode(hash.finalize())))
    });
    let mut download = Ok(());
    while let Some(block) = stream.next().await {
        match block {
            Ok(b) => {
                if tx.send(b).await.is_err() {
                    break; // the decompressor failed; its error says why
                }
            }
            Err(e) => {
                download = Err(HostError::Transient(format!("reading backup object: {e}")));
                break;
            }
        }
    }
    drop(tx);
    let decompressed = decompressor.await.map_err(|e| HostError::Transient(format!("decompressor: {e}")))?;
    let restored = finish(child, what).await;
    download?;
    restored?;
    let (size, sha) = decompressed?;
    if sha != expect_sha256 {
        return Err(HostError::Permanent(format!("backup object {key} does not match its recorded SHA-256")));
    }
    Ok(size)
}

/// Copies `source`'s current schema and data into `target`: pg_dump piped straight into
/// psql (one consistent snapshot of the source; it stays online and writable).
pub async fn copy_database(
    bins: &PgBins,
    source: &PgTarget,
    target: &PgTarget,
    prelude: &str,
) -> Result<(), HostError> {
    pipe(vec![(pg_dump(bins, source, None, false), "pg_dump")], (psql(bins, target), "psql"), plain, prelude).await
}

/// Copies `source` as of `snapshot`, grants kept, straight into `target` (a move between
/// two hosts this process reaches).
pub async fn copy_snapshot(
    bins: &PgBins,
    source: &PgTarget,
    snapshot: &str,
    target: &PgTarget,
) -> Result<(), HostError> {
    pipe(vec![(pg_dump(bins, source, Some(snapshot), true), "pg_dump")], (psql(bins, target), "psql"), plain, "").await
}

/// Pipes the output of `dumps` (one after the other) into the stdin of `load` (through
/// `filter`), `prelude` first.
pub(crate) async fn pipe(
    dumps: Vec<Tool>,
    (mut load, load_what): Tool,
    filter: SinkFilter,
    prelude: &str,
) -> Result<(), HostError> {
    let dump_what = dumps.first().map_or("dump", |(_, w)| *w);
    let (dumpers, stdout) = spawn_chained(dumps)?;
    load.stdin(Stdio::piped());
    let mut loader = spawn(load, load_what)?;
    let stdin =
        loader.child_mut().and_then(|c| c.stdin.take()).ok_or(HostError::Transient(format!("no {load_what} stdin")))?;
    let mut stdin = filter(stdin);
    let pump = tokio::task::spawn_blocking({
        let prelude = prelude.to_owned();
        move || -> std::io::Result<u64> {
            stdin.write_all(prelude.as_bytes())?;
            let mut stdout = stdout;
            let n = std::io::copy(&mut stdout, &mut stdin)?;
            stdin.flush()?;
            Ok(n)
        }
    });
    let pumped = pump.await.map_err(|e| HostError::Transient(format!("copy: {e}")))?;
    let dumped = finish_all(dumpers).await;
    let loaded = finish(loader, load_what).await;
    dumped?;
    loaded?;
    pumped.map(|_| ()).map_err(|e| HostError::Transient(format!("copying {dump_what} into {load_what}: {e}")))
}
