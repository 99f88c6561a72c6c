//! What the client CLI prints: aligned tables and `key: value` blocks for people, the API's
//! `data` verbatim for `--json`, and errors on stderr with the exit codes of API.md
//! (1 API error, 2 usage, 3 network).

use std::io::{ErrorKind, Write};

/// Exit codes (API.md, "Client CLI").
pub const EXIT_API: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_NETWORK: i32 = 3;

/// Why a client command failed, and the exit code that says so.
#[derive(Debug)]
pub enum Failure {
    Client(client::Error),
    /// A mistake in how the command was called that clap could not see (exit 2).
    Usage(String),
    /// Anything else local (a file that cannot be written): exit 1.
    Other(anyhow::Error),
}

impl From<client::Error> for Failure {
    fn from(e: client::Error) -> Self {
        Failure::Client(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Other(e.into())
    }
}

pub type Outcome = Result<(), Failure>;

/// Prints the failure on stderr and returns the exit code.
pub fn report(f: &Failure) -> i32 {
    let mut err = std::io::stderr().lock();
    match f {
        Failure::Client(client::Error::Api(e)) => {
            let _ = writeln!(err, "error: {}: {}", e.code, e.message);
            let _ = writeln!(err, "  status: {}", e.status);
            let _ = writeln!(err, "  request id: {}", e.request_id.as_deref().unwrap_or("-"));
            EXIT_API
        }
        Failure::Client(e @ client::Error::Network(_)) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_NETWORK
        }
        Failure::Client(client::Error::Protocol { status, message, request_id }) => {
            let _ = writeln!(err, "error: unexpected response (HTTP {status}): {message}");
            let _ = writeln!(err, "  request id: {}", request_id.as_deref().unwrap_or("-"));
            EXIT_API
        }
        Failure::Client(e) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_API
        }
        Failure::Usage(m) => {
            let _ = writeln!(err, "error: {m}");
            EXIT_USAGE
        }
        // The reader went away (`berth db list | head -1`): nothing to say to anyone.
        Failure::Other(e)
            if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == ErrorKind::BrokenPipe) =>
        {
            0
        }
        Failure::Other(e) => {
            let _ = writeln!(err, "error: {e:#}");
            EXIT_API
        }
    }
}

/// `--json`: the API's `data`, byte for byte as it came, and a newline.
pub fn json(raw: &serde_json::value::RawValue) -> Outcome {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", raw.get())?;
    Ok(())
}

/// `--json` for what the CLI itself reports (e.g. a download: path, bytes, sha256).
pub fn json_value(v: &serde_json::Value) -> Outcome {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}")?;
    Ok(())
}

/// A table: a header row and aligned columns (two spaces apart), `-` for empty cells.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Self {
        Self::with_header(header.iter().map(|h| (*h).to_owned()).collect())
    }

    /// A table whose header is data (a query's column names; cleaned when shown).
    pub fn with_header(header: Vec<String>) -> Self {
        Self { header, rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) -> Outcome {
        let mut out = std::io::stdout().lock();
        out.write_all(self.render().as_bytes())?;
        Ok(())
    }

    pub fn render(&self) -> String {
        let cell = |s: &str| if s.is_empty() { "-".to_owned() } else { clean(s) };
        let rows: Vec<Vec<String>> = self.rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let line = |cells: Vec<String>| {
            let last = cells.len().saturating_sub(1);
            let mut s = String::new();
            for (i, c) in cells.into_iter().enumerate() {
                s.push_str(&c);
                if i < last {
                    let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(c.chars().count()) + 2;
                    s.push_str(&" ".repeat(pad));
                }
            }
            s.push('\n');
            s
        };
        let mut text = line(self.header.iter().map(|h| clean(h)).collect());
        for r in rows {
            text.push_str(&line(r));
        }
        text
    }
}

/// `key: value` lines, keys aligned.
pub fn fields(pairs: &[(&str, String)]) -> Outcome {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for (k, v) in pairs {
        let v = if v.is_empty() { "-".to_owned() } else { clean(v) };
        writeln!(out, "{k:<width$}  {v}", k = format!("{k}:"), width = width + 1)?;
    }
    Ok(())
}

/// Text from the API shown to a person: control characters (a hostile collaborator's
/// label, say) become `?`, so they cannot rewrite the terminal.
pub fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

pub fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_default()
}

/// A byte count for people.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_marks_empty_cells() {
        let mut t = Table::new(&["ID", "NAME", "STATE"]);
        t.row(vec!["db_1".into(), "alpha-long".into(), "running".into()]);
        t.row(vec!["db_22".into(), String::new(), "stopped".into()]);
        assert_eq!(t.render(), "ID     NAME        STATE\ndb_1   alpha-long  running\ndb_22  -           stopped\n");
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        assert_eq!(clean("a\x1b[2Jb\n"), "a?[2Jb?");
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(7_300_000), "7.3 MB");
    }
}
