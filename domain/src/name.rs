//! Names that reach SQL and PgBouncer configuration.
//!
//! A `DatabaseName` is both the PostgreSQL database name and the name of its login role,
//! so it is built only by [`DatabaseName::parse`], which enforces API.md's grammar
//! `^[a-z][a-z0-9-]{2,62}$` and refuses names the platform reserves.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Names PostgreSQL, PgBouncer or the control plane use themselves.
const RESERVED: &[&str] = &[
    "postgres",
    "template0",
    "template1",
    "pgbouncer",
    "berth",
    "berth-admin",
    "berth-control",
    "public",
    "admin",
    "root",
];

/// Prefixes kept for the platform's own roles and scratch databases.
const RESERVED_PREFIXES: &[&str] = &["pg-", "berth-"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name must be 3 to 63 characters long")]
    Length,
    #[error("name must start with a lowercase letter")]
    Start,
    #[error("name may contain only lowercase letters, digits and '-'")]
    Character,
    #[error("name '{0}' is reserved")]
    Reserved(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DatabaseName(String);

impl DatabaseName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        if raw.len() < 3 || raw.len() > 63 {
            return Err(NameError::Length);
        }
        let mut chars = raw.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Err(NameError::Start);
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(NameError::Character);
        }
        if RESERVED.contains(&raw) || RESERVED_PREFIXES.iter().any(|p| raw.starts_with(p)) {
            return Err(NameError::Reserved(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a double-quoted SQL identifier. The grammar already excludes quotes,
    /// so quoting only protects the '-' and keeps case; it is still done properly.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

impl fmt::Display for DatabaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DatabaseName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        DatabaseName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_plain_names() {
        for ok in ["shop", "a-b", "abc", "x12-34", &"a".repeat(63)] {
            assert!(DatabaseName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        let cases = [
            ("ab", NameError::Length),
            (&"a".repeat(64) as &str, NameError::Length),
            ("1abc", NameError::Start),
            ("-abc", NameError::Start),
            ("Shop", NameError::Start),
            ("shOp", NameError::Character),
            ("sh_op", NameError::Character),
            ("a\"; drop table x; --", NameError::Character),
            ("shop'", NameError::Character),
            ("caf\u{e9}", NameError::Character),
        ];
        for (raw, want) in cases {
            assert_eq!(DatabaseName::parse(raw), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn rejects_reserved_names() {
        for raw in ["postgres", "template0", "template1", "pgbouncer", "berth", "berth-x", "pg-x"] {
            assert!(matches!(DatabaseName::parse(raw), Err(NameError::Reserved(_))), "{raw}");
        }
    }

    #[test]
    fn quotes_as_identifier() {
        assert_eq!(DatabaseName::parse("my-db").expect("valid").quoted(), "\"my-db\"");
    }

    proptest! {
        #[test]
        fn grammar_matches_the_contract(raw in "\\PC{0,70}") {
            let by_grammar = raw.len() >= 3 && raw.len() <= 63
                && raw.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if let Ok(name) = DatabaseName::parse(&raw) {
                prop_assert!(by_grammar);
                prop_assert_eq!(name.as_str(), raw.as_str());
            }
        }

        #[test]
        fn every_grammatical_name_parses_unless_reserved(raw in "[a-z][a-z0-9-]{2,62}") {
            let reserved = RESERVED.contains(&raw.as_str())
                || RESERVED_PREFIXES.iter().any(|p| raw.starts_with(p));
            prop_assert_eq!(DatabaseName::parse(&raw).is_ok(), !reserved);
        }
    }
}
