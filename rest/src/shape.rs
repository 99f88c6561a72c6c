//! How to answer once the statement ran. Every plan's statement returns one row of three
//! columns, `total_count bigint` (NULL unless a count was asked for), `page_total bigint`
//! and `body text` (NULL when no body is sent); [`Shape::respond`] turns them into the
//! status, headers and body PostgREST would send.

use crate::error::Error;

/// What the statement did, which decides status codes and `Content-Range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Insert,
    Update,
    Delete,
    /// A function call; `void` ones answer 204.
    Call {
        void: bool,
    },
}

/// Everything about the answer that is known before the statement runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub action: Action,
    /// HEAD: headers only.
    pub head: bool,
    /// `Accept: application/vnd.pgrst.object+json`: exactly one row, else PGRST116.
    pub single: bool,
    /// The offset of the first row, for `Content-Range`.
    pub offset: u64,
    /// Whether the body column is sent (`return=representation`, reads, calls).
    pub returns_body: bool,
    /// `Prefer: count=...` was honoured: `total_count` holds the total.
    pub counted: bool,
    /// The `Preference-Applied` values.
    pub preference_applied: Vec<String>,
    /// GET and HEAD: run in a `READ ONLY` transaction, so a volatile function called with
    /// GET fails with 25006 (405), as in PostgREST.
    pub read_only: bool,
    /// `Prefer: tx=rollback`: roll back instead of committing.
    pub rollback: bool,
    /// `Content-Profile` to send back when a profile header chose the schema.
    pub profile: Option<String>,
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// `Content-Range: lower-upper/total`, `*` when no rows, `*` total when not counted.
pub fn content_range(lower: u64, page_total: u64, total: Option<u64>) -> String {
    let total_s = total.map(|t| t.to_string()).unwrap_or_else(|| "*".into());
    if page_total == 0 || total == Some(0) {
        format!("*/{total_s}")
    } else {
        format!("{lower}-{}/{total_s}", lower + page_total - 1)
    }
}

impl Shape {
    /// Status, headers and body from the statement's one row.
    ///
    /// An `Err` here (PGRST116 for a single object, PGRST103 for an offset past the end)
    /// is the answer instead; for a write the caller must then ROLL BACK, as PostgREST does,
    /// so a `.single()` update that matched three rows changes nothing.
    pub fn respond(&self, page_total: i64, total: Option<i64>, body: Option<String>) -> Result<Response, Error> {
        let page = u64::try_from(page_total).unwrap_or(0);
        let total = if self.counted { total.and_then(|t| u64::try_from(t).ok()) } else { None };
        if self.single && page != 1 {
            return Err(Error::Singular { rows: page_total });
        }
        let mut headers = Vec::new();
        let (status, range) = match self.action {
            Action::Read | Action::Call { .. } => {
                if let Some(t) = total {
                    if self.offset > t {
                        return Err(Error::InvalidRange {
                            details: format!(
                                "An offset of {} was requested, but there are only {t} rows.",
                                self.offset
                            ),
                        });
                    }
                }
                let partial = total.is_some_and(|t| page < t);
                let status = match self.action {
                    Action::Call { void: true } => 204,
                    _ if partial => 206,
                    _ => 200,
                };
                (status, content_range(self.offset, page, total))
            }
            Action::Insert => (201, content_range(1, 0, total)),
            Action::Update => (if self.returns_body { 200 } else { 204 }, content_range(0, page, total)),
            Action::Delete => (if self.returns_body { 200 } else { 204 }, content_range(1, 0, total)),
        };
        headers.push(("Content-Range".to_string(), range));
        let send_body = self.returns_body && !self.head && status != 204;
        if send_body {
            let ct = if self.single { "application/vnd.pgrst.object+json" } else { "application/json" };
            headers.push(("Content-Type".to_string(), format!("{ct}; charset=utf-8")));
        }
        if let Some(p) = &self.profile {
            headers.push(("Content-Profile".to_string(), p.clone()));
        }
        if !self.preference_applied.is_empty() {
            headers.push(("Preference-Applied".to_string(), self.preference_applied.join(", ")));
        }
        let body = if send_body { body.unwrap_or_default() } else { String::new() };
        Ok(Response { status, headers, body })
    }
}
