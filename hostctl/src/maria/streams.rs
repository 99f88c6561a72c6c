//! Tenant data on a MariaDB host, always as the tenant's own login on the server's socket:
//! `mariadb-dump --single-transaction` through gzip into the object store, the object through
//! gunzip into the `mariadb` client, one piped into the other for a branch, and each table's
//! row count and checksum. Passwords travel in the child's environment (`MYSQL_PWD`), never
//! on its command line; `--no-defaults` keeps option files out.

use std::process::{Command, Stdio};
use std::time::Duration;

use domain::TableStats;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::definer::StripDefiners;
use super::{ident, maria_error, MariaHost, LOCK_WAIT_SECONDS};
use crate::dump::{self, DumpOutcome, Sink};
use crate::engine::Streams;
use crate::host::HostError;
use crate::tenant::TenantLogin;

fn strip_definers(stdin: std::process::ChildStdin) -> Sink {
    Box::new(StripDefiners::new(stdin))
}

fn past(what: &str) -> HostError {
    HostError::Transient(format!("{what} ran past the job's deadline and was stopped"))
}

impl MariaHost {
    /// A session of `login` in database `db`, its statements bounded by `deadline`.
    pub(crate) async fn tenant_session(
        &self,
        db: &str,
        login: &TenantLogin,
        deadline: Duration,
    ) -> Result<Conn, HostError> {
        let seconds = deadline.as_secs().max(1);
        let opts = mysql_async::OptsBuilder::default()
            .socket(Some(self.socket().to_owned()))
            .user(Some(login.role().to_owned()))
            .pass(Some(login.password().to_owned()))
            .db_name(Some(db.to_owned()))
            .init(vec![format!("SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}, max_statement_time = {seconds}")]);
        tokio::time::timeout(Duration::from_secs(10), Conn::new(opts))
            .await
            .map_err(|_| HostError::Transient("mariadb: no tenant session within 10 s".into()))?
            .map_err(maria_error)
    }

    /// A client tool (`mariadb-dump`, `mariadb`) as `login`, on the socket.
    fn tool(&self, name: &str, login: &TenantLogin) -> Command {
        let mut cmd = Command::new(name);
        for var in ["MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT", "MYSQL_HISTFILE"] {
            cmd.env_remove(var);
        }
        cmd.env("MYSQL_PWD", login.password());
        cmd.arg("--no-defaults").arg(format!("--socket={}", self.socket())).arg(format!("--user={}", login.role()));
        cmd.stdin(Stdio::null());
        cmd
    }

    /// What dumps `db`: its tables, views and triggers as `login`, then its stored routines
    /// read by the platform's account. MariaDB shows a routine's text only to its definer
    /// (the tenant's network account, `'x'@'%'`, not our socket one) or to whoever may read
    /// `mysql.proc`; reading a definition runs nothing of the tenant's. No `--events`: with
    /// the event scheduler disabled a tenant can make none (and `SHOW EVENTS` fails).
    fn dump_tools(&self, db: &str, login: &TenantLogin) -> Vec<dump::Tool> {
        let mut data = self.tool("mariadb-dump", login);
        data.args(["--single-transaction", "--skip-routines", "--triggers", "--hex-blob", "--no-tablespaces"]);
        data.args(["--skip-dump-date", "--skip-lock-tables", db]);
        let admin = TenantLogin::platform(&self.spec.superuser, self.admin_password().to_owned());
        let mut routines = self.tool("mariadb-dump", &admin);
        routines.args(["--routines", "--no-create-info", "--no-data", "--skip-triggers", "--skip-lock-tables"]);
        routines.args(["--skip-dump-date", "--no-tablespaces", db]);
        vec![(data, "mariadb-dump"), (routines, "mariadb-dump --routines")]
    }

    fn load_command(&self, db: &str, login: &TenantLogin) -> Command {
        let mut cmd = self.tool("mariadb", login);
        cmd.arg("--batch").arg("--binary-mode").arg(format!("--database={db}"));
        cmd.arg(format!("--init-command=SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}"));
        cmd.stdout(Stdio::null());
        cmd
    }

