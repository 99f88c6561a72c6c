//! `berth` as the user's client: login, databases, backups, keys, activity, and the platform
//! admin's incidents and accounts, over the HTTP API (the `client` crate). Tables for people,
//! `--json` for scripts; exit codes 0, 1 (API error), 2 (usage), 3 (network).

mod account;
mod activity;
mod admin;
mod allowlist;
mod backup;
mod collaborators;
pub mod creds;
mod data_api;
mod db;
mod dbusers;
pub mod help;
mod keys;
mod migrations;
mod observe;
pub mod output;
pub mod progress;
mod psql;
mod sql;

use std::time::Duration;

use clap::{Args, Subcommand};
use client::{Client, Progress as Seen};

use self::output::{Failure, Outcome};
use self::progress::Progress;

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Check an API key against the API (GET /me) and store it, with the API's URL, for the
    /// next commands.
    Login(account::LoginArgs),
    /// Forget the stored credentials.
    Logout,
    /// Who the key belongs to: user, account, plan, quotas and usage.
    Me,
    /// Databases: create, list, get, delete, stop, start, restart, credentials,
    /// reset-password, psql, dump, migrations, users, allowlist, collaborators.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Backups of a database: create, list, download, verify, delete.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Restore a backup into a new database.
    Restore(backup::RestoreArgs),
    /// Copy a database's current state into a new database.
    Branch(backup::BranchArgs),
    /// Your account's API keys: create, list, replace, revoke.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// What happened on your account and databases, newest first; `--follow` to keep watching.
    Activity(activity::ActivityArgs),
    /// Platform admins: list and resolve incidents.
    #[command(subcommand)]
    Incidents(admin::IncidentsCommand),
    /// Platform admins: change an account's plan.
    #[command(subcommand)]
    Accounts(admin::AccountsCommand),
    /// Platform admins: tenant hosts (list, cordon, uncordon, drain, remove).
    #[command(subcommand)]
    Hosts(admin::HostsCommand),
    /// The platform CA's certificate (PEM), which the connection pooler's certificate chains
    /// to: `berth ca --install` saves it where libpq looks (~/.postgresql/root.crt) so that
    /// `sslmode=verify-full` works. Needs no key.
    Ca(account::CaArgs),
    /// Print a shell completion script (bash, zsh or fish).
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl From<Shell> for clap_complete::Shell {
    fn from(s: Shell) -> Self {
        match s {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// `--no-wait` and `--timeout` of the commands that start an operation.
#[derive(Args, Clone, Copy)]
pub struct WaitArgs {
    /// Return as soon as the API accepted the request; do not wait for the operation.
    #[arg(long)]
    pub no_wait: bool,
    /// Stop waiting after this many seconds (the operation goes on); exit 1.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
}

/// What every client command has: the API client and the output mode.
pub struct Ctx {
    pub client: Client,
    pub json: bool,
}

impl Ctx {
    /// A line for people; nothing with `--json` (the answer had no body to print).
    pub fn say(&self, line: impl std::fmt::Display) {
        if !self.json {
            println!("{line}");
        }
    }
}

/// Runs a client command; returns the process exit code.
pub async fn run(command: ClientCommand, json: bool) -> i32 {
    let outcome = match command {
        ClientCommand::Login(args) => account::login(args, json).await,
        ClientCommand::Logout => account::logout(),
        ClientCommand::Ca(args) => account::ca(args).await,
        ClientCommand::Completions { .. } => Ok(()),
        other => match context(json) {
            Ok(ctx) => dispatch(&ctx, other).await,
            Err(f) => Err(f),
        },
    };
    match outcome {
        Ok(()) => 0,
        Err(f) => output::report(&f),
    }
}

fn context(json: bool) -> Result<Ctx, Failure> {
    let r = creds::resolve()?;
    let Some(key) = r.api_key else {
        return Err(Failure::Usage(
            "not logged in: run `berth login --api-key KEY [--url URL]`, or set BERTH_API_KEY (and BERTH_URL)".into(),
        ));
    };
    let client = Client::new(&r.url, Some(&key)).map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(Ctx { client, json })
}

async fn dispatch(ctx: &Ctx, command: ClientCommand) -> Outcome {
    match command {
        ClientCommand::Me => account::me(ctx).await,
        ClientCommand::Db(c) => db::run(ctx, c).await,
        ClientCommand::Backup(c) => backup::run(ctx, c).await,
        ClientCommand::Restore(a) => backup::restore(ctx, a).await,
        ClientCommand::Branch(a) => backup::branch(ctx, a).await,
        ClientCommand::Keys(c) => keys::run(ctx, c).await,
        ClientCommand::Activity(a) => activity::run(ctx, a).await,
        ClientCommand::Incidents(c) => admin::incidents(ctx, c).await,
        ClientCommand::Accounts(c) => admin::accounts(ctx, c).await,
        ClientCommand::Hosts(c) => admin::hosts(ctx, c).await,
        ClientCommand::Login(_) | ClientCommand::Logout | ClientCommand::Ca(_) | ClientCommand::Completions { .. } => {
            Ok(())
        }
    }
}

/// A database given by id (`db_…`) or by name: its id.
pub async fn resolve_db(ctx: &Ctx, given: &str) -> Result<String, Failure> {
    if given.starts_with("db_") {
        return Ok(given.to_owned());
    }
    let all = ctx.client.all_databases().await?;
    match all.data.iter().find(|d| d.name == given) {
        Some(d) => Ok(d.id.clone()),
        None => Err(Failure::Client(client::Error::Api(client::ApiError {
            status: 404,
            code: "DATABASE_NOT_FOUND".into(),
            message: format!("no database named {:?} among yours", output::clean(given)),
            request_id: all.request_id,
        }))),
    }
}

/// Follows an operation to its end with a progress indicator (unless `--no-wait`).
pub async fn follow_operation(ctx: &Ctx, what: &str, operation_id: &str, wait: WaitArgs) -> Outcome {
    if wait.no_wait {
        eprintln!("{what}: accepted; operation {operation_id} (not waiting)");
        return Ok(());
    }
    let mut bar = Progress::start(what);
    let timeout = Duration::from_secs(wait.timeout);
    let result = ctx
        .client
        .wait_operation(operation_id, timeout, |seen| {
            if let Seen::Operation(op) = seen {
                bar.update(&format!("operation {} {} (attempt {})", op.id, op.state, op.attempts));
            }
        })
        .await;
    match result {
        Ok(op) => {
            bar.finish(&format!("{what}: done (operation {} {})", op.id, op.state));
            Ok(())
        }
        Err(e) => {
            bar.abandon();
            Err(e.into())
        }
    }
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

fn opt_time(t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.as_ref().map(time).unwrap_or_default()
}
