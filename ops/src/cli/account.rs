//! `berth login`, `berth logout`, `berth me`.

use std::io::{BufRead, IsTerminal};

use clap::Args;
use client::Client;

use super::output::{self, Failure, Outcome};
use super::{creds, Ctx};

#[derive(Args)]
pub struct LoginArgs {
    /// The API key (`brth_…`); `-` reads it from stdin. Without it: BERTH_API_KEY.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// The API's URL (default: BERTH_URL, else the stored one, else http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

pub async fn login(args: LoginArgs, json: bool) -> Outcome {
    let key = match args.api_key.as_deref() {
        Some("-") => read_key_from_stdin()?,
        Some(k) => k.trim().to_owned(),
        None => std::env::var("BERTH_API_KEY").ok().filter(|k| !k.is_empty()).ok_or_else(|| {
            Failure::Usage(
                "login needs --api-key KEY (or `--api-key -` to read it from stdin, or BERTH_API_KEY)".into(),
            )
        })?,
    };
    if key.is_empty() {
        return Err(Failure::Usage("the API key is empty".into()));
    }
    let url = match args.url {
        Some(u) => u,
        None => creds::resolve()?.url,
    };
    let client = Client::new(&url, Some(&key)).map_err(|e| Failure::Usage(e.to_string()))?;
    // Checked before it is stored: a wrong key or URL fails here, not on the next command.
    let me = client.me().await?;
    let path = creds::save(&creds::Credentials { url: Some(client.url().to_owned()), api_key: Some(key) })?;
    if json {
        return output::json(&me.raw);
    }
    let who = me.email.clone().unwrap_or_else(|| me.user_id.clone());
    println!("logged in to {} as {} (account {}, plan {})", client.url(), output::clean(&who), me.account_id, me.plan);
    eprintln!("credentials stored in {} (mode 0600)", path.display());
    Ok(())
}

fn read_key_from_stdin() -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("API key: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

#[derive(Args)]
pub struct CaArgs {
    /// Write it to this file instead of standard output.
    #[arg(long, value_name = "FILE", conflicts_with = "install")]
    pub out: Option<std::path::PathBuf>,
    /// Save it as ~/.postgresql/root.crt, where libpq looks for `sslmode=verify-full`
    /// (refuses to replace a different file there).
    #[arg(long)]
    pub install: bool,
}

/// `berth ca`: the platform CA's certificate, from the API named by the stored credentials
/// or BERTH_URL (no key needed).
pub async fn ca(args: CaArgs) -> Outcome {
    let url = creds::resolve()?.url;
    let client = Client::new(&url, None).map_err(|e| Failure::Usage(e.to_string()))?;
    let pem = client.ca_pem().await?;
    let target = match (args.out, args.install) {
        (Some(path), _) => path,
        (None, true) => {
            let home = std::env::var_os("HOME").ok_or_else(|| Failure::Usage("--install needs HOME".into()))?;
            let dir = std::path::PathBuf::from(home).join(".postgresql");
            std::fs::create_dir_all(&dir).map_err(|e| Failure::Other(e.into()))?;
            let path = dir.join("root.crt");
            match std::fs::read_to_string(&path) {
                Ok(existing) if existing != pem => {
                    return Err(Failure::Usage(format!(
                        "{} holds other certificates; add this one to it by hand (`berth ca >> {}`)",
                        path.display(),
                        path.display()
                    )))
                }
                _ => path,
            }
        }
        (None, false) => {
            print!("{pem}");
            return Ok(());
        }
    };
    std::fs::write(&target, &pem).map_err(|e| Failure::Other(anyhow::anyhow!("writing {}: {e}", target.display())))?;
    eprintln!("the platform CA's certificate is in {}", target.display());
    Ok(())
}

pub fn logout() -> Outcome {
    let path = creds::credentials_path()?;
    if creds::remove()? {
        println!("logged out: removed {}", path.display());
    } else {
        println!("not logged in (no {})", path.display());
    }
    if std::env::var_os("BERTH_API_KEY").is_some() {
        eprintln!("note: BERTH_API_KEY is still set in this environment");
    }
    Ok(())
}

pub async fn me(ctx: &Ctx) -> Outcome {
    let me = ctx.client.me().await?;
    if ctx.json {
        return output::json(&me.raw);
    }
    let q = &me.quotas;
    let u = &me.usage;
    output::fields(&[
        ("url", ctx.client.url().to_owned()),
        ("user", me.user_id.clone()),
        ("email", output::opt(&me.email)),
        ("platform role", me.platform_role.clone()),
        ("account", me.account_id.clone()),
        ("plan", me.plan.clone()),
        ("databases", format!("{} of {}", u.databases, q.databases)),
        ("storage", format!("{:.1} MB of {} MB", u.storage_mb, q.storage_mb)),
        ("connections per db", q.connection_limit.to_string()),
        ("users per db", q.database_users.to_string()),
    ])
}
