//! Stopping, starting and restarting one tenant database on its host, on both layers:
//! PgBouncer (DISABLE/ENABLE, KILL/RESUME on the admin console) and PostgreSQL
//! (`ALLOW_CONNECTIONS`, terminating backends). Each step reads the current state first, so
//! a re-run after a kill between any two steps converges.

use domain::DatabaseName;

use crate::host::{HostConn, HostError};

/// A pool as PgBouncer's `SHOW DATABASES` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStatus {
    pub name: String,
    pub paused: bool,
    pub disabled: bool,
}

pub async fn pool_statuses(admin: &tokio_postgres::Client) -> Result<Vec<PoolStatus>, HostError> {
    let mut out = Vec::new();
    for msg in admin.simple_query("SHOW DATABASES").await? {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
            let flag = |col: &str| row.get(col).is_some_and(|v| v != "0");
            if let Some(name) = row.get("name") {
                out.push(PoolStatus { name: name.to_owned(), paused: flag("paused"), disabled: flag("disabled") });
            }
        }
    }
    Ok(out)
}

/// The console quotes like SQL; a `DatabaseName` cannot contain a quote anyway.
fn console_name(name: &DatabaseName) -> String {
    format!("\"{}\"", name.as_str())
}

impl HostConn {
    async fn pool_status(&self, admin: &tokio_postgres::Client, name: &DatabaseName) -> Result<PoolStatus, HostError> {
        pool_statuses(admin)
            .await?
            .into_iter()
            .find(|p| p.name == name.as_str())
            .ok_or_else(|| HostError::Transient(format!("pgbouncer does not serve pool {name}")))
    }

    /// PgBouncer refuses new clients of the pool (DISABLE) and ends the ones it has (KILL).
    /// KILL also pauses the pool; DISABLE is what refuses logins, with PgBouncer's message
    /// "database does not allow connections".
    pub async fn close_pool(&self, name: &DatabaseName) -> Result<(), HostError> {
        let admin = self.admin().await?;
        let status = self.pool_status(&admin, name).await?;
        if !status.disabled {
            admin.simple_query(&format!("DISABLE {}", console_name(name))).await?;
        }
        // KILL always: a client may have slipped in between an earlier run's DISABLE and a kill.
        admin.simple_query(&format!("KILL {}", console_name(name))).await?;
        Ok(())
    }

    /// The reverse of [`close_pool`]: ENABLE, and RESUME if a KILL left the pool paused.
    pub async fn open_pool(&self, name: &DatabaseName) -> Result<(), HostError> {
        let admin = self.admin().await?;
        let status = self.pool_status(&admin, name).await?;
        if status.disabled {
            admin.simple_query(&format!("ENABLE {}", console_name(name))).await?;
        }
        if status.paused {
            admin.simple_query(&format!("RESUME {}", console_name(name))).await?;
        }
        Ok(())
    }

    /// Ends every client and server connection of the pool at once and lets new ones in:
    /// KILL then RESUME. (RECONNECT would wait for each server connection to be released,
    /// which in session pooling is when its client leaves: a restart that changes nothing
    /// for a connected client.)
    pub async fn bounce_pool(&self, name: &DatabaseName) -> Result<(), HostError> {
        let admin = self.admin().await?;
        admin.simple_query(&format!("KILL {}", console_name(name))).await?;
        if self.pool_status(&admin, name).await?.paused {
            admin.simple_query(&format!("RESUME {}", console_name(name))).await?;
        }
        Ok(())
    }

    /// PostgreSQL itself refuses connections to the database (direct ones too) and its
    /// current sessions end.
    pub async fn block_connections(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.set_allow_connections(name, false).await?;
        self.terminate_backends(name).await
    }

    pub async fn allow_connections(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.set_allow_connections(name, true).await
    }

    async fn set_allow_connections(&self, name: &DatabaseName, allow: bool) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        let current: Option<bool> = client
            .query_opt("select datallowconn from pg_database where datname = $1", &[&name.as_str()])
            .await?
            .map(|r| r.get(0));
        match current {
            None => Err(HostError::Permanent(format!("database {name} does not exist on the host"))),
            Some(c) if c == allow => Ok(()),
            Some(_) => {
                client.batch_execute(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS {allow}", name.quoted())).await?;
                Ok(())
            }
        }
    }

    /// Ends the database's sessions on PostgreSQL (ours excluded).
    pub async fn terminate_backends(&self, name: &DatabaseName) -> Result<(), HostError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "select pg_terminate_backend(pid) from pg_stat_activity
                 where datname = $1 and pid <> pg_backend_pid()",
                &[&name.as_str()],
            )
            .await?;
        Ok(())
    }
}
