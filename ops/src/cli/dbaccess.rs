//! `berth db users|allowlist|collaborators …`.

use clap::Subcommand;
use client::wire::{AddCollaborator, NewRule};

use std::time::{Duration, Instant};

use super::output::{self, Failure, Outcome, Table};
use super::progress::Progress;
use super::{opt_time, resolve_db, time, Ctx, WaitArgs};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// The database's extra users.
    #[command(alias = "ls")]
    List { db: String },
    /// A new user; prints its password once.
    Create {
        db: String,
        username: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Remove a user (its sessions end).
    #[command(alias = "rm")]
    Delete { db: String, username: String },
}

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

#[derive(Subcommand)]
pub enum CollaboratorsCommand {
    /// Who the database is shared with.
    #[command(alias = "ls")]
    List { db: String },
    /// Share the database with an existing user.
    Add {
        db: String,
        email: String,
        /// admin, developer or viewer.
        #[arg(long)]
        role: String,
    },
    /// Change a collaborator's role.
    SetRole { db: String, user_id: String, role: String },
    /// Stop sharing with a user.
    #[command(alias = "rm")]
    Remove { db: String, user_id: String },
}

pub async fn users(ctx: &Ctx, command: UsersCommand) -> Outcome {
    match command {
        UsersCommand::List { db } => {
            let r = ctx.client.users(&resolve_db(ctx, &db).await?).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t = Table::new(&["NAME", "USERNAME", "STATE", "CREATED"]);
            for u in &r.data {
                t.row(vec![u.name.clone(), u.username.clone(), u.state.clone(), time(&u.created_at)]);
            }
            t.print()
        }
        UsersCommand::Create { db, username, wait } => {
            let id = resolve_db(ctx, &db).await?;
            let r = ctx.client.create_user(&id, &username).await?;
            let mut state = r.user.state.clone();
            if r.status == 202 && !wait.no_wait {
                state = wait_user(ctx, &id, &r.user.name, wait).await?;
            }
            if ctx.json {
                return output::json(&r.raw);
            }
            output::fields(&[
                ("name", r.user.name.clone()),
                ("username", r.user.username.clone()),
                ("state", state),
                ("password", r.password.clone()),
                ("connection string", r.connection_string.clone()),
            ])?;
            eprintln!("the password is shown this once; it cannot be retrieved later");
            Ok(())
        }
        UsersCommand::Delete { db, username } => {
            let d = ctx.client.delete_user(&resolve_db(ctx, &db).await?, &username).await?;
            let how = if d.status == 202 { "removing" } else { "removed" };
            ctx.say(format!("{how} user {}", output::clean(&username)));
            Ok(())
        }
    }
}

/// Polls the users until `name` is ready (a user has no operation of its own to follow).
async fn wait_user(ctx: &Ctx, db: &str, name: &str, wait: WaitArgs) -> Result<String, Failure> {
    let what = format!("creating user {}", output::clean(name));
    let mut bar = Progress::start(&what);
    let deadline = Instant::now() + Duration::from_secs(wait.timeout);
    let mut interval = Duration::from_millis(100);
    loop {
        let users = match ctx.client.users(db).await {
            Ok(u) => u,
            Err(e) => {
                bar.abandon();
                return Err(e.into());
            }
        };
        let state = users.iter().find(|u| u.name == name).map(|u| u.state.clone()).unwrap_or_else(|| "gone".into());
        bar.update(&format!("user {state}"));
        if state == "ready" {
            bar.finish(&format!("{what}: done"));
            return Ok(state);
        }
        if state == "gone" || Instant::now() + interval > deadline {
            bar.abandon();
            return Err(Failure::Client(client::Error::Timeout(format!(
                "user {} is {state} after {}s",
                output::clean(name),
                wait.timeout
            ))));
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 3 / 2).min(Duration::from_secs(1));
    }
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

pub async fn collaborators(ctx: &Ctx, command: CollaboratorsCommand) -> Outcome {
    match command {
        CollaboratorsCommand::List { db } => {
            let r = ctx.client.collaborators(&resolve_db(ctx, &db).await?).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t = Table::new(&["USER", "EMAIL", "ROLE", "ADDED"]);
            for c in &r.data {
                t.row(vec![c.user_id.clone(), c.email.clone(), c.role.clone(), time(&c.added_at)]);
            }
            t.print()
        }
        CollaboratorsCommand::Add { db, email, role } => {
            let body = AddCollaborator { email, role };
            let r = ctx.client.add_collaborator(&resolve_db(ctx, &db).await?, &body).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            println!("shared with {} ({}) as {}", output::clean(&r.email), r.user_id, r.role);
            Ok(())
        }
        CollaboratorsCommand::SetRole { db, user_id, role } => {
            let r = ctx.client.change_collaborator(&resolve_db(ctx, &db).await?, &user_id, &role).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            println!("{} ({}) is now {}", output::clean(&r.email), r.user_id, r.role);
            Ok(())
        }
        CollaboratorsCommand::Remove { db, user_id } => {
            ctx.client.remove_collaborator(&resolve_db(ctx, &db).await?, &user_id).await?;
            ctx.say(format!("no longer shared with {}", output::clean(&user_id)));
            Ok(())
        }
    }
}
