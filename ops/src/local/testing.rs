//! The platform tests share: one control-plane cluster and one tenant host per test
//! binary (initdb costs ~1 s; per test it would dominate the suite), started on first use
//! with fsync off under a fresh temp dir.
//!
//! Statics are never dropped, so nothing here stops the servers: they get a parent-death
//! signal and go down when the test binary exits, however it exits. The directories stay
//! behind and are removed by the next test binary that starts (see [`scratch_dir`]).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use rand::distributions::{Alphanumeric, DistString};
use tokio::sync::OnceCell;

use super::process;
use super::{ClusterOptions, LocalHost, LocalHostOptions, PgCluster};

pub struct TestPlatform {
    /// Where the control plane's own database lives.
    pub control: PgCluster,
    /// A tenant host (cluster + PgBouncer) for provisioning into.
    pub host: LocalHost,
    pub dir: PathBuf,
}

static PLATFORM: OnceCell<TestPlatform> = OnceCell::const_new();

/// The binary-wide platform, started by whichever test asks first; usable from any runtime
/// (it keeps no tasks on the runtime that started it).
pub async fn shared() -> &'static TestPlatform {
    PLATFORM
        .get_or_init(|| async {
            match start().await {
                Ok(p) => p,
                Err(e) => panic!("starting the shared test platform: {e:#}"),
            }
        })
        .await
}

/// [`shared`] for plain `#[test]`s, which have no runtime of their own.
pub fn shared_blocking() -> &'static TestPlatform {
    if let Some(p) = PLATFORM.get() {
        return p;
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime for starting the test platform")
                .block_on(shared())
        })
        .join()
        .expect("starting the shared test platform panicked")
    })
}

async fn start() -> anyhow::Result<TestPlatform> {
    let dir = scratch_dir("platform")?;
    // Two initdbs in parallel: the machine has two cores and initdb is mostly CPU.
    let (control_dir, host_dir) = (dir.join("control"), dir.join("host"));
    let (control_opts, mut host_opts) = (ClusterOptions::for_tests(), LocalHostOptions::for_tests());
    host_opts.ca = Some(std::sync::Arc::new(crate::tls::Ca::load_or_create(&crate::tls::ca_dir(&dir))?));
    let (control, host) =
        tokio::try_join!(PgCluster::start(&control_dir, &control_opts), LocalHost::start(&host_dir, &host_opts),)?;
    Ok(TestPlatform { control, host, dir })
}

const PREFIX: &str = "berth-test-";

/// A new empty directory for this test binary, e.g. for a cluster a test owns. All of them
/// live under one per-process root that a later test binary deletes once we have exited.
pub fn scratch_dir(label: &str) -> anyhow::Result<PathBuf> {
    static ROOT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut root = ROOT.lock().expect("scratch root lock poisoned");
    if root.is_none() {
        remove_stale_roots();
        let name = format!("{PREFIX}{}-{}", std::process::id(), Alphanumeric.sample_string(&mut rand::thread_rng(), 6));
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Traversable but not listable, so the servers' own user can reach its 0700 dirs.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
        *root = Some(dir);
    }
    let root = root.as_ref().expect("set above");
    let unique = Alphanumeric.sample_string(&mut rand::thread_rng(), 4);
    let dir = root.join(format!("{label}-{unique}"));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Deletes the roots of test binaries that have exited (their servers died with them).
fn remove_stale_roots() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let owner = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = owner.filter(|p| *p != std::process::id() && !process::is_alive(*p)) {
            tracing::debug!(pid, dir = %entry.path().display(), "removing a stale test dir");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
