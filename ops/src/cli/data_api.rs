//! `berth db keys publishable|service …` and `berth db auth-config get|set`: the data API's
//! keys and auth config.

use clap::{Args, Subcommand};
use client::wire::{AuthConfigBody, AuthConfigView, ByoJwtBody, CreatePublishableKey, CreateServiceKey, RateLimitBody};

use super::output::{self, Failure, Outcome, Table};
use super::{opt_time, resolve_db, time, Ctx};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Publishable keys, for browsers (the `anon` role; `authenticated` with a verified JWT).
    #[command(subcommand)]
    Publishable(PublishableCommand),
    /// Service keys, for servers (the `service` role, which bypasses row-level security).
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[derive(Args)]
pub struct Expiry {
    /// The key stops working this many days from now (default: never).
    #[arg(long, value_name = "DAYS")]
    expires_in_days: Option<u64>,
}

#[derive(Subcommand)]
pub enum PublishableCommand {
    /// A new publishable key; prints it this once.
    Create {
        db: String,
        #[arg(long)]
        name: Option<String>,
        /// Origins browsers may call from, comma-separated (default: any).
        #[arg(long, value_delimiter = ',')]
        allowed_origins: Option<Vec<String>>,
        /// Schemas the key reaches, comma-separated (default: public).
        #[arg(long, value_delimiter = ',')]
        exposed_schemas: Option<Vec<String>>,
        /// `table` or `schema.table`, comma-separated (default: every table).
        #[arg(long, value_delimiter = ',')]
        exposed_tables: Option<Vec<String>>,
        /// Requests per second (with --burst).
        #[arg(long, requires = "burst")]
        rps: Option<f64>,
        #[arg(long, requires = "rps")]
        burst: Option<f64>,
        #[command(flatten)]
        expiry: Expiry,
    },
    /// The database's publishable keys (never their secrets).
    #[command(alias = "ls")]
    List { db: String },
    /// Revoke a key: refused from the very next request.
    #[command(alias = "rm")]
    Revoke { db: String, key_id: String },
}

#[derive(Subcommand)]
pub enum ServiceCommand {
    /// A new service key; prints it this once.
    Create {
        db: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        expiry: Expiry,
    },
    /// The database's service keys (never their secrets).
    #[command(alias = "ls")]
    List { db: String },
    /// Revoke a key: refused from the very next request.
    #[command(alias = "rm")]
    Revoke { db: String, key_id: String },
}

#[derive(Subcommand)]
pub enum AuthConfigCommand {
    /// The database's auth config.
    Get { db: String },
    /// Set the auth config (`byo_jwt`): exactly one of --jwks-url and --jwks-file.
    Set {
        db: String,
        #[arg(long, required_unless_present = "jwks_file", conflicts_with = "jwks_file")]
        jwks_url: Option<String>,
        /// A JWK Set of public keys, from a file (`-` for stdin).
        #[arg(long)]
        jwks_file: Option<String>,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        audience: String,
        /// Default `sub`.
        #[arg(long)]
        subject_claim: Option<String>,
        /// Comma-separated (default sub,role,email,aud,exp).
        #[arg(long, value_delimiter = ',')]
        claims_allowlist: Option<Vec<String>>,
        /// Default 4096.
        #[arg(long)]
        claims_max_bytes: Option<u64>,
    },
}

fn key_created(kind: &str, id: &str, name: &str, key: &str) -> Outcome {
    output::fields(&[("id", id.to_owned()), ("name", name.to_owned()), (kind, key.to_owned())])?;
    eprintln!("the key is shown this once: store it now");
    Ok(())
}

pub async fn keys(ctx: &Ctx, command: KeysCommand) -> Outcome {
    match command {
        KeysCommand::Publishable(c) => publishable(ctx, c).await,
        KeysCommand::Service(c) => service(ctx, c).await,
    }
}

