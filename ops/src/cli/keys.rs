//! `berth keys …`: the account's API keys. A key's secret is printed only by create and
//! replace, the one time the API returns it.

use clap::Subcommand;
use client::wire::{CreateKey, KeyWithSecret};

use super::output::{self, Outcome, Table};
use super::{opt_time, resolve_db, time, Ctx};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// A new key; prints it once. With `--database`, the key sees only those databases.
    Create {
        #[arg(long)]
        label: String,
        /// Limit the key to this database (name or id); repeat for more.
        #[arg(long = "database", value_name = "DB")]
        databases: Vec<String>,
    },
    /// The keys (metadata only; secrets are never shown again).
    #[command(alias = "ls")]
    List,
    /// A new secret for a key (same label and scope); the old one stops working at once.
    Replace { key_id: String },
    /// Revoke a key, at once.
    #[command(alias = "rm")]
    Revoke { key_id: String },
}

pub async fn run(ctx: &Ctx, command: KeysCommand) -> Outcome {
    match command {
        KeysCommand::Create { label, databases } => {
            let body = if databases.is_empty() {
                CreateKey { label, scope: None, database_ids: None }
            } else {
                let mut ids = Vec::new();
                for d in &databases {
                    ids.push(resolve_db(ctx, d).await?);
                }
                CreateKey { label, scope: Some("selected".into()), database_ids: Some(ids) }
            };
            let r = ctx.client.create_key(&body).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            print_secret(&r.data)
        }
        KeysCommand::List => {
            let r = ctx.client.keys().await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t = Table::new(&["ID", "PREFIX", "LABEL", "SCOPE", "DATABASES", "CREATED", "LAST USED"]);
            for k in &r.data {
                t.row(vec![
                    k.id.clone(),
                    k.prefix.clone(),
                    k.label.clone(),
                    k.scope.clone(),
                    k.database_ids.join(","),
                    time(&k.created_at),
                    opt_time(&k.last_used_at),
                ]);
            }
            t.print()
        }
        KeysCommand::Replace { key_id } => {
            let r = ctx.client.replace_key(&key_id).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            print_secret(&r.data)
        }
        KeysCommand::Revoke { key_id } => {
            ctx.client.revoke_key(&key_id).await?;
            ctx.say(format!("revoked key {}", output::clean(&key_id)));
            Ok(())
        }
    }
}

fn print_secret(k: &KeyWithSecret) -> Outcome {
    output::fields(&[
        ("id", k.meta.id.clone()),
        ("label", k.meta.label.clone()),
        ("scope", k.meta.scope.clone()),
        ("databases", k.meta.database_ids.join(",")),
        ("key", k.key.clone()),
    ])?;
    eprintln!("the key is shown this once; store it now");
    Ok(())
}
