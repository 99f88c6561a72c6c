//! The schema cache: what the planner may name. The caller fills it by running
//! [`crate::catalog::CATALOG_QUERY`] and handing the one JSON document it returns to
//! [`SchemaCache::from_json`]. Every identifier that reaches SQL is first looked up here, so
//! a request can only ever name relations, columns and functions that exist.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One column of a table or view, as `pg_attribute` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, for information only: never spliced into SQL.
    pub pg_type: String,
    /// The schema of the column's type. `pg_catalog` types get `pg_catalog` operators in
    /// filters; any other type keeps the operators its owner (the tenant) defined.
    #[serde(default)]
    pub type_schema: String,
    pub nullable: bool,
    pub has_default: bool,
    #[serde(default)]
    pub generated: bool,
}

/// A table, view, materialized view, foreign or partitioned table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Primary key and unique constraints: the column sets that make a foreign key to-one.
    #[serde(default)]
    pub unique_keys: Vec<Vec<String>>,
    pub insertable: bool,
    pub updatable: bool,
    pub deletable: bool,
}

impl Column {
    /// True when the type is built in, so `OPERATOR(pg_catalog.…)` is the right operator.
    pub fn is_builtin(&self) -> bool {
        self.type_schema == "pg_catalog"
    }
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column, or PostgreSQL's "column t.x does not exist" as PostgREST would relay it.
    pub fn require_column(&self, name: &str) -> Result<&Column, Error> {
        self.column(name)
            .ok_or_else(|| Error::UndefinedColumn { relation: self.name.clone(), column: name.to_string() })
    }

    fn is_unique(&self, cols: &[String]) -> bool {
        let mut want: Vec<&String> = cols.iter().collect();
        want.sort();
        self.unique_keys.iter().any(|k| {
            let mut have: Vec<&String> = k.iter().collect();
            have.sort();
            have == want
        })
    }
}

/// A foreign key `schema.table(columns) REFERENCES ref_schema.ref_table(ref_columns)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub ref_schema: String,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

/// What a function gives back, which decides the JSON PostgREST answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Returns {
    /// `RETURNS void`: 204 and no body.
    Void,
    /// A base, domain, enum, range or array type: a bare JSON value (or an array of them).
    Scalar { pg_type: String },
    /// A row type, `RETURNS TABLE (...)`, OUT parameters or `record`: objects with these
    /// columns. `columns` is empty for a bare `record`, whose shape only the caller knows.
    Composite { columns: Vec<String> },
}

/// An input argument of a function (IN, INOUT or VARIADIC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionArg {
    /// None for an unnamed argument, which named notation cannot reach.
    pub name: Option<String>,
    pub pg_type: String,
    pub has_default: bool,
    #[serde(default)]
    pub variadic: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub schema: String,
    pub name: String,
    pub args: Vec<FunctionArg>,
    pub returns_set: bool,
    pub returns: Returns,
    pub volatility: Volatility,
}

/// The catalog's answer as it travels: three lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogDocument {
    #[serde(default)]
    pub tables: Vec<Table>,
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(default)]
    pub functions: Vec<Function>,
}

/// How an embedded resource relates to the one it is embedded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// The parent holds the foreign key: at most one child, embedded as an object.
    ManyToOne,
    /// The child holds the foreign key on a unique key: at most one child, an object.
    OneToOne,
    /// The child holds the foreign key: any number of children, embedded as an array.
    OneToMany,
}

/// One way to join `parent` to `child`: `child.child_columns = parent.parent_columns` pairwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship<'a> {
    pub foreign_key: &'a ForeignKey,
    pub cardinality: Cardinality,
    pub child: &'a Table,
    pub parent_columns: &'a [String],
    pub child_columns: &'a [String],
}

/// Tables, relationships and functions of the schemas the caller loaded, indexed by name.
#[derive(Debug, Clone, Default)]
pub struct SchemaCache {
    tables: HashMap<(String, String), Table>,
    foreign_keys: Vec<ForeignKey>,
    functions: HashMap<(String, String), Vec<Function>>,
}

impl SchemaCache {
    /// Builds the cache from the single JSON value [`crate::catalog::CATALOG_QUERY`] returns.
    pub fn from_json(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        let doc: CatalogDocument = serde_json::from_value(value)?;
        Ok(Self::from_document(doc))
    }

    pub fn from_document(doc: CatalogDocument) -> Self {
        let mut functions: HashMap<(String, String), Vec<Function>> = HashMap::new();
        for f in doc.functions {
            functions.entry((f.schema.clone(), f.name.clone())).or_default().push(f);
        }
        let tables = doc.tables.into_iter().map(|t| ((t.schema.clone(), t.name.clone()), t)).collect();
        SchemaCache { tables, foreign_keys: doc.foreign_keys, functions }
    }

    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables.get(&(schema.to_string(), name.to_string()))
    }

    /// The table, or PGRST205.
    pub fn require_table(&self, schema: &str, name: &str) -> Result<&Table, Error> {
        self.table(schema, name)
            .ok_or_else(|| Error::TableNotFound { schema: schema.to_string(), name: name.to_string() })
    }

    /// Every overload of `schema.name`.
    pub fn functions(&self, schema: &str, name: &str) -> &[Function] {
        self.functions.get(&(schema.to_string(), name.to_string())).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every relationship from `parent` to another table of the same schema, both directions.
    pub fn relationships<'a>(&'a self, parent: &Table) -> Vec<Relationship<'a>> {
        let mut out = Vec::new();
        for fk in &self.foreign_keys {
            if fk.schema == parent.schema && fk.table == parent.name && fk.ref_schema == parent.schema {
                if let Some(child) = self.table(&fk.ref_schema, &fk.ref_table) {
                    out.push(Relationship {
                        foreign_key: fk,
                        cardinality: Cardinality::ManyToOne,
                        child,
                        parent_columns: &fk.columns,
                        child_columns: &fk.ref_columns,
                    });
                }
            }
            if fk.ref_schema == parent.schema && fk.ref_table == parent.name && fk.schema == parent.schema {
                if let Some(child) = self.table(&fk.schema, &fk.table) {
                    let cardinality =
                        if child.is_unique(&fk.columns) { Cardinality::OneToOne } else { Cardinality::OneToMany };
                    out.push(Relationship {
                        foreign_key: fk,
                        cardinality,
                        child,
                        parent_columns: &fk.ref_columns,
                        child_columns: &fk.columns,
                    });
                }
            }
        }
        out
    }
}
