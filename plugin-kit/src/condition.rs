//! [`Condition`]: a BFE condition expression, or its TOML table form, compiled once
//! into a tree of typed primitives and evaluated against [`Facts`].

mod parse;
mod primitive;
mod table;

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::{ConfigError, Facts, ParseError};
use primitive::Primitive;

/// A compiled condition. Build it with [`Condition::parse`] (or `str::parse`), or
/// deserialise it from a string (a BFE expression) or a table (see the crate docs).
///
/// Two conditions are equal when they compiled to the same tree, so a table and the
/// expression it stands for compare equal.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    expr: Expr,
}

/// The tree: operators over primitives.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Primitive(Primitive),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Condition {
    /// Parses and compiles a BFE condition expression, e.g.
    /// `req_host_in("a.example") && !req_path_prefix_in("/admin/", false)`.
    pub fn parse(expression: &str) -> Result<Condition, ParseError> {
        parse::parse(expression).map(|expr| Condition { expr })
    }

    /// The condition that holds for every request (`default_t()`).
    pub fn always() -> Condition {
        Condition {
            expr: Expr::Primitive(Primitive::DefaultT),
        }
    }

    /// Whether the request described by `facts` satisfies the condition. Evaluation
    /// short-circuits and does not allocate (except to unescape a query pair holding
    /// `%` or `+`).
    pub fn matches<F: Facts + ?Sized>(&self, facts: &F) -> bool {
        self.expr.matches(facts)
    }
}

impl Default for Condition {
    fn default() -> Condition {
        Condition::always()
    }
}

impl Expr {
    fn matches<F: Facts + ?Sized>(&self, facts: &F) -> bool {
        match self {
            // Internal: a rule without keys is `default_t()`: answered without a call.
            Expr::Primitive(Primitive::DefaultT) => true,
            Expr::Primitive(p) => p.matches(facts),
            Expr::Not(e) => !e.matches(facts),
            Expr::And(a, b) => a.matches(facts) && b.matches(facts),
            Expr::Or(a, b) => a.matches(facts) || b.matches(facts),
        }
    }

    /// `self && other`, or `other` alone when `self` is absent.
    fn and(left: Option<Expr>, right: Expr) -> Expr {
        match left {
            Some(left) => Expr::And(Box::new(left), Box::new(right)),
            None => right,
        }
    }
}

impl Condition {
    /// A condition from its table form, e.g. `{ path_prefix = "/api/", method = "GET",
    /// cond = "..." }`; the error names the key (`cond`, `method`, …) and, in an
    /// expression, the column.
    ///
    /// ```
    /// use hookgate_plugin_kit::{Condition, FactsBuf};
    ///
    /// let table: toml::Table = toml::from_str("path_prefix = \"/api/\"\nmethod = \"GET\"").unwrap();
    /// let condition = Condition::from_table(table).unwrap();
    /// assert!(condition.matches(&FactsBuf::new("GET", "a.example", "/api/x")));
    /// let bad: toml::Table = toml::from_str("cond = \"req_path_in(\\\"/x\\\"\"").unwrap();
    /// assert_eq!(Condition::from_table(bad).unwrap_err().key(), "cond");
    /// ```
    pub fn from_table(table: toml::Table) -> Result<Condition, ConfigError> {
        let parsed = table::Table::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::new("", e.to_string().trim_end().to_owned()))?;
        parsed
            .compile()
            .map_err(|message| match message.split_once(": ") {
                Some((key, rest)) if !key.contains(' ') => ConfigError::new(key, rest),
                _ => ConfigError::new("", message),
            })
    }
}

impl FromStr for Condition {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Condition, ParseError> {
        Condition::parse(s)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Condition, D::Error> {
        deserializer.deserialize_any(ConditionVisitor)
    }
}

struct ConditionVisitor;

impl<'de> Visitor<'de> for ConditionVisitor {
    type Value = Condition;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a BFE condition expression or a table of condition keys")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Condition, E> {
        Condition::parse(text).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Condition, A::Error> {
        let table = table::Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
        table.compile().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
