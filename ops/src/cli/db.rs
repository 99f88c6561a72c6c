//! `berth db …`: databases and their lifecycle and credentials.

use clap::Subcommand;
use client::wire::{CreateDatabase, CreatedDatabase, Credentials, DatabaseView};
use client::{Lifecycle, Reply};

use super::output::{self, Outcome, Table};
use super::{
    allowlist, collaborators, data_api, dbusers, follow_operation, migrations, observe, psql, resolve_db, sql, time,
    Ctx, WaitArgs,
};

#[derive(Subcommand)]
pub enum DbCommand {
    /// Create a database; prints its password and connection string (shown this once).
    Create {
        /// `^[a-z][a-z0-9-]{2,62}$`: also the PostgreSQL database and role name.
        name: String,
        /// The engine (default postgres).
        #[arg(long)]
        engine: Option<String>,
        /// Place it on a host of this region (`berth hosts list` shows them; default any).
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Your databases and those shared with you.
    #[command(alias = "ls")]
    List,
    /// One database (by name or id).
    Get { db: String },
    /// Delete a database (owner only): its data, its role, its pool.
    #[command(alias = "rm")]
    Delete {
        db: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Stop a database: new connections are refused, existing ones ended.
    Stop {
        db: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Start a stopped database.
    Start {
        db: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Restart a database.
    Restart {
        db: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// The database's login: username, password, connection string.
    Credentials { db: String },
    /// A new password (the old one stops working); prints it once.
    ResetPassword {
        db: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Run psql against the database (the login goes in psql's environment, never its
    /// arguments); arguments after `--` go to psql.
    Psql {
        db: String,
        #[arg(last = true, value_name = "PSQL_ARGS")]
        args: Vec<String>,
    },
    /// A plain-SQL dump (pg_dump) of the database, streamed to stdout or FILE.
    Dump {
        db: String,
        /// Schema only: no data.
        #[arg(long)]
        ddl_only: bool,
        /// Where to write it (default stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Schema migrations: list, apply a directory of `*.sql` files.
    #[command(subcommand)]
    Migrations(migrations::MigrationsCommand),
    /// Extra login roles confined to the database.
    #[command(subcommand)]
    Users(dbusers::UsersCommand),
    /// The networks allowed to connect (an empty list admits all).
    #[command(subcommand)]
    Allowlist(allowlist::AllowlistCommand),
    /// Who else may see or manage the database.
    #[command(subcommand)]
    Collaborators(collaborators::CollaboratorsCommand),
    /// Run SQL through the API (the argument, `--file F`, or stdin); prints a table, or the
    /// API's `data` with --json. Developers (and `--read-only`) run read-only.
    Sql {
        db: String,
        query: Option<String>,
        /// Read the SQL from a file (`-` for stdin), run as psql runs a file.
        #[arg(long, short = 'f')]
        file: Option<String>,
        #[arg(long)]
        read_only: bool,
    },
    /// The per-query audit: statements run through the API, newest first.
    Queries {
        db: String,
        /// sql, explorer, migration, approval or data_api.
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
    },
    /// How the database is doing: transactions per second, latency, sessions, storage, and
    /// the statements that take the time (the platform's own never among them).
    Observe { db: String },
    /// The database's history, one row per sample (a minute apart), oldest first.
    Metrics {
        db: String,
        /// Start of the history (RFC 3339; default an hour ago, at most a day back).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Statements held for approval, and the approval settings.
    #[command(subcommand)]
    Approvals(sql::ApprovalsCommand),
    /// The data API's keys: publishable (browsers) and service (servers).
    #[command(subcommand)]
    Keys(data_api::KeysCommand),
    /// The data API's auth config: how users' JWTs are verified.
    #[command(subcommand)]
    AuthConfig(data_api::AuthConfigCommand),
}

pub async fn run(ctx: &Ctx, command: DbCommand) -> Outcome {
    match command {
        DbCommand::Create { name, engine, region, wait } => create(ctx, name, engine, region, wait).await,
        DbCommand::List => list(ctx).await,
        DbCommand::Get { db } => get(ctx, &db).await,
        DbCommand::Delete { db, wait } => delete(ctx, &db, wait).await,
        DbCommand::Stop { db, wait } => lifecycle(ctx, &db, Lifecycle::Stop, wait).await,
        DbCommand::Start { db, wait } => lifecycle(ctx, &db, Lifecycle::Start, wait).await,
        DbCommand::Restart { db, wait } => lifecycle(ctx, &db, Lifecycle::Restart, wait).await,
        DbCommand::Credentials { db } => {
            let id = resolve_db(ctx, &db).await?;
            let c = ctx.client.credentials(&id).await?;
            if ctx.json {
                return output::json(&c.raw);
            }
            print_credentials(&c.data)
        }
        DbCommand::ResetPassword { db, wait } => reset_password(ctx, &db, wait).await,
        DbCommand::Psql { db, args } => psql::run(ctx, &db, &args).await,
        DbCommand::Dump { db, ddl_only, output } => migrations::dump(ctx, &db, ddl_only, output).await,
        DbCommand::Migrations(c) => migrations::migrations(ctx, c).await,
        DbCommand::Users(c) => dbusers::users(ctx, c).await,
        DbCommand::Allowlist(c) => allowlist::allowlist(ctx, c).await,
        DbCommand::Collaborators(c) => collaborators::collaborators(ctx, c).await,
        DbCommand::Sql { db, query, file, read_only } => sql::run(ctx, &db, query, file, read_only).await,
        DbCommand::Queries { db, source, limit } => sql::queries(ctx, &db, source, limit).await,
        DbCommand::Approvals(c) => sql::approvals(ctx, c).await,
        DbCommand::Keys(c) => data_api::keys(ctx, c).await,
        DbCommand::AuthConfig(c) => data_api::auth_config(ctx, c).await,
        DbCommand::Observe { db } => observe::observe(ctx, &db).await,
        DbCommand::Metrics { db, since } => observe::metrics(ctx, &db, since).await,
    }
}

async fn create(ctx: &Ctx, name: String, engine: Option<String>, region: Option<String>, wait: WaitArgs) -> Outcome {
    let created = ctx.client.create_database(&CreateDatabase { name: name.clone(), engine, region }).await?;
    finish_new(ctx, created, &format!("creating database {}", output::clean(&name)), wait).await
}

/// A database being made (create, restore, branch): follows its operation when the API
/// answered 202, then prints its login, the one time the API returns it.
pub async fn finish_new(ctx: &Ctx, created: Reply<CreatedDatabase>, what: &str, wait: WaitArgs) -> Outcome {
    let mut state = created.database.state.clone();
    if created.status == 202 {
        if let Some(op) = &created.database.operation_id {
            follow_operation(ctx, what, op, wait).await?;
            if !wait.no_wait {
                state = ctx.client.database(&created.database.id).await?.database.state.clone();
            }
        }
    }
    if ctx.json {
        return output::json(&created.raw);
    }
    print_created(&created.data, &state)
}

/// A new database's details, with its password and connection string (shown once).
fn print_created(c: &CreatedDatabase, state: &str) -> Outcome {
    let d = &c.database;
    output::fields(&[
        ("id", d.id.clone()),
        ("name", d.name.clone()),
        ("state", state.to_owned()),
        ("host", d.host.clone()),
        ("port", d.port.to_string()),
        ("username", c.username.clone()),
        ("password", c.password.clone()),
        ("connection string", c.connection_string.clone()),
    ])?;
    eprintln!("the password is shown this once here; `berth db credentials {}` shows the login again", d.name);
    Ok(())
}

fn print_credentials(c: &Credentials) -> Outcome {
    output::fields(&[
        ("username", c.username.clone()),
        ("password", c.password.clone()),
        ("connection string", c.connection_string.clone()),
    ])
}

async fn list(ctx: &Ctx) -> Outcome {
    let all = ctx.client.all_databases().await?;
    if ctx.json {
        return output::json(&all.raw);
    }
    table(&all.data).print()
}

fn table(dbs: &[DatabaseView]) -> Table {
    let mut t = Table::new(&["ID", "NAME", "ENGINE", "STATE", "ROLE", "HOST", "PORT", "SIZE", "CREATED"]);
    for d in dbs {
        t.row(vec![
            d.id.clone(),
            d.name.clone(),
            d.engine.clone(),
            d.state.clone(),
            role(d),
            d.host.clone(),
            d.port.to_string(),
            output::bytes(d.size_bytes),
            time(&d.created_at),
        ]);
    }
    t
}

fn role(d: &DatabaseView) -> String {
    serde_json::to_value(d.role).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

async fn get(ctx: &Ctx, db: &str) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let d = ctx.client.database(&id).await?;
    if ctx.json {
        return output::json(&d.raw);
    }
    let v = &d.database;
    output::fields(&[
        ("id", v.id.clone()),
        ("name", v.name.clone()),
        ("engine", v.engine.clone()),
        ("state", v.state.clone()),
        ("locked reason", output::opt(&v.locked_reason)),
        ("your role", role(v)),
        ("host", v.host.clone()),
        ("port", v.port.to_string()),
        ("username", d.username.clone()),
        ("size", output::bytes(v.size_bytes)),
        ("created", time(&v.created_at)),
        ("last backup", super::opt_time(&d.last_backup_at)),
        ("last verified backup", super::opt_time(&d.last_verified_backup_at)),
    ])
}

async fn delete(ctx: &Ctx, db: &str, wait: WaitArgs) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let r = ctx.client.delete_database(&id).await?;
    let what = format!("deleting database {}", output::clean(&r.name));
    if let Some(op) = &r.operation_id {
        follow_operation(ctx, &what, op, wait).await?;
    }
    if ctx.json {
        return output::json(&r.raw);
    }
    if wait.no_wait {
        println!("deleting database {} ({})", r.name, r.id);
    } else {
        println!("deleted database {} ({})", r.name, r.id);
    }
    Ok(())
}

async fn lifecycle(ctx: &Ctx, db: &str, action: Lifecycle, wait: WaitArgs) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let r = ctx.client.lifecycle(&id, action).await?;
    let mut state = r.state.clone();
    if r.status == 202 {
        if let Some(op) = &r.operation_id {
            let verb = match action {
                Lifecycle::Stop => "stopping",
                Lifecycle::Start => "starting",
                Lifecycle::Restart => "restarting",
            };
            follow_operation(ctx, &format!("{verb} database {}", output::clean(&r.name)), op, wait).await?;
            if !wait.no_wait {
                state = ctx.client.database(&id).await?.database.state.clone();
            }
        }
    }
    if ctx.json {
        return output::json(&r.raw);
    }
    println!("database {} ({}) is {state}", r.name, r.id);
    Ok(())
}

async fn reset_password(ctx: &Ctx, db: &str, wait: WaitArgs) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let r = ctx.client.reset_password(&id).await?;
    if r.status == 202 {
        if let Some(op) = &r.operation_id {
            follow_operation(ctx, "resetting the password", op, wait).await?;
        }
    }
    if ctx.json {
        return output::json(&r.raw);
    }
    print_credentials(&r.data)
}
