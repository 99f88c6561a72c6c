//! `berth db collaborators …`: who a database is shared with, and as what.

use clap::Subcommand;
use client::wire::AddCollaborator;

use super::output::{self, Outcome, Table};
use super::{resolve_db, time, Ctx};

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
