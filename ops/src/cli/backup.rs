//! `berth backup …`, `berth restore`, `berth branch`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use client::wire::{BackupView, CreateBackup, RestoreBackup};

use super::db::finish_new;
use super::output::{self, Failure, Outcome, Table};
use super::{follow_operation, opt_time, resolve_db, time, Ctx, WaitArgs};

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Back a database up now (pg_dump, gzip, to the object store).
    Create {
        db: String,
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// A database's backups, newest first.
    #[command(alias = "ls")]
    List { db: String },
    /// Download a backup's `.sql.gz`.
    Download {
        db: String,
        backup_id: String,
        /// Where to write it (default `<backup_id>.sql.gz`; `-` for stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Restore a backup into a scratch database and check it (the backup is kept).
    Verify {
        db: String,
        backup_id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete a backup and its object.
    #[command(alias = "rm")]
    Delete { db: String, backup_id: String },
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The database the backup belongs to (name or id).
    pub db: String,
    /// The backup (`bkp_…`).
    #[arg(long = "backup", value_name = "BACKUP_ID")]
    pub backup_id: String,
    /// The new database's name.
    #[arg(long = "name", value_name = "NEW_NAME")]
    pub target_name: String,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Args)]
pub struct BranchArgs {
    /// The database to copy (name or id).
    pub db: String,
    /// The new database's name.
    #[arg(long, value_name = "NEW_NAME")]
    pub name: String,
    #[command(flatten)]
    pub wait: WaitArgs,
}

pub async fn run(ctx: &Ctx, command: BackupCommand) -> Outcome {
    match command {
        BackupCommand::Create { db, label, wait } => {
            let id = resolve_db(ctx, &db).await?;
            let b = ctx.client.create_backup(&id, &CreateBackup { label }).await?;
            follow_operation(ctx, &format!("backing up {}", output::clean(&db)), &b.operation_id, wait).await?;
            if ctx.json {
                return output::json(&b.raw);
            }
            if wait.no_wait {
                println!("backup {} requested", b.id);
                return Ok(());
            }
            print_backup(&ctx.client.backup(&id, &b.id).await?.data)
        }
        BackupCommand::List { db } => {
            let r = ctx.client.backups(&resolve_db(ctx, &db).await?).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t = Table::new(&["ID", "STATE", "TRIGGER", "LABEL", "SIZE", "CREATED", "FINISHED", "VERIFIED"]);
            for b in &r.data {
                t.row(vec![
                    b.id.clone(),
                    b.state.clone(),
                    b.trigger.clone(),
                    output::opt(&b.label),
                    b.size_bytes.map(output::bytes).unwrap_or_default(),
                    time(&b.created_at),
                    opt_time(&b.finished_at),
                    verified(b),
                ]);
            }
            t.print()
        }
        BackupCommand::Download { db, backup_id, output: out } => download(ctx, &db, &backup_id, out).await,
        BackupCommand::Verify { db, backup_id, wait } => {
            let id = resolve_db(ctx, &db).await?;
            let b = ctx.client.verify_backup(&id, &backup_id).await?;
            follow_operation(ctx, &format!("verifying backup {}", b.id), &b.operation_id, wait).await?;
            if ctx.json {
                return output::json(&b.raw);
            }
            if wait.no_wait {
                println!("verification of {} requested", b.id);
                return Ok(());
            }
            let after = ctx.client.backup(&id, &b.id).await?;
            println!("backup {}: {}", after.id, verified(&after.data));
            Ok(())
        }
        BackupCommand::Delete { db, backup_id } => {
            let b = ctx.client.delete_backup(&resolve_db(ctx, &db).await?, &backup_id).await?;
            if ctx.json {
                return output::json(&b.raw);
            }
            println!("deleted backup {}", b.id);
            Ok(())
        }
    }
}

fn verified(b: &BackupView) -> String {
    match (b.verified_ok, &b.verified_at) {
        (Some(true), Some(at)) => format!("ok {}", time(at)),
        (Some(false), Some(at)) => format!("FAILED {}", time(at)),
        _ => String::new(),
    }
}

fn print_backup(b: &BackupView) -> Outcome {
    output::fields(&[
        ("id", b.id.clone()),
        ("database", b.database_id.clone()),
        ("state", b.state.clone()),
        ("label", output::opt(&b.label)),
        ("object", output::opt(&b.object_key)),
        ("size", b.size_bytes.map(output::bytes).unwrap_or_default()),
        ("sha256", output::opt(&b.sha256)),
        ("finished", opt_time(&b.finished_at)),
        ("error", output::opt(&b.error)),
    ])
}

async fn download(ctx: &Ctx, db: &str, backup_id: &str, out: Option<PathBuf>) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let to_stdout = out.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if to_stdout {
        if std::io::stdout().is_terminal() {
            return Err(Failure::Usage("not writing gzip data to a terminal: use -o FILE or a pipe".into()));
        }
        let mut stdout = tokio::io::stdout();
        let (n, _) = ctx.client.download_backup(&id, backup_id, &mut stdout).await?;
        eprintln!("wrote {} to stdout", output::bytes(n as i64));
        return Ok(());
    }
    let path = out.unwrap_or_else(|| PathBuf::from(format!("{backup_id}.sql.gz")));
    // Written beside the target, renamed over it once complete: no half file under its name.
    let tmp = path.with_extension("part");
    let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
    let result = ctx.client.download_backup(&id, backup_id, &mut file).await;
    drop(file);
    let (n, sha) = match result {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if ctx.json {
        let v = serde_json::json!({ "path": path.display().to_string(), "bytes": n, "sha256": sha });
        return output::json_value(&v);
    }
    println!("wrote {} ({}) sha256 {}", path.display(), output::bytes(n as i64), sha.as_deref().unwrap_or("-"));
    Ok(())
}

pub async fn restore(ctx: &Ctx, a: RestoreArgs) -> Outcome {
    let id = resolve_db(ctx, &a.db).await?;
    let body = RestoreBackup { backup_id: a.backup_id, target_name: a.target_name };
    let created = ctx.client.restore(&id, &body).await?;
    let what = format!("restoring {} into {}", body.backup_id, output::clean(&body.target_name));
    finish_new(ctx, created, &what, a.wait).await
}

pub async fn branch(ctx: &Ctx, a: BranchArgs) -> Outcome {
    let id = resolve_db(ctx, &a.db).await?;
    let created = ctx.client.branch(&id, &a.name).await?;
    let what = format!("branching {} into {}", output::clean(&a.db), output::clean(&a.name));
    finish_new(ctx, created, &what, a.wait).await
}
