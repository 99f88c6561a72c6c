//! `berth db migrations list|apply` and `berth db dump`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use client::wire::ApplyMigration;
use sha2::{Digest, Sha256};

use super::output::{self, Failure, Outcome, Table};
use super::{resolve_db, time, Ctx};

#[derive(Subcommand)]
pub enum MigrationsCommand {
    /// The migrations recorded in the database, oldest first.
    #[command(alias = "ls")]
    List { db: String },
    /// Apply each `*.sql` file of DIR in lexical order (name: the file name without `.sql`);
    /// prints `applied` or `already_applied` per file and stops at the first failure.
    Apply { db: String, dir: PathBuf },
}

pub async fn migrations(ctx: &Ctx, command: MigrationsCommand) -> Outcome {
    match command {
        MigrationsCommand::List { db } => {
            let r = ctx.client.migrations(&resolve_db(ctx, &db).await?).await?;
            if ctx.json {
                return output::json(&r.raw);
            }
            let mut t = Table::new(&["NAME", "CHECKSUM", "APPLIED", "BY", "SQL"]);
            for m in &r.data {
                let preview: String = m.sql_preview.chars().take(40).collect();
                t.row(vec![
                    m.name.clone(),
                    m.checksum[..12.min(m.checksum.len())].to_owned(),
                    time(&m.applied_at),
                    m.applied_by.clone(),
                    preview.replace(['\n', '\t', '\r'], " "),
                ]);
            }
            t.print()
        }
        MigrationsCommand::Apply { db, dir } => apply(ctx, &db, &dir).await,
    }
}

/// The `*.sql` files of `dir`, sorted by file name.
fn sql_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".sql")) else {
            continue;
        };
        if path.is_file() {
            files.push((name.to_owned(), path.clone()));
        }
    }
    files.sort();
    Ok(files)
}

async fn apply(ctx: &Ctx, db: &str, dir: &Path) -> Outcome {
    let files = sql_files(dir)?;
    if files.is_empty() {
        return Err(Failure::Usage(format!("no *.sql files in {}", dir.display())));
    }
    let id = resolve_db(ctx, db).await?;
    let mut results = Vec::new();
    for (name, path) in files {
        let sql = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        let body = ApplyMigration { name: name.clone(), sql, checksum: Some(checksum) };
        let r = match ctx.client.apply_migration(&id, &body).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{}: failed", output::clean(&name));
                return Err(e.into());
            }
        };
        if ctx.json {
            results.push(serde_json::to_value(&r.data).map_err(anyhow::Error::from)?);
        } else {
            println!("{}: {}", output::clean(&name), r.data.status);
        }
    }
    if ctx.json {
        return output::json_value(&serde_json::Value::Array(results));
    }
    Ok(())
}

/// `berth db dump`: to stdout, or to FILE (written beside it and renamed once complete).
pub async fn dump(ctx: &Ctx, db: &str, ddl_only: bool, out: Option<PathBuf>) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let Some(path) = out.filter(|p| p.as_os_str() != "-") else {
        let mut stdout = tokio::io::stdout();
        ctx.client.dump(&id, ddl_only, &mut stdout).await?;
        return Ok(());
    };
    let tmp = path.with_extension("part");
    let mut file = tokio::fs::File::create(&tmp).await.map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
    let result = ctx.client.dump(&id, ddl_only, &mut file).await;
    drop(file);
    let n = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if ctx.json {
        return output::json_value(&serde_json::json!({ "path": path.display().to_string(), "bytes": n }));
    }
    eprintln!("wrote {} ({})", path.display(), output::bytes(n as i64));
    Ok(())
}
