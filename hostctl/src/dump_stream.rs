//! A plain `pg_dump` of a tenant database streamed to a client (`POST /databases/{id}/dump`),
//! never held whole: its stdout is read a block at a time and handed on as it comes.
//!
//! The child runs as the tenant's own role with our pinned settings ([`PgTarget`]; the
//! password in its environment, never its arguments). Its stderr is drained from the start
//! (a full pipe would block it); the first lines of it go to the log, never to the client. It
//! is killed when the stream is dropped (the client went away), and when the deadline passes.
//!
//! [`start`] reads the first block before it returns, so a dump that fails before its first
//! byte (a refused login, a missing tool) is an error the caller can answer with; a failure
//! after it ends the stream with an error item.

use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, ChildStdout};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::bins::PgBins;
use crate::dump::{pg_dump, PgTarget, STDERR_KEPT};
use crate::HostError;

/// Bytes read from pg_dump at a time.
const BLOCK: usize = 64 * 1024;

/// The rest of a dump after its first block.
pub type DumpStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

struct Running {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<String>>,
    until: Instant,
}

/// Reads `stderr` to its end, keeping the first [`STDERR_KEPT`] bytes.
async fn drain(mut stderr: impl AsyncRead + Unpin) -> String {
    let mut kept = Vec::new();
    let _ = (&mut stderr).take(STDERR_KEPT).read_to_end(&mut kept).await;
    let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&kept).into_owned()
}

impl Running {
    /// The next block, `None` at a successful end.
    async fn next_block(&mut self) -> Result<Option<Bytes>, HostError> {
        let mut buf = BytesMut::with_capacity(BLOCK);
        match tokio::time::timeout_at(self.until, self.stdout.read_buf(&mut buf)).await {
            Err(_) => {
                let _ = self.child.start_kill();
                Err(HostError::Transient("pg_dump ran past its deadline and was stopped".into()))
            }
            Ok(Err(e)) => Err(HostError::Transient(format!("reading pg_dump's output: {e}"))),
            Ok(Ok(0)) => self.finish().await.map(|()| None),
            Ok(Ok(_)) => Ok(Some(buf.freeze())),
        }
    }

    /// After the end of stdout: how pg_dump exited. Its messages go to the log only (they
    /// can hold the tenant's own text), scrubbed of control characters.
    async fn finish(&mut self) -> Result<(), HostError> {
        let status = match tokio::time::timeout_at(self.until, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Err(HostError::Transient(format!("waiting for pg_dump: {e}"))),
            Err(_) => {
                let _ = self.child.start_kill();
                return Err(HostError::Transient("pg_dump ran past its deadline and was stopped".into()));
            }
        };
        if status.success() {
            return Ok(());
        }
        let said = match self.stderr.take() {
            Some(h) => tokio::time::timeout(Duration::from_secs(1), h).await.ok().and_then(Result::ok),
            None => None,
        }
        .unwrap_or_default();
        let said: String = said.lines().take(3).collect::<Vec<_>>().join(" / ");
        let said: String = said.chars().map(|c| if c.is_control() { ' ' } else { c }).take(600).collect();
        tracing::warn!(%status, stderr = %said, "pg_dump of a tenant database failed");
        Err(HostError::Transient(format!("pg_dump failed ({status}); its messages are in the server's log")))
    }
}

/// Starts `pg_dump` of `source` (`--schema-only` when `ddl_only`), ending by `deadline`, and
/// reads its first block: that block (empty if the dump was empty) and the rest as a stream.
pub async fn start(
    bins: &PgBins,
    source: &PgTarget,
    ddl_only: bool,
    deadline: Duration,
) -> Result<(Bytes, DumpStream), HostError> {
    let mut cmd = pg_dump(bins, source, None, false);
    if ddl_only {
        cmd.arg("--schema-only");
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| HostError::Permanent(format!("starting pg_dump: {e}")))?;
    let stdout = child.stdout.take().ok_or_else(|| HostError::Transient("no pg_dump stdout".into()))?;
    let stderr = child.stderr.take().map(|e| tokio::spawn(drain(e)));
    let mut running = Running { child, stdout, stderr, until: Instant::now() + deadline };
    let Some(first) = running.next_block().await? else {
        return Ok((Bytes::new(), Box::pin(futures::stream::empty())));
    };
    let rest = futures::stream::unfold(Some(running), |state| async move {
        let mut running = state?;
        match running.next_block().await {
            Ok(Some(block)) => Some((Ok(block), Some(running))),
            Ok(None) => None,
            Err(e) => Some((Err(io::Error::other(e.to_string())), None)),
        }
    });
    Ok((first, Box::pin(rest)))
}
