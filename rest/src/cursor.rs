//! The character cursor under the query-string grammar: names, quoted names, JSON paths,
//! lists, and PGRST100 errors that point at the column where parsing stopped.

use crate::ast::*;
use crate::error::Error;

pub(crate) struct Cursor {
    chars: Vec<char>,
    pub(crate) pos: usize,
    what: &'static str,
    input: String,
}

impl Cursor {
    pub(crate) fn new(what: &'static str, input: &str) -> Self {
        Cursor { chars: input.chars().collect(), pos: 0, what, input: input.to_string() }
    }

    /// The text from `start` to the current position.
    pub(crate) fn since(&self, start: usize) -> String {
        self.chars[start..self.pos].iter().collect()
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(crate) fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    pub(crate) fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.peek_at(i) == Some(c))
    }

    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn eat_str(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.pos += s.chars().count();
            true
        } else {
            false
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    pub(crate) fn rest(&mut self) -> String {
        let s: String = self.chars[self.pos..].iter().collect();
        self.pos = self.chars.len();
        s
    }

    pub(crate) fn fail(&self, expecting: &str) -> Error {
        let unexpected = match self.peek() {
            Some(c) => format!("unexpected \"{c}\""),
            None => "unexpected end of input".to_string(),
        };
        Error::Parse {
            what: self.what,
            input: self.input.clone(),
            column: self.pos + 1,
            details: format!("{unexpected} expecting {expecting}"),
        }
    }

    pub(crate) fn expect(&mut self, c: char) -> Result<(), Error> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.fail(&format!("\"{c}\"")))
        }
    }

    pub(crate) fn expect_end(&mut self) -> Result<(), Error> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.fail("end of input"))
        }
    }

    /// `"quoted \" name"` with backslash escapes.
    pub(crate) fn quoted(&mut self) -> Result<String, Error> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.fail("\"\\\"\"")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        None => return Err(self.fail("escaped character")),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Identifier parts joined by dashes that do not start an arrow (`a-b`, not `a->b`).
    pub(crate) fn dashed(&mut self, part: impl Fn(char) -> bool, expecting: &str) -> Result<String, Error> {
        let mut out = String::new();
        loop {
            let start = self.pos;
            while self.peek().is_some_and(&part) {
                self.pos += 1;
            }
            if self.pos == start {
                return Err(self.fail(expecting));
            }
            out.push_str(self.chars[start..self.pos].iter().collect::<String>().trim());
            if self.peek() == Some('-') && self.peek_at(1) != Some('>') {
                self.pos += 1;
                out.push('-');
            } else {
                return Ok(out);
            }
        }
    }

    pub(crate) fn field_name(&mut self) -> Result<String, Error> {
        if self.peek() == Some('"') {
            return self.quoted();
        }
        self.dashed(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | ' '), "field name (* or [a..z0..9_$])")
    }

    pub(crate) fn json_path(&mut self) -> Result<Vec<JsonStep>, Error> {
        let mut path = Vec::new();
        while self.starts_with("->") {
            let double = self.eat_str("->>") || {
                self.eat_str("->");
                false
            };
            let key = self.json_key()?;
            path.push(if double { JsonStep::DoubleArrow(key) } else { JsonStep::Arrow(key) });
        }
        Ok(path)
    }

    pub(crate) fn json_key(&mut self) -> Result<JsonKey, Error> {
        let save = self.pos;
        let negative = self.eat('-');
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let ends = matches!(self.peek(), None | Some('-' | ':' | '.' | ',' | ')'));
        if self.pos > start && ends {
            let digits: String = self.chars[start..self.pos].iter().collect();
            if let Ok(n) = digits.parse::<i64>() {
                return Ok(JsonKey::Index(if negative { -n } else { n }));
            }
        }
        self.pos = save;
        if self.peek() == Some('"') {
            return self.quoted().map(JsonKey::Key);
        }
        self.dashed(|c| !"(-:.,>)".contains(c), "any non reserved character different from: .,>()").map(JsonKey::Key)
    }

    pub(crate) fn field(&mut self) -> Result<Field, Error> {
        self.skip_ws();
        let name = self.field_name()?;
        let json_path = self.json_path()?;
        self.skip_ws();
        Ok(Field { name, json_path })
    }

    /// `alias:` before a field or embed (but not the `::` of a cast).
    pub(crate) fn alias(&mut self) -> Option<String> {
        let save = self.pos;
        if let Ok(name) = self.field_name() {
            if self.peek() == Some(':') && self.peek_at(1) != Some(':') {
                self.pos += 1;
                return Some(name);
            }
        }
        self.pos = save;
        None
    }

    pub(crate) fn operation_name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// A run of letters and underscores: an `is` value such as `not_null`.
    pub(crate) fn operation_name_with_underscore(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// `(a,"b,c",d)`; `()` is the empty list.
    pub(crate) fn list(&mut self) -> Result<Vec<String>, Error> {
        self.skip_ws();
        self.expect('(')?;
        let mut items = Vec::new();
        loop {
            items.push(self.list_element()?);
            if !self.eat(',') {
                break;
            }
        }
        self.skip_ws();
        self.expect(')')?;
        self.skip_ws();
        if items.len() == 1 && items[0].is_empty() {
            items.clear();
        }
        Ok(items)
    }

    pub(crate) fn list_element(&mut self) -> Result<String, Error> {
        if self.peek() == Some('"') {
            let save = self.pos;
            let q = self.quoted()?;
            if matches!(self.peek(), Some(',' | ')')) {
                return Ok(q);
            }
            self.pos = save;
        }
        Ok(self.until(&[',', ')']))
    }

    pub(crate) fn until(&mut self, stops: &[char]) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| !stops.contains(&c)) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }
}
