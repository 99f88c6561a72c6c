//! `berth activity [--follow]`: the account's events, newest first; `--follow` prints new
//! ones as they happen (one line each, or one JSON object per line with `--json`).

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use clap::Args;
use client::wire::{ActivityQuery, ActivityView};

use super::output::{self, Outcome, Table};
use super::{resolve_db, time, Ctx};

#[derive(Args)]
pub struct ActivityArgs {
    /// Only this database's events (name or id).
    #[arg(long = "database", value_name = "DB")]
    pub database: Option<String>,
    /// Only this action (e.g. database.create).
    #[arg(long)]
    pub action: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// How many events (1 to 200).
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    /// Keep watching: print new events as they happen, until interrupted.
    #[arg(long, short)]
    pub follow: bool,
    /// With --follow: seconds between polls.
    #[arg(long, default_value_t = 2, value_name = "SECONDS")]
    pub interval: u64,
}

pub async fn run(ctx: &Ctx, a: ActivityArgs) -> Outcome {
    let database_id = match &a.database {
        Some(d) => Some(resolve_db(ctx, d).await?),
        None => None,
    };
    let mut q = ActivityQuery {
        database_id,
        action: a.action.clone(),
        since: a.since,
        until: None,
        cursor: None,
        limit: Some(a.limit),
    };
    let first = ctx.client.activity(&q).await?;
    if !a.follow {
        if ctx.json {
            return output::json(&first.raw);
        }
        let mut t = Table::new(&["AT", "ACTION", "RESOURCE", "ACTOR", "DETAILS"]);
        for e in &first.data {
            t.row(cells(e));
        }
        return t.print();
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut last = None;
    print_new(ctx, &first.data, &first.raw_items(), &mut seen, &mut last)?;
    q.limit = Some(200);
    loop {
        tokio::time::sleep(Duration::from_secs(a.interval.max(1))).await;
        q.since = last.or(a.since);
        let page = ctx.client.activity(&q).await?;
        print_new(ctx, &page.data, &page.raw_items(), &mut seen, &mut last)?;
    }
}

/// Prints the events of a newest-first page not printed yet, oldest first.
fn print_new(
    ctx: &Ctx,
    events: &[ActivityView],
    raws: &[Box<serde_json::value::RawValue>],
    seen: &mut HashSet<String>,
    last: &mut Option<chrono::DateTime<chrono::Utc>>,
) -> Outcome {
    let mut out = std::io::stdout().lock();
    for (i, e) in events.iter().enumerate().rev() {
        if !seen.insert(e.id.clone()) {
            continue;
        }
        if ctx.json {
            // One event per line, as the server sent it (the server sends compact JSON).
            writeln!(out, "{}", raws.get(i).map(|r| r.get()).unwrap_or("null"))?;
        } else {
            writeln!(out, "{}", cells(e).iter().map(|c| output::clean(c)).collect::<Vec<_>>().join("  "))?;
        }
        if last.is_none_or(|l| e.at > l) {
            *last = Some(e.at);
        }
    }
    out.flush()?;
    Ok(())
}

fn cells(e: &ActivityView) -> Vec<String> {
    let resource = match &e.resource.name {
        Some(n) => format!("{} {n} ({})", e.resource.kind, e.resource.id),
        None => format!("{} {}", e.resource.kind, e.resource.id),
    };
    let actor = match (&e.actor.user_id, &e.actor.api_key_id) {
        (Some(u), Some(k)) => format!("{u} via {k}"),
        (Some(u), None) => u.clone(),
        (None, Some(k)) => k.clone(),
        (None, None) => "platform".into(),
    };
    let details = match &e.details {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        d => d.to_string(),
    };
    vec![time(&e.at), e.action.clone(), resource, actor, details]
}
