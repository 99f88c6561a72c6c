//! PostgREST's error shape `{code, message, details, hint}` and its HTTP statuses.
//!
//! supabase-js reads `code`, `message`, `details` and `hint` and, for `maybeSingle()`, looks
//! for "0 rows" in `details`, so the texts follow PostgREST's closely.

use serde::Serialize;
use serde_json::Value;

/// Everything that stops a request before it reaches the database, or a single-object answer
/// after it ran. Each variant has a PostgREST code and HTTP status ([`Error::status`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// PGRST100: the query string does not follow PostgREST's grammar.
    #[error("\"failed to parse {what} ({input})\" (line 1, column {column})")]
    Parse { what: &'static str, input: String, column: usize, details: String },
    /// PGRST101: only GET and POST (and HEAD) call functions.
    #[error("Cannot use the {0} method on RPC")]
    RpcMethod(String),
    /// PGRST102: an empty, malformed or wrongly shaped JSON body.
    #[error("{0}")]
    InvalidBody(String),
    /// PGRST103: a `Range` the answer cannot satisfy.
    #[error("Requested range not satisfiable")]
    InvalidRange { details: String },
    /// PGRST106: `Accept-Profile`/`Content-Profile` names a schema that is not exposed.
    #[error("Invalid schema: {schema}")]
    SchemaNotExposed { schema: String, exposed: Vec<String> },
    /// PGRST107: nothing in `Accept` can be produced.
    #[error("None of these media types are available: {0}")]
    MediaType(String),
    /// PGRST108: `orders.amount=gt.5` without `orders(...)` in `select`.
    #[error("'{0}' is not an embedded resource in this request")]
    NotEmbedded(String),
    /// PGRST120: an embedded resource can only be filtered with `is.null`/`not.is.null`.
    #[error("Bad operator on the '{0}' embedded resource")]
    UnacceptableFilter(String),
    /// PGRST116: `application/vnd.pgrst.object+json` and the statement gave 0 or several rows.
    #[error("JSON object requested, multiple (or no) rows returned")]
    Singular { rows: i64 },
    /// PGRST117: a method this API does not serve (PUT, for now).
    #[error("Unsupported HTTP method: {0}")]
    UnsupportedMethod(String),
    /// PGRST127: valid PostgREST syntax this implementation does not carry out.
    #[error("Feature not implemented")]
    NotImplemented(String),
    /// PGRST200: no foreign key joins the two tables (with that hint).
    #[error("Could not find a relationship between '{parent}' and '{child}' in the schema cache")]
    NoRelationship { parent: String, child: String, hint: Option<String>, schema: String },
    /// PGRST201: several foreign keys could carry the embedding; a `!hint` must choose.
    #[error("Could not embed because more than one relationship was found for '{parent}' and '{child}'")]
    AmbiguousRelationship { parent: String, child: String, candidates: Vec<Value> },
    /// PGRST202: no function of that name takes those named arguments.
    #[error("Could not find the function {schema}.{name}({}) in the schema cache", args.join(", "))]
    FunctionNotFound { schema: String, name: String, args: Vec<String> },
    /// PGRST203: overloads that the argument names cannot tell apart.
    #[error("Could not choose the best candidate function between: {0}")]
    AmbiguousFunction(String),
    /// PGRST204: a key of the body or of `columns=` is not a column.
    #[error("Could not find the '{column}' column of '{relation}' in the schema cache")]
    ColumnNotFound { relation: String, column: String },
    /// PGRST205: the path names no table or view of the schema.
    #[error("Could not find the table '{schema}.{name}' in the schema cache")]
    TableNotFound { schema: String, name: String },
    /// 42703: `select`, a filter or `order` names a column the relation lacks. PostgREST
    /// lets PostgreSQL report this; we check first, so the client sees the same error without
    /// the name ever reaching SQL.
    #[error("column {relation}.{column} does not exist")]
    UndefinedColumn { relation: String, column: String },
}

/// The JSON body of an error answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub details: Value,
    pub hint: Value,
}

