//! `berth bench chaos`: the crash-consistency experiment ([`crate::chaos`]) with many trials.
//! Not a timing benchmark: its figures are counts, and all but the request and login totals
//! must be zero.

use crate::chaos::{self, ChaosOptions};

pub async fn run(trials: usize, clients: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let opts = ChaosOptions { trials, clients, ..ChaosOptions::default() };
    let totals = chaos::run(&exe, &opts, &mut |line| eprintln!("{line}")).await?;
    for p in &totals.problems {
        println!("  {p}");
    }
    println!("chaos: {}", totals.line());
    anyhow::ensure!(totals.clean(), "{} problems found", totals.problems.len());
    Ok(())
}
