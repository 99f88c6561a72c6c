//! An HTTP request as PostgREST reads it: method, path, the already percent-decoded query
//! pairs and the headers become a [`Request`]. Names are not checked here; the planner
//! checks them against the schema cache.

use crate::ast::*;
use crate::error::Error;
use crate::grammar;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Patch,
    Put,
    Delete,
}

impl Method {
    /// The method, or PGRST117 for anything else.
    pub fn parse(method: &str) -> Result<Self, Error> {
        Ok(match method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PATCH" => Method::Patch,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            other => return Err(Error::UnsupportedMethod(other.to_string())),
        })
    }

    pub fn is_read(self) -> bool {
        matches!(self, Method::Get | Method::Head)
    }
}

/// What the path after `/rest/v1/` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Table(String),
    Rpc(String),
}

impl Target {
    /// `todos` or `rpc/add_todo` (one segment, already percent-decoded).
    pub fn from_path(path: &str) -> Result<Self, Error> {
        let path = path.trim_matches('/');
        let invalid = || Error::TableNotFound { schema: String::new(), name: path.to_string() };
        match path.split_once('/') {
            None if !path.is_empty() => Ok(Target::Table(path.to_string())),
            Some(("rpc", f)) if !f.is_empty() && !f.contains('/') => Ok(Target::Rpc(f.to_string())),
            _ => Err(invalid()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Full,
    Minimal,
    HeadersOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

/// The `Prefer` header(s). Unknown or malformed preferences are ignored, as PostgREST does
/// without `handling=strict`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub representation: Option<Representation>,
    /// `count=exact`; `planned` and `estimated` are served as exact counts.
    pub count: Option<String>,
    pub resolution: Option<Resolution>,
    /// `missing=default`: keys absent from some objects of a bulk insert take the default.
    pub missing_default: bool,
    /// `tx=rollback`: run, answer, and roll back.
    pub rollback: bool,
}

impl Preferences {
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut p = Preferences::default();
        for pref in values.into_iter().flat_map(|v| v.split(',')).map(str::trim) {
            match pref {
                "return=representation" => p.representation = Some(Representation::Full),
                "return=minimal" => p.representation = Some(Representation::Minimal),
                "return=headers-only" => p.representation = Some(Representation::HeadersOnly),
                "count=exact" | "count=planned" | "count=estimated" => {
                    p.count = pref.strip_prefix("count=").map(str::to_string)
                }
                "resolution=merge-duplicates" => p.resolution = Some(Resolution::MergeDuplicates),
                "resolution=ignore-duplicates" => p.resolution = Some(Resolution::IgnoreDuplicates),
                "missing=default" => p.missing_default = true,
                "missing=null" => p.missing_default = false,
                "tx=rollback" => p.rollback = true,
                "tx=commit" => p.rollback = false,
                _ => {}
            }
        }
        p
    }
}

/// The media type of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`: an array (or a function's bare value).
    Json,
    /// `application/vnd.pgrst.object+json`: exactly one object, else PGRST116.
    SingleObject,
}

impl MediaType {
    /// The first acceptable type of `Accept` by quality, or PGRST107.
    pub fn negotiate(accept: Option<&str>) -> Result<Self, Error> {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Ok(MediaType::Json) };
        let mut offers: Vec<(f32, &str)> = accept
            .split(',')
            .map(|part| {
                let mut pieces = part.split(';').map(str::trim);
                let ty = pieces.next().unwrap_or("");
                let q = pieces.filter_map(|p| p.strip_prefix("q=")).find_map(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
                (q, ty)
            })
            .collect();
        offers.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (q, ty) in offers {
            if q <= 0.0 {
                continue;
            }
            match ty.to_ascii_lowercase().as_str() {
                "application/json" | "application/*" | "*/*" => return Ok(MediaType::Json),
                "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
                    return Ok(MediaType::SingleObject)
                }
                _ => {}
            }
        }
        Err(Error::MediaType(accept.to_string()))
    }
}

