//! A dump restored under another login than the one that made it: `mariadb-dump` writes each
//! view's, trigger's and routine's `DEFINER=`user`@`host``, and only an account with
//! `SET USER` (which no tenant has) may create objects for someone else. The clause is
//! taken out of every line that is not row data, so the objects belong to whoever restores
//! them — the new database's own login, never more than the tenant.

use std::io::{self, Write};

/// Strips `DEFINER=`…`@`…`` from the statement lines written through it.
pub(crate) struct StripDefiners<W: Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: Write> StripDefiners<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self { inner, line: Vec::new() }
    }

    fn emit_line(&mut self) -> io::Result<()> {
        let line = std::mem::take(&mut self.line);
        if line.starts_with(b"INSERT INTO ") || !contains(&line, b"DEFINER=`") {
            return self.inner.write_all(&line);
        }
        self.inner.write_all(&strip(&line))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The quoted identifier starting at `at` (a backtick): the index after its closing
/// backtick (doubled backticks are part of it).
fn skip_quoted(line: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    while i < line.len() {
        if line[i] == b'`' {
            if line.get(i + 1) == Some(&b'`') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

fn strip(line: &[u8]) -> Vec<u8> {
    const CLAUSE: &[u8] = b"DEFINER=`";
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i..].starts_with(CLAUSE) {
            let user_end = skip_quoted(line, i + CLAUSE.len() - 1);
            let host_end = user_end
                .filter(|&e| line.get(e) == Some(&b'@') && line.get(e + 1) == Some(&b'`'))
                .and_then(|e| skip_quoted(line, e + 1));
            if let Some(end) = host_end {
                i = end;
                continue;
            }
        }
        out.push(line[i]);
        i += 1;
    }
    out
}

impl<W: Write> Write for StripDefiners<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &b in buf {
            self.line.push(b);
            if b == b'\n' {
                self.emit_line()?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            self.emit_line()?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> String {
        let mut w = StripDefiners::new(Vec::new());
        // In odd pieces, as a pipe delivers them.
        for chunk in input.as_bytes().chunks(7) {
            w.write_all(chunk).expect("write");
        }
        w.flush().expect("flush");
        String::from_utf8(w.inner).expect("utf8")
    }

    #[test]
    fn definers_go_and_row_data_stays() {
        let dump = "/*!50013 DEFINER=`shop`@`localhost` SQL SECURITY DEFINER */\n\
                    /*!50003 CREATE*/ /*!50017 DEFINER=`a``b`@`%`*/ /*!50003 TRIGGER t */;\n\
                    CREATE DEFINER=`shop`@`10.0.0.0/255.0.0.0` PROCEDURE `p`()\n\
                    INSERT INTO `t` VALUES ('DEFINER=`x`@`y`');\n\
                    tail without newline DEFINER=`broken";
        assert_eq!(
            run(dump),
            "/*!50013  SQL SECURITY DEFINER */\n\
             /*!50003 CREATE*/ /*!50017 */ /*!50003 TRIGGER t */;\n\
             CREATE  PROCEDURE `p`()\n\
             INSERT INTO `t` VALUES ('DEFINER=`x`@`y`');\n\
             tail without newline DEFINER=`broken"
        );
    }
}
