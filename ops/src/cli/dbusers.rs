//! `berth db users …`: a database's extra login roles.

use std::time::{Duration, Instant};

use clap::Subcommand;

use super::output::{self, Failure, Outcome, Table};
use super::progress::Progress;
use super::{resolve_db, time, Ctx, WaitArgs};

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
