//! Child processes: long-lived servers that must die with us, short-lived tools with a
//! deadline, and the small amount of `/proc` and signal plumbing both need.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::sync::oneshot;

use super::user::Account;

struct SpawnRequest {
    cmd: Command,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// Servers are forked from one dedicated thread that lives as long as the process:
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, and tests run
/// each `#[tokio::test]` on a runtime whose threads end with the test, which would kill the
/// shared platform halfway through the test binary.
fn spawner() -> &'static mpsc::Sender<SpawnRequest> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("berth-spawner".into())
            .spawn(move || {
                for mut req in rx {
                    // The requester may have given up (its future dropped); nothing to do then.
                    let _ = req.reply.send(req.cmd.spawn());
                }
            })
            .expect("the OS must let us start one helper thread");
        tx
    })
}

/// Starts a server that receives `death_signal` when this process exits for any reason,
/// SIGKILL included, so tests leave nothing behind.
pub(crate) async fn spawn_server(mut cmd: Command, death_signal: i32) -> anyhow::Result<Child> {
    set_parent_death_signal(&mut cmd, death_signal);
    let (tx, rx) = oneshot::channel();
    spawner().send(SpawnRequest { cmd, reply: tx }).map_err(|_| anyhow!("the berth-spawner thread is gone"))?;
    Ok(rx.await.context("the berth-spawner thread dropped a request")??)
}

#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut Command, signal: i32) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl and
    // getppid, both async-signal-safe; it allocates nothing and takes no locks. std runs
    // pre_exec closures after setgid/setuid, so the credential change (which clears the
    // death signal) has already happened when we set it.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // We may have died between fork and prctl; then no signal will ever come.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Sends `signal` to exactly one process.
#[allow(unsafe_code)]
pub(crate) fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad pid"))?;
    // SAFETY: kill has no memory-safety preconditions; pid > 0 addresses one process, never
    // a process group or "everyone".
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Alive means running: a zombie (exited, not yet reaped) counts as gone.
pub(crate) fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself contain ')'.
    match stat.rsplit_once(')') {
        Some((_, rest)) => !matches!(rest.trim_start().chars().next(), Some('Z' | 'X') | None),
        None => false,
    }
}

/// The process's command name, to tell our server from an unrelated process that got its
/// pid after a crash.
pub(crate) fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|s| s.trim().to_owned())
}

/// Polls until `pid` is gone or the timeout passes; blocking, for `stop()`.
pub(crate) fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Stops a server: `signal`, then SIGKILL if it has not exited within `grace`.
pub(crate) fn terminate(pid: u32, signal: i32, grace: Duration, what: &str) -> anyhow::Result<()> {
    if !is_alive(pid) {
        return Ok(());
    }
    send_signal(pid, signal).with_context(|| format!("signalling {what} (pid {pid})"))?;
    if wait_gone(pid, grace) {
        return Ok(());
    }
    tracing::warn!(pid, "{what} ignored its shutdown signal for {grace:?}; killing it");
    let _ = send_signal(pid, libc::SIGKILL);
    if wait_gone(pid, Duration::from_secs(5)) {
        Ok(())
    } else {
        bail!("{what} (pid {pid}) did not exit")
    }
}

/// Reaps our own child once it has exited, so it does not linger as a zombie.
pub(crate) fn reap(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        // After `terminate` the child has exited, so this collects it without blocking.
        let _ = c.try_wait();
    }
}

/// A command prepared to run as `account` (when we are root), from `cwd`, without the
/// caller's libpq environment (PGDATA, PGPORT, ... would silently change what runs).
pub(crate) fn command(program: &Path, account: Option<Account>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    if let Some(a) = account {
        cmd.uid(a.uid).gid(a.gid);
    }
    cmd
}

/// Runs a short-lived tool to completion within `timeout`; a failure carries the tail of
/// its output (our tools never print secrets: passwords travel in files).
pub(crate) async fn run(cmd: Command, what: &str, timeout: Duration) -> anyhow::Result<Output> {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| anyhow!("{what} did not finish within {timeout:?}"))?
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        bail!("{what} failed ({}):\n{}", out.status, tail_lines(&text, 30));
    }
    Ok(out)
}

