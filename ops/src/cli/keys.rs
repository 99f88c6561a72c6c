//! `berth keys …`: the account's API keys. A key's secret is printed only by create and
//! replace, the one time the API returns it.

use clap::Subcommand;
use client::wire::{CreateKey, KeyDatabase, KeyView, KeyWithSecret};

use super::output::{self, Failure, Outcome, Table};
use super::{opt_time, resolve_db, time, Ctx};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// A new key; prints it once. With `--database`, the key sees only those databases.
    Create {
        #[arg(long)]
        label: String,
        /// Limit the key to this database (name or id); repeat for more. `DB:ro` reaches it
        /// read-only (view, credentials, backups, read-only SQL); `DB` or `DB:rw` with the
        /// role you have there.
        #[arg(long = "database", value_name = "DB[:ro|:rw]")]
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
                CreateKey { label, scope: None, database_ids: None, databases: None }
            } else {
                let mut grants = Vec::new();
                for d in &databases {
                    let (db, access) = access_of(d)?;
                    grants.push(KeyDatabase { id: resolve_db(ctx, db).await?, access: access.into() });
                }
                CreateKey { label, scope: Some("selected".into()), database_ids: None, databases: Some(grants) }
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
                    databases(k),
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
        ("databases", databases(&k.meta)),
        ("key", k.key.clone()),
    ])?;
    eprintln!("the key is shown this once; store it now");
    Ok(())
}

/// `DB`, `DB:rw` or `DB:ro` (database names and ids never hold a colon).
fn access_of(arg: &str) -> Result<(&str, &'static str), Failure> {
    match arg.rsplit_once(':') {
        None => Ok((arg, "rw")),
        Some((db, "rw")) => Ok((db, "rw")),
        Some((db, "ro")) => Ok((db, "ro")),
        Some(_) => Err(Failure::Usage(format!("--database {}: the access is `ro` or `rw`", output::clean(arg)))),
    }
}

/// A key's databases with its access to each (`db_…:ro`, `db_…:rw`).
fn databases(k: &KeyView) -> String {
    if k.databases.is_empty() {
        return k.database_ids.join(",");
    }
    k.databases.iter().map(|d| format!("{}:{}", d.id, d.access)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_arguments_carry_their_access() {
        assert_eq!(super::access_of("shop").ok(), Some(("shop", "rw")));
        assert_eq!(super::access_of("shop:rw").ok(), Some(("shop", "rw")));
        assert_eq!(
            super::access_of("db_01J0000000000000000000000A:ro").ok(),
            Some(("db_01J0000000000000000000000A", "ro"))
        );
        assert!(super::access_of("shop:admin").is_err());
    }
}