/// Rows `offset ..= offset + limit - 1` (no upper bound without a limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub offset: u64,
    pub limit: Option<u64>,
}

impl Window {
    /// The rows both windows cover: how a `Range` header and `limit`/`offset` combine.
    pub fn intersect(self, other: Window) -> Window {
        let offset = self.offset.max(other.offset);
        let end = |w: Window| w.limit.map(|l| w.offset.saturating_add(l));
        let limit = match (end(self), end(other)) {
            (Some(a), Some(b)) => Some(a.min(b).saturating_sub(offset)),
            (Some(a), None) | (None, Some(a)) => Some(a.saturating_sub(offset)),
            (None, None) => None,
        };
        Window { offset, limit }
    }
}

/// A `Range: 0-9` header (`Range-Unit: items` is implied). A malformed value is ignored, as
/// PostgREST does; a lower bound above the upper one is PGRST103.
pub fn parse_range_header(value: &str) -> Result<Option<Window>, Error> {
    let Some((lo, hi)) = value.trim().split_once('-') else { return Ok(None) };
    let Ok(lo) = lo.parse::<u64>() else { return Ok(None) };
    if hi.is_empty() {
        return Ok(Some(Window { offset: lo, limit: None }));
    }
    let Ok(hi) = hi.parse::<u64>() else { return Ok(None) };
    if lo > hi {
        return Err(Error::InvalidRange {
            details: "The lower boundary must be lower than or equal to the upper boundary in the Range header.".into(),
        });
    }
    Ok(Some(Window { offset: lo, limit: Some(hi - lo + 1) }))
}

/// A request in PostgREST's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub target: Target,
    /// The schema chosen by `Accept-Profile`/`Content-Profile`, else the first exposed one.
    pub schema: String,
    /// True when a profile header chose the schema: the answer then names it back.
    pub profile_negotiated: bool,
    pub select: Vec<SelectItem>,
    pub filters: Vec<(EmbedPath, Filter)>,
    pub logic: Vec<(EmbedPath, LogicTree)>,
    pub order: Vec<(EmbedPath, Vec<OrderTerm>)>,
    /// `limit`/`offset` per embed path, the `Range` header already folded into the root's.
    pub windows: Vec<(EmbedPath, Window)>,
    pub on_conflict: Option<Vec<String>>,
    pub columns: Option<Vec<String>>,
    /// `GET /rpc/f?a=1`: the pairs whose value is not a filter expression.
    pub rpc_args: Vec<(String, String)>,
    pub preferences: Preferences,
    pub media: MediaType,
}

impl Request {
    /// The window of the top-level resource.
    pub fn root_window(&self) -> Window {
        self.window(&[])
    }

    pub fn window(&self, path: &[String]) -> Window {
        self.windows.iter().find(|(p, _)| p == path).map(|(_, w)| *w).unwrap_or_default()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> impl Iterator<Item = &'a str> {
    let name = name.to_string();
    headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(&name)).map(|(_, v)| v.as_str())
}

fn parse_count(key: &str, value: &str) -> Result<u64, Error> {
    value.trim().parse::<u64>().map_err(|_| Error::Parse {
        what: "limit/offset",
        input: format!("{key}={value}"),
        column: 1,
        details: "expecting a non-negative integer".into(),
    })
}