async fn publishable(ctx: &Ctx, command: PublishableCommand) -> Outcome {
    match command {
        PublishableCommand::Create {
            db,
            name,
            allowed_origins,
            exposed_schemas,
            exposed_tables,
            rps,
            burst,
            expiry,
        } => {
            let rate_limit = rps.zip(burst).map(|(rps, burst)| RateLimitBody { rps, burst });
            let body = CreatePublishableKey {
                name,
                allowed_origins,
                exposed_schemas,
                exposed_tables,
                rate_limit,
                expires_in_days: expiry.expires_in_days,
            };
            let r = ctx.client.create_publishable_key(&resolve_db(ctx, &db).await?, &body).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            key_created("publishable key", &r.meta.id, &r.meta.name, &r.publishable_key)
        }
        PublishableCommand::List { db } => {
            let r = ctx.client.publishable_keys(&resolve_db(ctx, &db).await?).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t =
                Table::new(&["ID", "NAME", "PREFIX", "ORIGINS", "SCHEMAS", "TABLES", "RPS", "EXPIRES", "CREATED"]);
            for k in &r.data {
                t.row(vec![
                    k.id.clone(),
                    k.name.clone(),
                    k.prefix.clone(),
                    k.allowed_origins.join(","),
                    k.exposed_schemas.join(","),
                    k.exposed_tables.join(","),
                    k.rate_limit.map(|l| format!("{}/{}", l.rps, l.burst)).unwrap_or_default(),
                    opt_time(&k.expires_at),
                    time(&k.created_at),
                ]);
            }
            t.print()
        }
        PublishableCommand::Revoke { db, key_id } => {
            ctx.client.revoke_publishable_key(&resolve_db(ctx, &db).await?, &key_id).await?;
            ctx.say(format!("revoked publishable key {}", output::clean(&key_id)));
            Ok(())
        }
    }
}

async fn service(ctx: &Ctx, command: ServiceCommand) -> Outcome {
    match command {
        ServiceCommand::Create { db, name, expiry } => {
            let body = CreateServiceKey { name, expires_in_days: expiry.expires_in_days };
            let r = ctx.client.create_service_key(&resolve_db(ctx, &db).await?, &body).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            key_created("service key", &r.meta.id, &r.meta.name, &r.service_key)
        }
        ServiceCommand::List { db } => {
            let r = ctx.client.service_keys(&resolve_db(ctx, &db).await?).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t = Table::new(&["ID", "NAME", "PREFIX", "EXPIRES", "CREATED"]);
            for k in &r.data {
                t.row(vec![
                    k.id.clone(),
                    k.name.clone(),
                    k.prefix.clone(),
                    opt_time(&k.expires_at),
                    time(&k.created_at),
                ]);
            }
            t.print()
        }
        ServiceCommand::Revoke { db, key_id } => {
            ctx.client.revoke_service_key(&resolve_db(ctx, &db).await?, &key_id).await?;
            ctx.say(format!("revoked service key {}", output::clean(&key_id)));
            Ok(())
        }
    }
}

fn print_config(c: &AuthConfigView) -> Outcome {
    let j = &c.byo_jwt;
    let source = match (&j.jwks_url, &j.jwks) {
        (Some(url), _) => url.clone(),
        (None, Some(_)) => "(inline JWK Set)".into(),
        (None, None) => String::new(),
    };
    output::fields(&[
        ("auth mode", c.auth_mode.clone()),
        ("jwks", source),
        ("issuer", j.issuer.clone()),
        ("audience", j.audience.clone()),
        ("subject claim", j.subject_claim.clone()),
        ("claims allowlist", j.claims_allowlist.join(",")),
        ("claims max bytes", j.claims_max_bytes.to_string()),
    ])
}

fn read_jwks(path: &str) -> Result<serde_json::Value, Failure> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| Failure::Usage(format!("reading stdin: {e}")))?
    } else {
        std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("reading {path}: {e}")))?
    };
    serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("the JWK Set is not JSON: {e}")))
}

pub async fn auth_config(ctx: &Ctx, command: AuthConfigCommand) -> Outcome {
    let r = match command {
        AuthConfigCommand::Get { db } => ctx.client.auth_config(&resolve_db(ctx, &db).await?).await?,
        AuthConfigCommand::Set {
            db,
            jwks_url,
            jwks_file,
            issuer,
            audience,
            subject_claim,
            claims_allowlist,
            claims_max_bytes,
        } => {
            let jwks = jwks_file.as_deref().map(read_jwks).transpose()?;
            let byo_jwt =
                ByoJwtBody { jwks_url, jwks, issuer, audience, subject_claim, claims_allowlist, claims_max_bytes };
            let body = AuthConfigBody { auth_mode: "byo_jwt".into(), byo_jwt };
            ctx.client.set_auth_config(&resolve_db(ctx, &db).await?, &body).await?
        }
    };
    if ctx.json {
        return output::json(&r.raw);
    }
    print_config(&r.data)
}
