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
//!
//! # What the caller must do
//!
//! - Send `plan.params` in PostgreSQL's **text format with unspecified types** (OID 0): the
//!   server infers each placeholder's type from where it stands. Typed binary parameters
//!   would not work.
//! - Run each plan in its own transaction (`BEGIN READ ONLY` when `shape.read_only`), after
//!   `SET LOCAL ROLE` to the key's role (`"<name>.anon"`, `".authenticated"`, `".service"`)
//!   and `set_config('request.jwt.claims', <claims json>, true)`; log in as a role with no
//!   more rights than those roles (an authenticator that is NOINHERIT and merely a member of
//!   them), since tenant code — triggers, RLS policies, functions, its own operators on its
//!   own types — runs inside the statement. Keep `pg_catalog` first on the search path
//!   (`SET LOCAL search_path = pg_catalog, <schema>, public`): a tenant owning the database
//!   can set a database-wide search path. Set a `statement_timeout`.
//! - Read the one row (`total_count int8`, `page_total int8`, `body text`) and call
//!   [`Shape::respond`]. If it returns an error, or `shape.rollback` is set, ROLL BACK
//!   (a `.single()` update that matched several rows must change nothing); otherwise COMMIT.
//! - Map a PostgreSQL error to `{code: sqlstate, message, details, hint}` with
//!   [`pg_error_status`] for the status; map an [`Error`] with [`Error::status`] and
//!   [`Error::body`].
//! - Load the cache with [`CATALOG_QUERY`] and [`catalog_params`] for the exposed schemas,
//!   and reload it after DDL (PostgREST listens for `NOTIFY pgrst`).

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