/// Reads a request. `query` holds percent-decoded pairs in their order; `headers` may repeat
/// a name (`Prefer` often does); `exposed` lists the schemas this key may reach, the first
/// being the default.
pub fn parse_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    exposed: &[String],
) -> Result<Request, Error> {
    let method = Method::parse(method)?;
    let target = Target::from_path(path)?;
    let profile_header = if method.is_read() { "Accept-Profile" } else { "Content-Profile" };
    let (schema, profile_negotiated) = match header(headers, profile_header).next() {
        Some(s) if exposed.iter().any(|e| e == s.trim()) => (s.trim().to_string(), true),
        Some(s) => return Err(Error::SchemaNotExposed { schema: s.trim().to_string(), exposed: exposed.to_vec() }),
        None => match exposed.first() {
            Some(s) => (s.clone(), false),
            None => return Err(Error::SchemaNotExposed { schema: String::new(), exposed: Vec::new() }),
        },
    };
    let is_rpc_read = matches!(target, Target::Rpc(_)) && method.is_read();
    let mut req = Request {
        method,
        target,
        schema,
        profile_negotiated,
        select: vec![SelectItem::Star],
        filters: Vec::new(),
        logic: Vec::new(),
        order: Vec::new(),
        windows: Vec::new(),
        on_conflict: None,
        columns: None,
        rpc_args: Vec::new(),
        preferences: Preferences::parse(header(headers, "Prefer")),
        media: MediaType::negotiate(header(headers, "Accept").next())?,
    };
    let mut limits: Vec<(EmbedPath, u64)> = Vec::new();
    let mut offsets: Vec<(EmbedPath, u64)> = Vec::new();
    for (key, value) in query {
        match key.as_str() {
            "select" => req.select = grammar::parse_select(value)?,
            "columns" => req.columns = Some(grammar::parse_columns("columns parameter", value)?),
            "on_conflict" => req.on_conflict = Some(grammar::parse_columns("on_conflict parameter", value)?),
            _ => classify(&mut req, key, value, is_rpc_read, &mut limits, &mut offsets)?,
        }
    }
    let mut paths: Vec<EmbedPath> = limits.iter().chain(offsets.iter()).map(|(p, _)| p.clone()).collect();
    paths.dedup();
    for path in paths {
        let limit = limits.iter().rev().find(|(p, _)| *p == path).map(|(_, l)| *l);
        let offset = offsets.iter().rev().find(|(p, _)| *p == path).map(|(_, o)| *o).unwrap_or(0);
        if !req.windows.iter().any(|(p, _)| *p == path) {
            req.windows.push((path, Window { offset, limit }));
        }
    }
    if method == Method::Get || method == Method::Head {
        if let Some(range) = header(headers, "Range").next() {
            if let Some(w) = parse_range_header(range)? {
                let root = req.root_window().intersect(w);
                req.windows.retain(|(p, _)| !p.is_empty());
                req.windows.push((Vec::new(), root));
            }
        }
    }
    Ok(req)
}

/// Sorts one query pair into order, window, logic tree, filter or function argument by the
/// last dot-separated word of its key, as PostgREST does.
fn classify(
    req: &mut Request,
    key: &str,
    value: &str,
    is_rpc_read: bool,
    limits: &mut Vec<(EmbedPath, u64)>,
    offsets: &mut Vec<(EmbedPath, u64)>,
) -> Result<(), Error> {
    let words: Vec<&str> = key.split('.').collect();
    let last = words.last().copied().unwrap_or("");
    let prefix = || -> Result<EmbedPath, Error> {
        if words.len() == 1 {
            return Ok(Vec::new());
        }
        let (path, field) = grammar::parse_key(&words[..words.len() - 1].join("."))?;
        let mut path = path;
        path.push(field.name);
        Ok(path)
    };
    match last {
        "order" => req.order.push((prefix()?, grammar::parse_order(value)?)),
        "limit" => limits.push((prefix()?, parse_count(key, value)?)),
        "offset" => offsets.push((prefix()?, parse_count(key, value)?)),
        "or" | "and" => {
            let mut path = Vec::new();
            let mut negate = false;
            for w in &words[..words.len() - 1] {
                if *w == "not" {
                    negate = true;
                } else {
                    path.push(w.to_string());
                }
            }
            req.logic.push((path, grammar::parse_logic(last == "or", negate, value)?));
        }
        _ => {
            let (path, field) = grammar::parse_key(key)?;
            match grammar::parse_filter(field.clone(), value) {
                Ok(filter) => req.filters.push((path, filter)),
                Err(_) if is_rpc_read && path.is_empty() && field.json_path.is_empty() => {
                    req.rpc_args.push((field.name, value.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
