//! The per-query audit: recording each statement that ran through the API
//! (`domain::query`), and `GET /databases/{id}/queries`.
//!
//! A record is appended after the statement ran, before the answer goes out; if the store
//! cannot take it the request fails (a statement that ran unrecorded is worse than a failed
//! answer). The error recorded is the SQLSTATE only: a message can quote the data (`invalid
//! input syntax for type integer: "…"`, a unique violation's key), and the log keeps none.

use std::collections::HashMap;
use std::sync::Arc;

use domain::{DatabaseId, QueryId, QueryRecord, QueryRun, QuerySource, SqlSettings, StreamId};
use eventstore::sql::{QueryLogFilter, QueryLogRow};
use eventstore::{Metadata, Store};
use hostctl::sql::SqlError;

use super::classify::Classified;
use super::Timed;
use crate::authz::Action;
use crate::caller::Caller;
use crate::databases::load_authorized;
use crate::error::{Error, OrInternal};
use crate::reads::{page_limit, Paged};
use crate::Control;

/// What one run leaves in the audit.
pub(crate) struct Record<'a> {
    pub db: DatabaseId,
    pub source: QuerySource,
    pub classified: &'a Classified,
    pub settings: &'a SqlSettings,
    pub outcome: &'a Timed,
}

/// The error as the audit keeps it.
fn audit_error(e: &SqlError) -> String {
    match e {
        SqlError::Sql { code, .. } => format!("SQLSTATE {code}"),
        SqlError::Timeout(_) => "timed out".into(),
        SqlError::Rejected(_) => "rejected".into(),
        SqlError::Unavailable(_) => "host unavailable".into(),
        SqlError::Refused { code } => format!("session refused (SQLSTATE {code})"),
    }
}

/// A record of a statement on `db`, with nothing known yet of how it ran.
fn base_run(db: DatabaseId, source: QuerySource, classified: &Classified, settings: &SqlSettings) -> QueryRun {
    QueryRun {
        query_id: QueryId::new(),
        database_id: db,
        source,
        fingerprint: classified.fingerprint.clone(),
        statement: settings.record_statements.then(|| classified.normalized.clone()).flatten(),
        command: None,
        duration_ms: 0,
        row_count: None,
        error: None,
        data_key_id: None,
        subject: None,
    }
}

fn query_run(r: &Record<'_>) -> QueryRun {
    let mut run = base_run(r.db, r.source, r.classified, r.settings);
    match &r.outcome.result {
        Ok(res) => {
            run.command = Some(res.command.clone());
            run.row_count = Some(res.row_count);
        }
        Err(e) => run.error = Some(audit_error(e)),
    }
    run.duration_ms = u64::try_from(r.outcome.elapsed.as_millis()).unwrap_or(u64::MAX);
    run
}

async fn append(store: &Store, run: &QueryRun, meta: &Metadata) -> Result<(), Error> {
    let stream = StreamId::query(run.query_id);
    match store.execute_new::<QueryRecord>(stream.as_str(), run, meta, &[]).await? {
        Ok(_) => Ok(()),
        Err(never) => match never {},
    }
}

/// Records a run, and answers the record (see `audit_writer`: stored before the answer).
pub(crate) async fn record(ctx: &Control, r: Record<'_>, meta: Metadata) -> Result<QueryRun, Error> {
    let run = query_run(&r);
    ctx.audit.record(&run, &meta).await?;
    Ok(run)
}

/// Texts classified lately: the data API runs the same planned statements again and again,
/// and parsing one costs more than the rest of recording it.
static CLASSIFIED: std::sync::LazyLock<parking_lot::Mutex<HashMap<String, Arc<Classified>>>> =
    std::sync::LazyLock::new(Default::default);
/// Texts kept at most; past it the cache starts again empty.
const CLASSIFIED_KEPT: usize = 512;
/// Longer texts are classified every time (the cache stays a few megabytes at most).
const CLASSIFIED_MAX_TEXT: usize = 4096;

