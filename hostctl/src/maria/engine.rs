//! [`TenantEngine`] for a MariaDB host: each method maps to the steps in this module tree.

use std::time::Duration;

use domain::{DatabaseId, DatabaseName, TenantHost};
use mysql_async::prelude::Queryable;

use super::{ident, maria_error, MariaHost, META_DATABASE};
use crate::engine::{BackupTaken, LifecycleStep, Streams, TenantEngine};
use crate::host::{marker, HostError, RoleLimits};
use crate::inspect::{ColumnInfo, DatabaseMetrics, SchemaInfo, TableInfo, ViewInfo};
use crate::sync::{BouncerState, SyncRequest};
use crate::users::user_marker;
use crate::TenantLogin;

/// A scratch database's account: only the platform reaches the socket.
const SCRATCH_HOST: &str = super::accounts::SOCKET_HOST;

#[async_trait::async_trait]
impl TenantEngine for MariaHost {
    fn host(&self) -> &TenantHost {
        &self.spec
    }

    async fn ping(&self) -> Result<(), HostError> {
        self.admin().await?.query_drop("SELECT 1").await.map_err(maria_error)
    }

    async fn facts(&self) -> Result<crate::engine::HostFacts, HostError> {
        let row: Option<(String, String)> =
            self.admin().await?.query_first("SELECT VERSION(), @@datadir").await.map_err(maria_error)?;
        let (version, dir) = row.unwrap_or_default();
        Ok(crate::engine::HostFacts::new(version, dir))
    }

    async fn verify_login(&self, name: &DatabaseName, password: String) -> Result<(), HostError> {
        // The login's socket account: the same password hash as its network accounts.
        let opts = mysql_async::OptsBuilder::default()
            .socket(Some(self.socket().to_owned()))
            .user(Some(name.as_str().to_owned()))
            .pass(Some(password))
            .db_name(Some(name.as_str().to_owned()));
        let conn = tokio::time::timeout(Duration::from_secs(5), mysql_async::Conn::new(opts))
            .await
            .map_err(|_| HostError::Transient("login to mariadb timed out".into()))?
            .map_err(|e| HostError::Transient(format!("login to mariadb failed: {e}")))?;
        let mut conn = conn;
        conn.query_drop("SELECT 1").await.map_err(maria_error)?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    async fn create_owner(
        &self,
        id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError> {
        self.ensure_login(name.as_str(), name, &marker(id), true, verifier, limits.connection_limit).await
    }

    async fn create_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.create_database_named(name.as_str()).await
    }

    async fn restrict_database(&self, _name: &DatabaseName) -> Result<(), HostError> {
        // Nobody reaches a MariaDB database without a grant on it, and only its logins
        // have one.
        Ok(())
    }

    async fn disconnect_clients(&self, name: &DatabaseName) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        super::accounts::kill_sessions_in(&mut conn, name.as_str()).await
    }

