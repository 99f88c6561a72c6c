//! `berth db allowlist …`: the networks a database admits.

use clap::Subcommand;
use client::wire::NewRule;

use super::output::{self, Outcome, Table};
use super::{opt_time, resolve_db, time, Ctx};

#[derive(Subcommand)]
pub enum AllowlistCommand {
    /// The rules (none: open to all).
    #[command(alias = "ls")]
    List { db: String },
    /// Admit a network (CIDR, e.g. 203.0.113.0/24).
    Add {
        db: String,
        cidr: String,
        #[arg(long)]
        label: Option<String>,
        /// The rule expires by itself after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
    },
    /// Remove a rule.
    #[command(alias = "rm")]
    Remove { db: String, rule_id: String },
}

pub async fn allowlist(ctx: &Ctx, command: AllowlistCommand) -> Outcome {
    match command {
        AllowlistCommand::List { db } => {
            let r = ctx.client.allowlist(&resolve_db(ctx, &db).await?).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            if r.data.is_empty() {
                println!("no rules: open to all networks");
                return Ok(());
            }
            let mut t = Table::new(&["ID", "CIDR", "LABEL", "EXPIRES", "CREATED"]);
            for x in &r.data {
                t.row(vec![
                    x.id.clone(),
                    x.cidr.clone(),
                    output::opt(&x.label),
                    opt_time(&x.expires_at),
                    time(&x.created_at),
                ]);
            }
            t.print()
        }
        AllowlistCommand::Add { db, cidr, label, ttl } => {
            let rule = NewRule { cidr, label, ttl_seconds: ttl };
            let r = ctx.client.add_rule(&resolve_db(ctx, &db).await?, &rule).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let how = if r.status == 202 { "added (being applied)" } else { "added" };
            println!("{how} rule {} for {}", r.id, r.cidr);
            Ok(())
        }
        AllowlistCommand::Remove { db, rule_id } => {
            ctx.client.remove_rule(&resolve_db(ctx, &db).await?, &rule_id).await?;
            ctx.say(format!("removed rule {}", output::clean(&rule_id)));
            Ok(())
        }
    }
}
