//! A progress indicator while an operation runs: an indicatif spinner when stderr is a
//! terminal, else one plain line on stderr each time the state changes (for logs and CI).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    spinner: Option<indicatif::ProgressBar>,
    last: String,
    started: Instant,
    what: String,
}

impl Progress {
    /// `what`: e.g. "creating database shop".
    pub fn start(what: &str) -> Self {
        let started = Instant::now();
        if std::io::stderr().is_terminal() {
            let spinner = indicatif::ProgressBar::new_spinner();
            spinner.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            spinner.set_message(what.to_owned());
            spinner.enable_steady_tick(Duration::from_millis(100));
            Self { spinner: Some(spinner), last: String::new(), started, what: what.to_owned() }
        } else {
            eprintln!("{what}…");
            Self { spinner: None, last: String::new(), started, what: what.to_owned() }
        }
    }

    /// The current state, e.g. "op_… running (attempt 1)"; printed when it changed.
    pub fn update(&mut self, state: &str) {
        if state == self.last {
            return;
        }
        self.last = state.to_owned();
        match &self.spinner {
            Some(s) => s.set_message(format!("{}: {state}", self.what)),
            None => {
                let secs = self.started.elapsed().as_secs_f64();
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "  {state} ({secs:.1}s)");
            }
        }
    }

    /// Ends the indicator with a last line.
    pub fn finish(self, line: &str) {
        let secs = self.started.elapsed().as_secs_f64();
        if let Some(s) = self.spinner {
            s.finish_and_clear();
        }
        eprintln!("{line} ({secs:.1}s)");
    }

    /// Ends the indicator without a line (the error is printed by the caller).
    pub fn abandon(self) {
        if let Some(s) = self.spinner {
            s.finish_and_clear();
        }
    }
}
