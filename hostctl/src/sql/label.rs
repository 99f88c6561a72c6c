//! The `command` of a result (`SELECT`, `INSERT`, `CREATE TABLE`, …): a display label only.
//!
//! tokio-postgres reads the server's command tag but does not expose it (only its row
//! count), so the label is taken from the statement's leading keywords. Nothing decides
//! anything on it — read-only is PostgreSQL's, caps are counted on rows and bytes — so a
//! label that differs from the server's tag on odd text (a `BEGIN ATOMIC` body whose
//! semicolons split it, an unusual `WITH`) is a cosmetic flaw, not a hole.

/// The label of `text`'s last statement.
pub fn command_label(text: &str) -> String {
    let words = last_statement_words(text);
    let mut it = words.iter().map(|w| w.to_ascii_uppercase());
    let Some(first) = it.next() else { return String::new() };
    match first.as_str() {
        "CREATE" | "ALTER" | "DROP" => {
            let object = it.find(|w| {
                !matches!(
                    w.as_str(),
                    "OR" | "REPLACE"
                        | "UNIQUE"
                        | "TEMP"
                        | "TEMPORARY"
                        | "UNLOGGED"
                        | "GLOBAL"
                        | "LOCAL"
                        | "TRUSTED"
                        | "PROCEDURAL"
                        | "RECURSIVE"
                )
            });
            match object {
                Some(o) if o == "MATERIALIZED" || o == "FOREIGN" => {
                    format!("{first} {o} {}", it.next().unwrap_or_default())
                }
                Some(o) => format!("{first} {o}"),
                None => first,
            }
        }
        "WITH" => it
            .find(|w| matches!(w.as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "VALUES" | "TABLE"))
            .map(|w| if w == "VALUES" || w == "TABLE" { "SELECT".to_owned() } else { w })
            .unwrap_or(first),
        "VALUES" | "TABLE" => "SELECT".to_owned(),
        "START" => "START TRANSACTION".to_owned(),
        "END" => "COMMIT".to_owned(),
        "ABORT" => "ROLLBACK".to_owned(),
        _ => first,
    }
}

/// The bare words (outside quotes, comments and nested parentheses) of the last non-empty
/// statement of `text`, split on `;` at the top level.
fn last_statement_words(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let (mut i, mut depth) = (0usize, 0usize);
    // (depth, word)
    let mut current: Vec<(usize, String)> = Vec::new();
    let mut last: Vec<(usize, String)> = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut nest = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        nest += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        nest -= 1;
                        i += 2;
                        if nest == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'\'' | b'"' => {
                let escapes = c == b'\'' && i > 0 && matches!(b[i - 1], b'e' | b'E');
                i += 1;
                while i < b.len() {
                    if escapes && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == c {
                        if b.get(i + 1) == Some(&c) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'$' => {
                // $tag$ … $tag$ (a `$1` parameter has a digit where the tag would start).
                let end = b[i + 1..].iter().position(|&x| !(x.is_ascii_alphanumeric() || x == b'_'));
                let tag_len = end.map(|e| e + 2);
                let starts_tag = b.get(i + 1).is_some_and(|x| !x.is_ascii_digit());
                if let Some(n) = tag_len.filter(|n| starts_tag && b.get(i + n - 1) == Some(&b'$')) {
                    let tag = &b[i..i + n];
                    i += n;
                    while i < b.len() && !b[i..].starts_with(tag) {
                        i += 1;
                    }
                    i += n;
                    continue;
                }
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b';' if depth == 0 && !current.is_empty() => last = std::mem::take(&mut current),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                    i += 1;
                }
                current.push((depth, text[start..i].to_owned()));
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let words = if current.is_empty() { last } else { current };
    // The top level's words; a statement in parentheses (`(select 1)`) has only nested ones.
    let top = words.iter().map(|(d, _)| *d).min().unwrap_or(0);
    words.into_iter().filter(|(d, _)| *d == top).map(|(_, w)| w).collect()
}

#[cfg(test)]
mod tests {
    use super::command_label;

    #[test]
    fn labels() {
        assert_eq!(command_label("select 1"), "SELECT");
        assert_eq!(command_label("  -- hi\n /* a /* nested */ b */ (select 1)"), "SELECT");
        assert_eq!(command_label("insert into t values (1) returning *"), "INSERT");
        assert_eq!(command_label("create table t (a int)"), "CREATE TABLE");
        assert_eq!(command_label("CREATE OR REPLACE FUNCTION f() …"), "CREATE FUNCTION");
        assert_eq!(command_label("create unique index on t (a)"), "CREATE INDEX");
        assert_eq!(command_label("drop materialized view v"), "DROP MATERIALIZED VIEW");
        assert_eq!(command_label("with x as (select 1) insert into t select * from x"), "INSERT");
        assert_eq!(command_label("values (1)"), "SELECT");
        assert_eq!(command_label("select ';'; update t set a = 1;"), "UPDATE");
        assert_eq!(command_label("select $$ ; delete $$ ; select $1"), "SELECT");
        assert_eq!(command_label("do $x$ begin; end $x$; -- done"), "DO");
        assert_eq!(command_label("select e'\\' ; drop'"), "SELECT");
        assert_eq!(command_label(""), "");
    }
}
