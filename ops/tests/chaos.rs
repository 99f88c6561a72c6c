//! The crash-consistency experiment in the default suite, bounded: a few trials of random
//! load against a real `berth up`, `kill -9`, restart on the same data dir, then the checks.
//! `BERTH_CHAOS_TRIALS` raises the count here; `berth bench chaos --trials 50` runs many.
//!
//! The last trial plants one orphan and corrupts one backup object before its check: the run
//! must count exactly those two and nothing else, which proves the check can see what it
//! counts (a check that saw nothing would fail here).

use std::time::Duration;

use ops::chaos::{self, ChaosOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trials_of_kill_9_lose_duplicate_orphan_and_strand_nothing() {
    let trials = std::env::var("BERTH_CHAOS_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let opts = ChaosOptions {
        trials,
        clients: 3,
        kill_after_ms: (500, 3000),
        settle: Duration::from_secs(90),
        sabotage: true,
    };
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_berth"));
    let totals = chaos::run(exe, &opts, &mut |line| eprintln!("{line}")).await.expect("the experiment runs");
    eprintln!("{}", totals.line());
    let problems: Vec<&String> = totals.problems.iter().collect();
    assert_eq!(totals.trials, trials);
    assert!(totals.answered > 0 && totals.logins > 0, "the load reached the platform: {}", totals.line());
    assert_eq!(
        (totals.lost, totals.duplicated, totals.stuck, totals.replay_differences, totals.server_errors),
        (0, 0, 0, 0, 0),
        "{problems:#?}"
    );
    assert_eq!(totals.mismatched, 1, "only the corrupted backup object mismatches: {problems:#?}");
    assert_eq!(totals.orphaned, 1, "only the planted orphan is found: {problems:#?}");
    assert!(problems.iter().any(|p| p.contains("chaos-orphan-")), "the planted orphan is the one found: {problems:#?}");
}