    async fn drop_database(&self, id: DatabaseId, name: &DatabaseName) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        let owner: Option<String> = conn
            .exec_first(format!("SELECT marker FROM {}.logins WHERE login = ?", ident(META_DATABASE)), (name.as_str(),))
            .await
            .map_err(maria_error)?;
        match owner {
            Some(m) if m != marker(id) => {
                return Err(HostError::Permanent(format!("database {name} on the host is not ours; not dropping")))
            }
            // Ours, or its login is gone already (a drop that died halfway): the database's
            // name was ours to make.
            _ => {}
        }
        self.set_locked(name.as_str(), true).await?;
        self.drop_database_named(name.as_str()).await?;
        self.drop_users_of(id).await?;
        self.drop_login(name.as_str(), &marker(id)).await?;
        conn.exec_drop(format!("DELETE FROM {}.populated WHERE db = ?", ident(META_DATABASE)), (name.as_str(),))
            .await
            .map_err(maria_error)
    }

    async fn lifecycle(&self, name: &DatabaseName, step: LifecycleStep) -> Result<(), HostError> {
        match step {
            LifecycleStep::CloseFrontDoor | LifecycleStep::BlockConnections => {
                self.set_locked(name.as_str(), true).await
            }
            LifecycleStep::AllowConnections | LifecycleStep::OpenFrontDoor => {
                self.set_locked(name.as_str(), false).await
            }
            // No pooler holds server connections for it.
            LifecycleStep::BounceFrontDoor => Ok(()),
            LifecycleStep::TerminateSessions => self.disconnect_clients(name).await,
        }
    }

    async fn set_owner_credential(
        &self,
        _id: DatabaseId,
        name: &DatabaseName,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError> {
        self.set_credential(name.as_str(), verifier, limits.connection_limit).await
    }

    async fn ensure_user(
        &self,
        id: DatabaseId,
        db: &DatabaseName,
        login: &str,
        verifier: &str,
        limits: RoleLimits,
    ) -> Result<(), HostError> {
        self.ensure_login(login, db, &user_marker(id), false, verifier, limits.connection_limit).await?;
        self.set_credential(login, verifier, limits.connection_limit).await
    }

    async fn drop_user(
        &self,
        id: DatabaseId,
        _db: &DatabaseName,
        _owner: &TenantLogin,
        login: &str,
    ) -> Result<(), HostError> {
        // MariaDB objects have no owner to hand over: a user's tables stay the database's.
        self.drop_login(login, &user_marker(id)).await
    }

    async fn drop_users_of(&self, id: DatabaseId) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        let marker = user_marker(id);
        let logins: Vec<String> = conn
            .exec(format!("SELECT login FROM {}.logins WHERE marker = ?", ident(META_DATABASE)), (&marker,))
            .await
            .map_err(maria_error)?;
        drop(conn);
        for login in logins {
            self.drop_login(&login, &marker).await?;
        }
        Ok(())
    }

    async fn lock_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.set_locked(name.as_str(), true).await
    }

    fn ask_front_door_sync(&self) -> SyncRequest<'_> {
        crate::sync::request(&self.shared.sync_turn, self.spec.id)
    }

    async fn apply_front_door(&self, state: &BouncerState) -> Result<(), HostError> {
        self.apply_state(state).await
    }

    async fn backup(
        &self,
        name: &DatabaseName,
        owner: &TenantLogin,
        streams: Streams<'_>,
        key: &str,
    ) -> Result<BackupTaken, HostError> {
        let (dump, tables) = self.backup_to(name.as_str(), owner, streams, key).await?;
        Ok(BackupTaken { dump, tables })
    }

    async fn restore(
        &self,
        into: &str,
        login: &TenantLogin,
        streams: Streams<'_>,
        key: &str,
        sha256: &str,
    ) -> Result<(), HostError> {
        self.restore_into(into, login, streams, key, sha256).await
    }

    async fn copy(
        &self,
        from: (&str, &TenantLogin),
        into: (&str, &TenantLogin),
        streams: Streams<'_>,
    ) -> Result<(), HostError> {
        self.copy_between(from, into, streams.deadline).await
    }

    async fn table_stats(
        &self,
        dbname: &str,
        login: &TenantLogin,
        deadline: Duration,
    ) -> Result<Vec<domain::TableStats>, HostError> {
        self.stats_of(dbname, login, deadline).await
    }

    async fn is_populated(&self, name: &DatabaseName) -> Result<bool, HostError> {
        MariaHost::is_populated(self, name).await
    }

    async fn mark_populated(&self, name: &DatabaseName) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        conn.exec_drop(
            format!("INSERT IGNORE INTO {}.populated (db) VALUES (?)", ident(META_DATABASE)),
            (name.as_str(),),
        )
        .await
        .map_err(maria_error)
    }

    async fn recreate_database(&self, name: &DatabaseName) -> Result<(), HostError> {
        self.drop_database_named(name.as_str()).await?;
        self.create_database_named(name.as_str()).await
    }

    async fn create_scratch(&self, scratch: &str, owner: &DatabaseName) -> Result<(), HostError> {
        self.create_database_named(scratch).await?;
        let mut conn = self.admin().await?;
        let who = format!("{}@{}", super::lit(owner.as_str()), super::lit(SCRATCH_HOST));
        conn.query_drop(format!("GRANT ALL PRIVILEGES ON {}.* TO {who}", super::grant_db(scratch)))
            .await
            .map_err(maria_error)
    }

    async fn drop_scratch(&self, scratch: &str) -> Result<(), HostError> {
        self.drop_database_named(scratch).await?;
        let mut conn = self.admin().await?;
        let grantees: Vec<(String, String)> =
            conn.exec("SELECT User, Host FROM mysql.db WHERE Db = ?", (scratch,)).await.map_err(maria_error)?;
        for (user, host) in grantees {
            let sql = format!(
                "REVOKE ALL PRIVILEGES ON {}.* FROM {}@{}",
                super::grant_db(scratch),
                super::lit(&user),
                super::lit(&host)
            );
            conn.query_drop(sql).await.map_err(maria_error)?;
        }
        Ok(())
    }

    async fn sizes(&self, names: &[String]) -> Result<Vec<(String, i64)>, HostError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.admin().await?;
        // The bytes on disk of each table's own InnoDB file (`innodb_file_per_table`; the
        // server takes no other engine): `information_schema.TABLES`' lengths are sampled
        // statistics that lag behind a bulk load by megabytes, which would let a tenant
        // write past its storage quota before anything noticed.
        let files: Vec<(String, i64)> = conn
            .query(
                "SELECT LEFT(NAME, LOCATE('/', NAME) - 1), CAST(SUM(ALLOCATED_SIZE) AS SIGNED)
                 FROM information_schema.INNODB_SYS_TABLESPACES WHERE LOCATE('/', NAME) > 0
                 GROUP BY LEFT(NAME, LOCATE('/', NAME) - 1)",
            )
            .await
            .map_err(maria_error)?;
        let list = names.iter().map(|n| super::lit(n)).collect::<Vec<_>>().join(", ");
        let existing: Vec<String> = conn
            .query(format!("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ({list})"))
            .await
            .map_err(maria_error)?;
        Ok(existing
            .into_iter()
            .map(|name| {
                let on_disk = super::file_name(&name);
                let bytes = files.iter().filter(|(dir, _)| *dir == on_disk).map(|(_, b)| *b).sum();
                (name, bytes)
            })
            .collect())
    }

    async fn metrics(&self, name: &DatabaseName) -> Result<DatabaseMetrics, HostError> {
        let size = self.sizes(&[name.as_str().to_owned()]).await?.first().map_or(0, |(_, s)| *s);
        let mut conn = self.admin().await?;
        let sessions: Option<i64> = conn
            .exec_first(
                format!(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST p JOIN {}.logins l ON l.login = p.USER
                     WHERE l.db = ?",
                    ident(META_DATABASE)
                ),
                (name.as_str(),),
            )
            .await
            .map_err(maria_error)?;
        // MariaDB keeps no per-database transaction or cache counters; those read 0 / none.
        Ok(DatabaseMetrics {
            size_bytes: size,
            active_connections: sessions.unwrap_or(0),
            transactions_committed: 0,
            transactions_rolled_back: 0,
            cache_hit_ratio: None,
            top_statements: None,
        })
    }

    async fn schema(&self, name: &DatabaseName, owner: &TenantLogin) -> Result<SchemaInfo, HostError> {
        let mut session = self.tenant_session(name.as_str(), owner, Duration::from_secs(30)).await?;
        let columns: Vec<(String, String, String, String)> = session
            .exec(
                "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE FROM information_schema.COLUMNS c
                 JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
                 WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'
                 ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
                (name.as_str(),),
            )
            .await
            .map_err(maria_error)?;
        let mut tables: Vec<TableInfo> = Vec::new();
        for (table, column, data_type, nullable) in columns {
            if tables.last().is_none_or(|t| t.name != table) {
                tables.push(TableInfo { schema: name.as_str().to_owned(), name: table, columns: Vec::new() });
            }
            if let Some(t) = tables.last_mut() {
                t.columns.push(ColumnInfo { name: column, data_type, nullable: nullable == "YES" });
            }
        }
        let views: Vec<String> = session
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'VIEW'
                 ORDER BY TABLE_NAME",
                (name.as_str(),),
            )
            .await
            .map_err(maria_error)?;
        let views = views.into_iter().map(|v| ViewInfo { schema: name.as_str().to_owned(), name: v }).collect();
        Ok(SchemaInfo { tables, views })
    }
}
