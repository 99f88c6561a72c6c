//! The only two ways request data enters SQL text: [`ident`] for names the schema cache
//! vouched for, and [`Params::push`] for values, which become `$n` placeholders.

/// Quotes an identifier: double quotes around it, inner double quotes doubled. Callers pass
/// only names found in the schema cache; the quoting keeps even a hostile one inert.
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// A PostgreSQL array literal in text format, `{"a","b\"c"}`. It travels as a parameter
/// value, never as SQL text, so only the array syntax needs escaping.
pub fn array_literal<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(array_element).collect();
    format!("{{{}}}", items.join(","))
}

/// One element of an array literal: double-quoted, with `"` and `\` backslash-escaped.
pub fn array_element(item: &str) -> String {
    let mut out = String::with_capacity(item.len() + 2);
    out.push('"');
    for c in item.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The parameters of one statement, in PostgreSQL's text format (`None` is SQL NULL).
///
/// Placeholders carry no type unless the caller of `push` writes a cast: the server infers
/// each one from its context (the column it is compared with, the function argument it
/// fills), exactly as PostgREST's "unknown" literals are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    values: Vec<Option<String>>,
}

impl Params {
    /// Adds a value and returns its placeholder, `$n`.
    pub fn push(&mut self, value: impl Into<String>) -> String {
        self.values.push(Some(value.into()));
        format!("${}", self.values.len())
    }

    /// Adds a SQL NULL and returns its placeholder.
    pub fn push_null(&mut self) -> String {
        self.values.push(None);
        format!("${}", self.values.len())
    }

    pub fn into_vec(self) -> Vec<Option<String>> {
        self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_hostile_identifier_stays_one_quoted_identifier() {
        assert_eq!(ident(r#"a"; drop table x; --"#), r#""a""; drop table x; --""#);
        assert_eq!(qualified("s\"", "t"), r#""s""".\"t\""#.replace('\\', ""));
    }

    #[test]
    fn array_literals_escape_quotes_and_backslashes() {
        assert_eq!(array_literal(["a", "b,c", r#"d"e"#, r"f\g"]), r#"{"a","b,c","d\"e","f\\g"}"#);
        assert_eq!(array_literal(Vec::<&str>::new()), "{}");
    }

    #[test]
    fn params_number_from_one() {
        let mut p = Params::default();
        assert_eq!(p.push("x"), "$1");
        assert_eq!(p.push_null(), "$2");
        assert_eq!(p.into_vec(), vec![Some("x".to_string()), None]);
    }

    proptest! {
        /// Between the outer quotes every quote is doubled, so the identifier cannot end early.
        #[test]
        fn quoted_identifiers_never_close_early(name in ".*") {
            let q = ident(&name);
            let inner = &q[1..q.len() - 1];
            prop_assert!(q.starts_with('"') && q.ends_with('"'));
            prop_assert_eq!(inner.replace("\"\"", ""). contains('"'), false);
            prop_assert_eq!(inner.replace("\"\"", "\""), name);
        }
    }
}
