//! Platform admins: `berth incidents list|resolve`, `berth accounts list|set-plan`,
//! `berth hosts list|cordon|uncordon|drain|remove|move`.

use clap::Subcommand;
use client::wire::{AccountQuery, IncidentQuery};

use super::output::{self, Outcome, Table};
use super::{opt_time, time, Ctx};

#[derive(Subcommand)]
pub enum IncidentsCommand {
    /// Incidents, newest first.
    #[command(alias = "ls")]
    List {
        /// open or resolved.
        #[arg(long)]
        state: Option<String>,
        /// Only this kind (e.g. provision_failed).
        #[arg(long)]
        kind: Option<String>,
        /// Only this resource's (an id).
        #[arg(long)]
        resource: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Mark an incident resolved.
    Resolve { incident_id: String },
}

#[derive(Subcommand)]
pub enum HostsCommand {
    /// Tenant hosts: region, state, load, free disk, version, last seen.
    #[command(alias = "ls")]
    List,
    /// Place no new database on a host.
    Cordon { host_id: String },
    /// Let a cordoned or draining host take new databases again.
    Uncordon { host_id: String },
    /// No new placements, and its running PostgreSQL databases move to other hosts of its
    /// region (`berth hosts list` shows them leaving; draining again retries what stayed).
    Drain { host_id: String },
    /// Remove a host that holds no database.
    Remove { host_id: String },
    /// Move a PostgreSQL database to another host; its connection strings keep working.
    Move {
        /// The database (`db_…`).
        database_id: String,
        /// The host to move it to (`berth hosts list`).
        host_id: String,
        #[command(flatten)]
        wait: super::WaitArgs,
    },
}

pub async fn hosts(ctx: &Ctx, command: HostsCommand) -> Outcome {
    let (id, action) = match command {
        HostsCommand::List => {
            let r = ctx.client.hosts().await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t =
                Table::new(&["ID", "NAME", "ENGINE", "REGION", "STATE", "DATABASES", "FREE", "VERSION", "LAST SEEN"]);
            for h in &r.data {
                t.row(vec![
                    h.id.clone(),
                    h.name.clone(),
                    h.engine.clone(),
                    h.region.clone(),
                    h.state.clone(),
                    format!("{}/{}", h.databases, h.capacity),
                    h.free_bytes.map(output::bytes).unwrap_or_else(|| "-".into()),
                    h.version.clone().unwrap_or_else(|| "-".into()),
                    opt_time(&h.last_seen_at),
                ]);
            }
            return t.print();
        }
        HostsCommand::Move { database_id, host_id, wait } => {
            let r = ctx.client.move_database(&database_id, &host_id).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let operation = r.data.operation_id.clone().unwrap_or_default();
            return super::follow_operation(ctx, &format!("moving {}", r.data.name), &operation, wait).await;
        }
        HostsCommand::Remove { host_id } => {
            ctx.client.remove_host(&host_id).await?;
            println!("host {host_id} removed");
            return Ok(());
        }
        HostsCommand::Cordon { host_id } => (host_id, "cordon"),
        HostsCommand::Uncordon { host_id } => (host_id, "uncordon"),
        HostsCommand::Drain { host_id } => (host_id, "drain"),
    };
    let r = ctx.client.host_action(&id, action).await?;
    if ctx.json {
        return output::json(&r.raw);
    }
    println!("host {} ({}) is {}", r.id, r.name, r.state);
    Ok(())
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Accounts with their plan, owner and what they hold, newest first.
    #[command(alias = "ls")]
    List {
        /// free, pro or business.
        #[arg(long)]
        plan: Option<String>,
        /// Only owners whose email contains this (any case).
        #[arg(long)]
        email: Option<String>,
        /// Start after this account (the `next_cursor` of a previous page).
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Change an account's plan (free, pro, business).
    SetPlan { account_id: String, plan: String },
}

pub async fn incidents(ctx: &Ctx, command: IncidentsCommand) -> Outcome {
    match command {
        IncidentsCommand::List { state, kind, resource, limit } => {
            let q = IncidentQuery { state, kind, resource, cursor: None, limit: Some(limit) };
            let r = ctx.client.incidents(&q).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t = Table::new(&["ID", "KIND", "SEVERITY", "STATE", "RESOURCE", "SEEN", "LAST SEEN", "SUMMARY"]);
            for i in &r.data {
                t.row(vec![
                    i.id.clone(),
                    i.kind.clone(),
                    i.severity.clone(),
                    i.state.clone(),
                    format!("{} {}", i.resource.kind, i.resource.id),
                    i.occurrences.to_string(),
                    time(&i.last_seen_at),
                    i.summary.clone(),
                ]);
            }
            t.print()
        }
        IncidentsCommand::Resolve { incident_id } => {
            let r = ctx.client.resolve_incident(&incident_id).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            println!("incident {} is {} (resolved at {})", r.id, r.state, opt_time(&r.resolved_at));
            Ok(())
        }
    }
}

pub async fn accounts(ctx: &Ctx, command: AccountsCommand) -> Outcome {
    match command {
        AccountsCommand::List { plan, email, cursor, limit } => {
            let r = ctx.client.accounts(&AccountQuery { plan, email, cursor, limit: Some(limit) }).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t = Table::new(&["ID", "OWNER", "PLAN", "DATABASES", "STORAGE", "KEYS", "CREATED"]);
            for a in &r.data {
                let owner = a.owner_email.clone().unwrap_or_else(|| "(anonymous)".into());
                t.row(vec![
                    a.id.clone(),
                    owner,
                    a.plan.clone(),
                    a.databases.to_string(),
                    format!("{:.1} MB", a.storage_mb),
                    a.api_keys.to_string(),
                    time(&a.created_at),
                ]);
            }
            t.print()?;
            if let Some(next) = &r.next_cursor {
                eprintln!("more: berth accounts list --cursor {next}");
            }
            Ok(())
        }
        AccountsCommand::SetPlan { account_id, plan } => {
            let r = ctx.client.set_plan(&account_id, &plan).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            println!("account {} is on plan {}", r.id, r.plan);
            Ok(())
        }
    }
}
