//! `berth db sql`, `berth db queries`, `berth db approvals …`: SQL over HTTP.

use std::io::Read;

use clap::Subcommand;
use client::wire::{ApprovalSettingsBody, ApprovalView, PageQuery, QueriesQuery, SqlBody, SqlResultView};
use client::SqlReply;

use super::output::{self, Failure, Outcome, Table};
use super::{resolve_db, time, Ctx};

/// Where the SQL text comes from: the argument, a file (`-` for stdin), or stdin.
fn read_text(query: Option<String>, file: Option<String>) -> Result<(Option<String>, Option<String>), Failure> {
    match (query, file) {
        (Some(_), Some(_)) => Err(Failure::Usage("give the SQL as an argument or with --file, not both".into())),
        (Some(q), None) => Ok((Some(q), None)),
        (None, Some(path)) => {
            let text = if path == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).map_err(|e| Failure::Usage(format!("reading stdin: {e}")))?;
                s
            } else {
                std::fs::read_to_string(&path).map_err(|e| Failure::Usage(format!("reading {path}: {e}")))?
            };
            Ok((None, Some(text)))
        }
        (None, None) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| Failure::Usage(format!("reading stdin: {e}")))?;
            Ok((None, Some(s)))
        }
    }
}

/// A cell as psql would show it: strings bare, null empty, the rest as JSON.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_result(r: &SqlResultView) -> Outcome {
    if r.columns.is_empty() {
        println!("{} {}", output::clean(&r.command), r.row_count);
        return Ok(());
    }
    let mut t = Table::with_header(r.columns.iter().map(|c| c.name.clone()).collect());
    for row in &r.rows {
        t.row(row.iter().map(cell).collect());
    }
    t.print()?;
    let more = if r.truncated { " (truncated: more rows than the response carries)" } else { "" };
    eprintln!("({} row{}){more}", r.row_count, if r.row_count == 1 { "" } else { "s" });
    Ok(())
}

/// `berth db sql DB [QUERY] [--file F] [--read-only]`.
pub async fn run(ctx: &Ctx, db: &str, query: Option<String>, file: Option<String>, read_only: bool) -> Outcome {
    let (query, file_content) = read_text(query, file)?;
    let id = resolve_db(ctx, db).await?;
    let body = SqlBody { query, file_content, params: Vec::new(), read_only };
    match ctx.client.sql(&id, &body).await? {
        SqlReply::Ran(r) if ctx.json => output::json(&r.raw),
        SqlReply::Ran(r) => print_result(&r.data),
        SqlReply::Held(h) if ctx.json => output::json(&h.raw),
        SqlReply::Held(h) => {
            output::fields(&[("approval", h.data.approval_id.clone()), ("state", h.data.state.clone())])?;
            eprintln!(
                "held for approval: an owner or admin approves it with `berth db approvals approve {} {}`",
                output::clean(db),
                h.data.approval_id
            );
            Ok(())
        }
    }
}

/// `berth db queries DB`: the per-query audit, newest first.
pub async fn queries(ctx: &Ctx, db: &str, source: Option<String>, limit: Option<i64>) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let q = QueriesQuery { source, limit, ..QueriesQuery::default() };
    let r = ctx.client.queries(&id, &q).await?;
    if ctx.json {
        return output::json(&r.raw);
    }
    let mut t = Table::new(&["AT", "ACTOR", "SOURCE", "COMMAND", "ROWS", "MS", "ERROR", "STATEMENT"]);
    for q in &r.data {
        t.row(vec![
            time(&q.at),
            q.actor.user_id.clone().or_else(|| q.subject.clone()).or_else(|| q.data_key_id.clone()).unwrap_or_default(),
            q.source.clone(),
            output::opt(&q.command),
            output::opt(&q.row_count),
            q.duration_ms.to_string(),
            output::opt(&q.error),
            q.statement.clone().unwrap_or_else(|| format!("(fingerprint {})", q.fingerprint)),
        ]);
    }
    t.print()
}

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// Held statements, newest first.
    #[command(alias = "ls")]
    List { db: String },
    /// Approve a held statement: it runs once, now, as the database's own role.
    Approve {
        db: String,
        approval: String,
        /// The owner of a database with no admins approving their own statement.
        #[arg(long)]
        confirm: bool,
    },
    /// Reject a held statement: it never runs.
    Reject { db: String, approval: String },
    /// Show or change the database's approval settings (changing them: owner only).
    Settings {
        db: String,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        /// Comma-separated: drop, truncate, alter, delete_without_where, update_without_where.
        #[arg(long, value_delimiter = ',')]
        kinds: Option<Vec<String>>,
        /// How long a held statement waits for a decision.
        #[arg(long)]
        ttl_seconds: Option<u64>,
        /// Keep statements' text (constants taken out) in the per-query audit.
        #[arg(long)]
        record_statements: Option<bool>,
    },
}

fn approval_row(a: &ApprovalView) -> Vec<String> {
    vec![
        a.id.clone(),
        a.state.clone(),
        a.kinds.join(","),
        a.requested_by.clone(),
        time(&a.requested_at),
        a.statement.clone(),
    ]
}

pub async fn approvals(ctx: &Ctx, command: ApprovalsCommand) -> Outcome {
    match command {
        ApprovalsCommand::List { db } => {
            let id = resolve_db(ctx, &db).await?;
            let r = ctx.client.approvals(&id, &PageQuery { cursor: None, limit: Some(200) }).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t = Table::new(&["ID", "STATE", "KINDS", "REQUESTED BY", "AT", "STATEMENT"]);
            for a in &r.data {
                t.row(approval_row(a));
            }
            t.print()
        }
        ApprovalsCommand::Approve { db, approval, confirm } => decide(ctx, &db, &approval, true, confirm).await,
        ApprovalsCommand::Reject { db, approval } => decide(ctx, &db, &approval, false, false).await,
        ApprovalsCommand::Settings { db, enable, disable, kinds, ttl_seconds, record_statements } => {
            let id = resolve_db(ctx, &db).await?;
            let enabled = if enable { Some(true) } else { disable.then_some(false) };
            let change = enabled.is_some() || kinds.is_some() || ttl_seconds.is_some() || record_statements.is_some();
            let r = if change {
                let body = ApprovalSettingsBody { enabled, kinds, ttl_seconds, record_statements };
                ctx.client.set_approval_settings(&id, &body).await?
            } else {
                ctx.client.approval_settings(&id).await?
            };
            if ctx.json {
                return output::json(&r.raw);
            }
            output::fields(&[
                ("enabled", r.data.enabled.to_string()),
                ("kinds", r.data.kinds.join(",")),
                ("ttl seconds", r.data.ttl_seconds.to_string()),
                ("record statements", r.data.record_statements.to_string()),
            ])
        }
    }
}

async fn decide(ctx: &Ctx, db: &str, approval: &str, approve: bool, confirm: bool) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let r = ctx.client.decide_approval(&id, approval, approve, confirm).await?;
    if ctx.json {
        return output::json(&r.raw);
    }
    let a = &r.data;
    let result = a.result.as_ref().map(|x| match &x.error {
        Some(e) => format!("failed: {e}"),
        None => format!("{} {}", x.command.clone().unwrap_or_default(), output::opt(&x.row_count)),
    });
    output::fields(&[("approval", a.id.clone()), ("state", a.state.clone()), ("result", result.unwrap_or_default())])
}