pub(crate) fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The text a log gained since `offset` (at most the last 64 KiB of it).
pub(crate) fn log_since(path: &Path, offset: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = offset.max(len.saturating_sub(64 * 1024)).min(len);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

pub(crate) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Why a server did not come up.
pub(crate) enum StartFailure {
    /// Someone took the port between our probe and the server's bind: retry on another.
    PortInUse,
    Failed(anyhow::Error),
}

/// Whether a server has ended: the child we started exited (reaped here), or, for a server
/// adopted at start (no child of ours), `adopted_gone` says so.
pub(crate) fn has_ended(child: &std::sync::Mutex<Option<Child>>, adopted_gone: impl FnOnce() -> bool) -> bool {
    let mut child = child.lock().expect("child lock poisoned");
    match child.as_mut() {
        Some(c) => matches!(c.try_wait(), Ok(Some(_))),
        None => adopted_gone(),
    }
}

/// Keeps a restarted server's child, or says why it could not start on its port again.
pub(crate) fn restarted(
    slot: &std::sync::Mutex<Option<Child>>,
    started: Result<Child, StartFailure>,
    port: u16,
) -> anyhow::Result<()> {
    let child = started.map_err(|e| match e {
        StartFailure::PortInUse => anyhow::anyhow!("port {port} is taken by another process"),
        StartFailure::Failed(e) => e,
    })?;
    *slot.lock().expect("child lock poisoned") = Some(child);
    Ok(())
}

/// Polls `probe` until it succeeds, the child exits, or `timeout` passes; failures carry
/// the tail of what the server logged during this start. A server that could not bind its
/// port is stopped (with `stop_signal`, its clean fast shutdown) and reported as
/// [`StartFailure::PortInUse`]: PostgreSQL keeps running if any one address bound, and
/// PgBouncer keeps running on its Unix socket alone, so an exit is not the only symptom.
pub(crate) async fn wait_until_ready<F, Fut>(
    child: &mut Child,
    what: &str,
    log: &Path,
    log_offset: u64,
    timeout: Duration,
    stop_signal: i32,
    mut probe: F,
) -> Result<(), StartFailure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let deadline = Instant::now() + timeout;
    let port_taken = || log_since(log, log_offset).contains("Address already in use");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            if port_taken() {
                return Err(StartFailure::PortInUse);
            }
            return Err(StartFailure::Failed(anyhow!(
                "{what} exited during startup ({status}); log {}:\n{}",
                log.display(),
                tail_lines(&log_since(log, log_offset), 30)
            )));
        }
        // Checked after a successful probe too: that probe may have reached whoever holds
        // the port rather than our server.
        let probed = probe().await;
        if port_taken() {
            stop_child(child, stop_signal);
            return Err(StartFailure::PortInUse);
        }
        let last = match probed {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            stop_child(child, stop_signal);
            return Err(StartFailure::Failed(anyhow!(
                "{what} not ready within {timeout:?} (last probe: {last:#}); log {}:\n{}",
                log.display(),
                tail_lines(&log_since(log, log_offset), 30)
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops a child we gave up on; blocking, but bounded (a clean shutdown before SIGKILL, so
/// PostgreSQL does not leave shared memory and a pidfile behind for the next attempt).
fn stop_child(child: &mut Child, signal: i32) {
    let _ = terminate(child.id(), signal, Duration::from_secs(10), "a server that failed to start");
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_lost_its_port_is_stopped_and_reported() {
        let log = std::env::temp_dir().join(format!("berth-port-test-{}.log", std::process::id()));
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo 'WARNING cannot listen on 127.0.0.1:1: bind(): Address already in use' >> \"$0\"; exec sleep 30")
            .arg(&log);
        let mut child = cmd.spawn().expect("spawn sh");
        let started = Instant::now();
        let probe = || async { Err(anyhow!("not ours")) };
        let outcome =
            wait_until_ready(&mut child, "fake", &log, 0, Duration::from_secs(20), libc::SIGTERM, probe).await;
        let _ = std::fs::remove_file(&log);
        assert!(matches!(outcome, Err(StartFailure::PortInUse)));
        assert!(child.try_wait().expect("wait").is_some(), "the fake server was stopped");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
