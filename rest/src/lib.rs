//! The pure core of Berth's PostgREST-compatible data API.
//!
//! `{API}/data/{database_id}/rest/v1/...` serves a tenant's database so that
//! `createClient(url, key)` from `@supabase/supabase-js` works unchanged. This crate turns
//! one such HTTP request into one SQL statement, its parameters, and the shape of the HTTP
//! answer. It does no I/O: the caller loads the [`SchemaCache`] with [`CATALOG_QUERY`],
//! runs the statement under the right role, and calls [`Shape::respond`] with its one row.
//!
//! ```text
//! parse_request(method, path, query, headers, exposed) -> Request
//! plan(&request, &cache, body)                         -> Plan { sql, params, shape }
//! shape.respond(page_total, total_count, body)         -> Response { status, headers, body }
//! ```

pub mod ast;
mod catalog;
mod cursor;
mod error;
mod filter;
mod grammar;
mod parse;
mod plan;
mod read;
mod rpc;
mod schema;
mod shape;
pub mod sql;
mod write;

pub use catalog::{catalog_params, CATALOG_QUERY};
pub use error::{pg_error_status, Error, ErrorBody};
pub use grammar::{parse_columns, parse_filter, parse_key, parse_logic, parse_order, parse_select};
pub use parse::{
    parse_range_header, parse_request, MediaType, Method, Preferences, Representation, Request, Resolution, Target,
    Window,
};
pub use plan::{plan, Plan};
pub use schema::{
    Cardinality, CatalogDocument, Column, ForeignKey, Function, FunctionArg, Relationship, Returns, SchemaCache, Table,
    Volatility,
};
pub use shape::{content_range, Action, Response, Shape};

#[cfg(test)]
mod tests;