/// [`super::classify::classify`] on a blocking thread, remembered for short texts.
pub(crate) async fn classify_cached(text: &str) -> Result<Arc<Classified>, Error> {
    if let Some(c) = CLASSIFIED.lock().get(text) {
        return Ok(c.clone());
    }
    let owned = text.to_owned();
    let classified = Arc::new(
        tokio::task::spawn_blocking(move || super::classify::classify(&owned)).await.map_err(Error::internal)?,
    );
    if text.len() > CLASSIFIED_MAX_TEXT {
        return Ok(classified);
    }
    let mut kept = CLASSIFIED.lock();
    if kept.len() >= CLASSIFIED_KEPT {
        kept.clear();
    }
    kept.insert(text.to_owned(), classified.clone());
    Ok(classified)
}

/// What a run that did not go through `hostctl::sql` (a migration) came to.
pub(crate) struct Ran {
    pub command: Option<String>,
    pub row_count: Option<u64>,
    /// SQLSTATE or a word, never a message.
    pub error: Option<String>,
    pub elapsed: std::time::Duration,
    /// A data-API request's key and JWT subject.
    pub data_key_id: Option<String>,
    pub subject: Option<String>,
}

/// Records `text` as run from `source`, classified here, with the database's settings.
pub(crate) async fn record_ran(
    ctx: &Control,
    db: DatabaseId,
    source: QuerySource,
    text: &str,
    ran: Ran,
    meta: &Metadata,
) -> Result<(), Error> {
    let settings = crate::data_cache::sql_settings(ctx, db).await?;
    let classified = classify_cached(text).await?;
    let mut run = base_run(db, source, &classified, &settings);
    run.command = ran.command;
    run.row_count = ran.row_count;
    run.error = ran.error;
    run.data_key_id = ran.data_key_id;
    run.subject = ran.subject;
    run.duration_ms = u64::try_from(ran.elapsed.as_millis()).unwrap_or(u64::MAX);
    ctx.audit.record(&run, meta).await
}

/// The SQLSTATE in a message that carries one (`… (SQLSTATE 22012) …`).
pub(crate) fn sqlstate_in(message: &str) -> String {
    match message.find("SQLSTATE ") {
        Some(at) => message[at..].chars().take(14).collect(),
        None => "failed".into(),
    }
}

/// Records a run that was cut short because the caller went away (its future was dropped
/// while the statement ran: the statement was cancelled, but may have done part of its
/// work). Made when a request starts and disarmed by the normal record.
pub(crate) struct Unfinished {
    store: Store,
    run: Option<(QueryRun, Metadata)>,
}

impl Unfinished {
    pub(crate) fn new(
        store: &Store,
        db: DatabaseId,
        source: QuerySource,
        classified: &Classified,
        settings: &SqlSettings,
        meta: &Metadata,
    ) -> Self {
        let mut run = base_run(db, source, classified, settings);
        run.error = Some("the client went away; the statement was cancelled".into());
        Self { store: store.clone(), run: Some((run, meta.clone())) }
    }

    pub(crate) fn disarm(mut self) {
        self.run = None;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some((run, meta)) = self.run.take() {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = append(&store, &run, &meta).await {
                    tracing::error!(error = %e, "recording a cancelled SQL request failed");
                }
            });
        }
    }
}

/// What a page of the per-query audit asks for.
#[derive(Debug, Default)]
pub struct QueriesQuery {
    pub source: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /databases/{id}/queries`: newest first (developers and up, like top statements).
pub async fn list(ctx: &Control, caller: &Caller, id: &str, q: QueriesQuery) -> Result<Paged<QueryLogRow>, Error> {
    let (db, _) = load_authorized(ctx, caller, id, Action::Credentials).await?;
    let limit = page_limit(q.limit)?;
    let source = match q.source.as_deref() {
        Some(s) => Some(QuerySource::parse(s).ok_or_else(|| {
            Error::InvalidRequest("invalid field `source`: one of sql, explorer, migration, approval, data_api".into())
        })?),
        None => None,
    };
    let before = match &q.cursor {
        Some(c) => Some(QueryId::parse(c).map_err(|_| Error::InvalidRequest("invalid field `cursor`".into()))?),
        None => None,
    };
    let filter = QueryLogFilter { source, since: q.since, until: q.until, before };
    let rows = ctx.store.query_log(db.id, &filter, limit).await.or_internal("reading the per-query audit")?;
    Ok(Paged::of(rows, limit, |r| r.id.to_string()))
}