    /// Backs `db` up into `key` as `login`, with its tables' stats read in a consistent
    /// snapshot taken just before the dump's own (MariaDB cannot share one snapshot between
    /// two sessions; the README says what that means for writes during a backup).
    pub(crate) async fn backup_to(
        &self,
        db: &str,
        login: &TenantLogin,
        streams: Streams<'_>,
        key: &str,
    ) -> Result<(DumpOutcome, Vec<TableStats>), HostError> {
        let work = async {
            let mut session = self.tenant_session(db, login, streams.deadline).await?;
            session.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY").await.map_err(maria_error)?;
            let dumped = dump::command_to_object(self.dump_tools(db, login), streams.objects, key, streams.level);
            let (dumped, stats) = tokio::join!(dumped, table_stats(&mut session, db));
            let _ = session.query_drop("ROLLBACK").await;
            match (dumped, stats) {
                (Ok(dump), Ok(tables)) => Ok((dump, tables)),
                (Ok(_), Err(e)) => {
                    streams.objects.delete(key).await.map_err(crate::objects::store_error)?;
                    Err(e)
                }
                (Err(e), _) => Err(e),
            }
        };
        tokio::time::timeout(streams.deadline, work).await.map_err(|_| past("mariadb-dump"))?
    }

    pub(crate) async fn restore_into(
        &self,
        db: &str,
        login: &TenantLogin,
        streams: Streams<'_>,
        key: &str,
        sha256: &str,
    ) -> Result<(), HostError> {
        let load = (self.load_command(db, login), strip_definers as dump::SinkFilter);
        let work = dump::object_into_command(load, "mariadb", streams.objects, key, sha256, "");
        tokio::time::timeout(streams.deadline, work).await.map_err(|_| past("mariadb"))?.map(|_| ())
    }

    pub(crate) async fn copy_between(
        &self,
        from: (&str, &TenantLogin),
        into: (&str, &TenantLogin),
        deadline: Duration,
    ) -> Result<(), HostError> {
        let work = dump::pipe(
            self.dump_tools(from.0, from.1),
            (self.load_command(into.0, into.1), "mariadb"),
            strip_definers,
            "",
        );
        tokio::time::timeout(deadline, work).await.map_err(|_| past("mariadb-dump | mariadb"))?
    }

    pub(crate) async fn stats_of(
        &self,
        db: &str,
        login: &TenantLogin,
        deadline: Duration,
    ) -> Result<Vec<TableStats>, HostError> {
        let work = async {
            let mut session = self.tenant_session(db, login, deadline).await?;
            session.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY").await.map_err(maria_error)?;
            table_stats(&mut session, db).await
        };
        tokio::time::timeout(deadline, work).await.map_err(|_| past("reading table checksums"))?
    }
}

/// Each base table's row count and checksum, in the session's transaction: the count and
/// the sum of every row's CRC32 over all its columns (`QUOTE` tells NULL from 'NULL'), so
/// row order does not matter and a duplicated row still counts.
async fn table_stats(session: &mut Conn, db: &str) -> Result<Vec<TableStats>, HostError> {
    let tables: Vec<String> = session
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'
             ORDER BY TABLE_NAME",
            (db,),
        )
        .await
        .map_err(maria_error)?;
    let mut out = Vec::with_capacity(tables.len());
    for table in tables {
        let columns: Vec<String> = session
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
                 ORDER BY ORDINAL_POSITION",
                (db, &table),
            )
            .await
            .map_err(maria_error)?;
        let row = columns.iter().map(|c| format!("QUOTE({})", ident(c))).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS(',', {row}))), 0) FROM {}", ident(&table));
        let (rows, sum): (i64, String) = session
            .query_first(sql)
            .await
            .map_err(maria_error)?
            .ok_or_else(|| HostError::Transient("no checksum row".into()))?;
        out.push(TableStats { table: ident(&table), rows, checksum: format!("crc32sum:{sum}") });
    }
    Ok(out)
}