impl Error {
    /// PostgREST's code: `PGRSTxxx`, or the SQLSTATE PostgreSQL would have raised.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Parse { .. } => "PGRST100",
            Error::RpcMethod(_) => "PGRST101",
            Error::InvalidBody(_) => "PGRST102",
            Error::InvalidRange { .. } => "PGRST103",
            Error::SchemaNotExposed { .. } => "PGRST106",
            Error::MediaType(_) => "PGRST107",
            Error::NotEmbedded(_) => "PGRST108",
            Error::Singular { .. } => "PGRST116",
            Error::UnacceptableFilter(_) => "PGRST120",
            Error::UnsupportedMethod(_) => "PGRST117",
            Error::NotImplemented(_) => "PGRST127",
            Error::NoRelationship { .. } => "PGRST200",
            Error::AmbiguousRelationship { .. } => "PGRST201",
            Error::FunctionNotFound { .. } => "PGRST202",
            Error::AmbiguousFunction(_) => "PGRST203",
            Error::ColumnNotFound { .. } => "PGRST204",
            Error::TableNotFound { .. } => "PGRST205",
            Error::UndefinedColumn { .. } => "42703",
        }
    }

    /// The HTTP status PostgREST answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::Parse { .. }
            | Error::InvalidBody(_)
            | Error::NotEmbedded(_)
            | Error::UnacceptableFilter(_)
            | Error::NotImplemented(_)
            | Error::NoRelationship { .. }
            | Error::ColumnNotFound { .. }
            | Error::UndefinedColumn { .. } => 400,
            Error::RpcMethod(_) | Error::UnsupportedMethod(_) => 405,
            Error::InvalidRange { .. } => 416,
            Error::SchemaNotExposed { .. } | Error::MediaType(_) | Error::Singular { .. } => 406,
            Error::AmbiguousRelationship { .. } | Error::AmbiguousFunction(_) => 300,
            Error::FunctionNotFound { .. } | Error::TableNotFound { .. } => 404,
        }
    }

    /// The body to send: `{code, message, details, hint}` with nulls where PostgREST has them.
    pub fn body(&self) -> ErrorBody {
        let text = |s: String| Value::String(s);
        let (details, hint) = match self {
            Error::Parse { details, .. } => (text(details.clone()), Value::Null),
            Error::InvalidRange { details } => (text(details.clone()), Value::Null),
            Error::SchemaNotExposed { exposed, .. } => {
                (Value::Null, text(format!("Only the following schemas are exposed: {}", exposed.join(", "))))
            }
            Error::NotEmbedded(name) => {
                (Value::Null, text(format!("Verify that '{name}' is included in the 'select' query parameter.")))
            }
            Error::Singular { rows } => (text(format!("The result contains {rows} rows")), Value::Null),
            Error::UnacceptableFilter(_) => {
                (text("Only is null or not is null filters are allowed on embedded resources".into()), Value::Null)
            }
            Error::NotImplemented(what) => (text(what.clone()), Value::Null),
            Error::NoRelationship { parent, child, hint, schema } => {
                let using = hint.as_ref().map(|h| format!("' using the hint '{h}")).unwrap_or_default();
                (
                    text(format!(
                        "Searched for a foreign key relationship between '{parent}' and '{child}{using}' in the schema '{schema}', but no matches were found."
                    )),
                    Value::Null,
                )
            }
            Error::AmbiguousRelationship { child, candidates, .. } => {
                let names: Vec<String> = candidates
                    .iter()
                    .filter_map(|c| c.get("relationship").and_then(Value::as_str))
                    .map(|r| format!("'{child}!{}'", r.split(' ').next().unwrap_or(r)))
                    .collect();
                (
                    Value::Array(candidates.clone()),
                    text(format!(
                        "Try changing '{child}' to one of the following: {}. Find the desired relationship in the 'details' key.",
                        names.join(", ")
                    )),
                )
            }
            Error::FunctionNotFound { schema, name, args } => {
                let with = if args.is_empty() {
                    " without parameters".to_string()
                } else {
                    format!(" with parameter{} {}", if args.len() > 1 { "s" } else { "" }, args.join(", "))
                };
                (
                    text(format!(
                        "Searched for the function {schema}.{name}{with}, but no matches were found in the schema cache."
                    )),
                    Value::Null,
                )
            }
            Error::AmbiguousFunction(_) => (
                Value::Null,
                text("Try renaming the parameters or the function itself in the database so function overloading can be resolved".into()),
            ),
            _ => (Value::Null, Value::Null),
        };
        ErrorBody { code: self.code().to_string(), message: self.to_string(), details, hint }
    }
}

/// The HTTP status for a PostgreSQL error raised while running a plan, as PostgREST maps it.
///
/// `message` matters for two SQLSTATEs (pg-safeupdate's 21000 and a missing role's 22023);
/// `authenticated` turns 42501 into 403 (a JWT was given) or 401 (anonymous). A custom
/// `PTxyz` SQLSTATE raised by the tenant gives status xyz.
pub fn pg_error_status(sqlstate: &str, message: &str, authenticated: bool) -> u16 {
    let class = sqlstate.get(..2).unwrap_or("");
    match sqlstate {
        "23503" | "23505" => return 409,
        "25006" => return 405,
        "21000" => return if message.ends_with("requires a WHERE clause") { 400 } else { 500 },
        "22023" => {
            return if message.starts_with("role") && message.ends_with("does not exist") { 401 } else { 400 };
        }
        "53400" => return 500,
        "57P01" => return 503,
        "P0001" => return 400,
        "42883" => return 404,
        "42P01" => return 404,
        "42P17" => return 500,
        "42501" => return if authenticated { 403 } else { 401 },
        _ => {}
    }
    match class {
        "08" | "53" => 503,
        "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "54" | "55" | "57" | "58" | "F0" | "HV" | "P0" | "XX" => 500,
        "0L" | "0P" | "28" => 403,
        "PT" => sqlstate.get(2..).and_then(|n| n.parse::<u16>().ok()).filter(|s| (100..600).contains(s)).unwrap_or(500),
        _ => 400,
    }
}
