//! One database's connection as a test uses it, whatever its engine: PostgreSQL through
//! tokio-postgres (and `psql`) via PgBouncer, MariaDB through Debian's `mariadb` client and
//! `mysql_async`. The suites of `tests/it` that are about databases, lifecycle,
//! credentials, users, allowlists and backups run each scenario for both engines through
//! [`each_engine!`](crate::each_engine).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{json, Value};

use crate::maria::{self, MysqlUrl};
use crate::{app, connect, error_text, eventually, Api};

/// A database engine the test platform runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    MariaDb,
}

impl Engine {
    /// The name the API uses (`"engine"` in requests and answers).
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::MariaDb => "mariadb",
        }
    }

    /// The connection string's scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Engine::Postgres => "postgresql://",
            Engine::MariaDb => "mysql://",
        }
    }

    /// The port users connect to: PgBouncer's, or the MariaDB server's.
    pub fn user_port(self) -> u16 {
        match self {
            Engine::Postgres => app().platform.host.bouncer.port(),
            Engine::MariaDb => maria_host().0.port(),
        }
    }

    /// The tenant host of this engine.
    pub fn host_id(self) -> domain::HostId {
        match self {
            Engine::Postgres => app().host_id,
            Engine::MariaDb => maria_host().1,
        }
    }

    /// What a login with a wrong password is told.
    pub fn bad_password(self) -> &'static str {
        match self {
            Engine::Postgres => "authentication failed",
            Engine::MariaDb => "Access denied",
        }
    }

    /// What a login to a stopped database is told.
    pub fn stopped(self) -> &'static str {
        match self {
            Engine::Postgres => "is disabled",
            Engine::MariaDb => "account is locked",
        }
    }

    /// SQL for the session's own server-side id.
    pub fn session_id_sql(self) -> &'static str {
        match self {
            Engine::Postgres => "SELECT pg_backend_pid()::text",
            Engine::MariaDb => "SELECT CONNECTION_ID()",
        }
    }
}

/// The test platform's MariaDB server and its host id.
pub fn maria_host() -> (&'static ops::local::MariaServer, domain::HostId) {
    app().maria.expect("the test platform runs a MariaDB server")
}

/// A connection string of `engine`, as a test uses it.
#[derive(Clone, Debug)]
pub struct Conn {
    pub engine: Engine,
    pub url: String,
}

impl Conn {
    pub fn new(engine: Engine, url: &str) -> Self {
        Self { engine, url: url.to_owned() }
    }

    /// Runs `sql` (statements separated by `;`) in a new session; the first column of each
    /// row, one per line. Err is what the server said.
    pub async fn sql(&self, sql: &str) -> Result<String, String> {
        match self.engine {
            Engine::MariaDb => maria::query(&MysqlUrl::parse(&self.url), sql).await,
            Engine::Postgres => {
                let client = connect(&self.url).await.map_err(|e| error_text(&e))?;
                let rows = client.simple_query(sql).await.map_err(|e| error_text(&e))?;
                Ok(first_column(&rows))
            }
        }
    }

    pub async fn count(&self, table: &str) -> i64 {
        let out = self.sql(&format!("SELECT COUNT(*) FROM {table}")).await.unwrap_or_else(|e| panic!("count: {e}"));
        out.trim().parse().unwrap_or_else(|_| panic!("a count, got {out:?}"))
    }

    /// Waits until a login works (`admitted`) or is refused; the last refusal.
    pub async fn wait_login(&self, admitted: bool) -> Option<String> {
        let what = format!("{:?} login to be {}", self.engine, if admitted { "admitted" } else { "refused" });
        eventually(&what, Duration::from_secs(30), || async {
            let got = self.sql("SELECT 1").await;
            if got.is_ok() == admitted {
                Ok(got.err())
            } else {
                Err(format!("{got:?}"))
            }
        })
        .await
    }

    /// The refusal a login gets now (panics if it is admitted).
    pub async fn login_error(&self) -> String {
        match self.sql("SELECT 1").await {
            Ok(_) => panic!("a login with {} was admitted but should have been refused", self.engine.as_str()),
            Err(e) => e,
        }
    }

    /// The same login with another password.
    pub fn with_password(&self, password: &str) -> Self {
        let (head, tail) = self.url.rsplit_once('@').expect("user:password@");
        let (user, _) = head.rsplit_once(':').expect("user:password");
        Self { engine: self.engine, url: format!("{user}:{password}@{tail}") }
    }

    /// The same login asking for another database.
    pub fn to_database(&self, name: &str) -> Self {
        let (base, _) = self.url.rsplit_once('/').expect("a path");
        Self { engine: self.engine, url: format!("{base}/{name}") }
    }

    /// Logs in from `source` (another loopback address) and runs `SELECT 1`: PostgreSQL
    /// through a socket bound there, MariaDB through a relay bound there.
    pub async fn from(&self, source: &str) -> Result<(), String> {
        let ip: IpAddr = source.parse().expect("an IP address");
        match self.engine {
            Engine::MariaDb => {
                let u = MysqlUrl::parse(&self.url);
                let target: SocketAddr = format!("{}:{}", u.host, u.port).parse().expect("address");
                let port = maria::relay_from(ip, target).await;
                maria::query(&u.via(port), "SELECT 1").await.map(|_| ())
            }
            Engine::Postgres => crate::connect_from(ip, &self.url).await.map(|_| ()),
        }
    }

    /// Waits until a login from `source` is admitted or refused; the last refusal.
    pub async fn wait_from(&self, source: &str, admitted: bool) -> Option<String> {
        let what = format!("a login from {source} to be {}", if admitted { "admitted" } else { "refused" });
        eventually(&what, Duration::from_secs(30), || async {
            let got = self.from(source).await;
            if got.is_ok() == admitted {
                Ok(got.err())
            } else {
                Err(format!("{got:?}"))
            }
        })
        .await
    }

    /// A session kept open across an action.
    pub async fn session(&self) -> Result<Session, String> {
        match self.engine {
            Engine::MariaDb => mysql_async::Conn::new(maria_opts(&MysqlUrl::parse(&self.url)))
                .await
                .map(Session::MariaDb)
                .map_err(|e| e.to_string()),
            Engine::Postgres => connect(&self.url).await.map(Session::Postgres).map_err(|e| error_text(&e)),
        }
    }

    /// [`Conn::session`], waited for (a login the API just said works).
    pub async fn wait_session(&self) -> Session {
        eventually("a session to open", Duration::from_secs(20), || async {
            let mut s = self.session().await?;
            s.query("SELECT 1").await?;
            Ok::<_, String>(s)
        })
        .await
    }

    /// Runs `sql` with the engine's own command-line client (`psql`, `mariadb`): what a user
    /// types. The first column of each row, one per line.
    pub async fn cli(&self, sql: &str) -> Result<String, String> {
        match self.engine {
            Engine::MariaDb => maria::query(&MysqlUrl::parse(&self.url), sql).await,
            Engine::Postgres => {
                let out = tokio::process::Command::new("psql")
                    .arg(&self.url)
                    .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c"])
                    .arg(sql)
                    .output()
                    .await
                    .map_err(|e| format!("running psql: {e}"))?;
                if out.status.success() {
                    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
                } else {
                    Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
                }
            }
        }
    }
}

fn first_column(rows: &[tokio_postgres::SimpleQueryMessage]) -> String {
    let values: Vec<&str> = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("")),
            _ => None,
        })
        .collect();
    values.join("\n")
}

/// `mysql_async` options for a `mysql://` login (over TCP, as a user connects).
pub fn maria_opts(url: &MysqlUrl) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(url.host.clone())
        .tcp_port(url.port)
        .user(Some(url.user.clone()))
        .pass(Some(url.password.clone()))
        .db_name(Some(url.database.clone()))
        .prefer_socket(false)
        .into()
}

/// A session of either engine.
pub enum Session {
    Postgres(tokio_postgres::Client),
    MariaDb(mysql_async::Conn),
}

impl Session {
    pub async fn query(&mut self, sql: &str) -> Result<(), String> {
        use mysql_async::prelude::Queryable;
        match self {
            Session::MariaDb(c) => c.query_drop(sql).await.map_err(|e| e.to_string()),
            Session::Postgres(c) => c.simple_query(sql).await.map(|_| ()).map_err(|e| error_text(&e)),
        }
    }

    /// The first column of the first row, as text.
    pub async fn one(&mut self, sql: &str) -> Result<String, String> {
        use mysql_async::prelude::Queryable;
        match self {
            Session::MariaDb(c) => {
                let got: Option<String> = c.query_first(sql).await.map_err(|e| e.to_string())?;
                got.ok_or_else(|| format!("no row from {sql}"))
            }
            Session::Postgres(c) => {
                let rows = c.simple_query(sql).await.map_err(|e| error_text(&e))?;
                Ok(first_column(&rows))
            }
        }
    }
}

/// The platform's own account on the MariaDB server (through its socket).
pub async fn maria_admin() -> mysql_async::Conn {
    let (server, _) = maria_host();
    let opts = mysql_async::OptsBuilder::default()
        .socket(Some(server.socket().display().to_string()))
        .user(Some(server.admin_user()))
        .pass(Some(server.admin_password()));
    mysql_async::Conn::new(opts).await.expect("the platform's MariaDB account")
}

/// Logins and databases named `name` on `engine`'s host: (logins, databases). A MariaDB
/// login is one whatever the host patterns its accounts carry.
pub async fn host_objects(engine: Engine, name: &str) -> (i64, i64) {
    use mysql_async::prelude::Queryable;
    match engine {
        Engine::Postgres => crate::host_objects(name).await,
        Engine::MariaDb => {
            let mut admin = maria_admin().await;
            let logins: Option<i64> = admin
                .exec_first("SELECT COUNT(DISTINCT User) FROM mysql.user WHERE User = ?", (name,))
                .await
                .expect("mysql.user");
            let dbs: Option<i64> = admin
                .exec_first("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", (name,))
                .await
                .expect("SCHEMATA");
            (logins.unwrap_or(0), dbs.unwrap_or(0))
        }
    }
}

/// Databases on `engine`'s host whose names start with `prefix`.
pub async fn host_databases_like(engine: Engine, prefix: &str) -> i64 {
    use mysql_async::prelude::Queryable;
    match engine {
        Engine::Postgres => {
            let host = crate::host_superuser().await;
            let pattern = format!("{prefix}%");
            host.query_one("select count(*) from pg_database where datname like $1", &[&pattern])
                .await
                .expect("pg_database")
                .get(0)
        }
        Engine::MariaDb => {
            let mut admin = maria_admin().await;
            let n: Option<i64> = admin
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE CONCAT(?, '%')",
                    (prefix,),
                )
                .await
                .expect("SCHEMATA");
            n.unwrap_or(0)
        }
    }
}

impl Api {
    /// `POST /databases` for a database of `engine`.
    pub async fn create_database_on(&self, engine: Engine, name: &str) -> crate::Resp {
        self.post("/databases", json!({ "name": name, "engine": engine.as_str() })).await
    }

    /// Creates `name` on `engine` and waits until it is running; the create answer's data.
    pub async fn create_running_on(&self, engine: Engine, name: &str) -> Value {
        let r = self.create_database_on(engine, name).await;
        assert!(r.status == 201 || r.status == 202, "create {name} on {engine:?}: {} {}", r.status, r.body);
        let id = r.data()["id"].as_str().expect("id").to_owned();
        self.wait_state(&id, "running").await;
        r.data().clone()
    }
}

/// The connection of a create (or credentials) answer.
pub fn conn_of(engine: Engine, data: &Value) -> Conn {
    Conn::new(engine, data["connection_string"].as_str().expect("a connection string"))
}

/// Runs a scenario once per engine: `each_engine! { async fn name(engine) { … } }` becomes
/// a module `name` with the tests `postgres` and `mariadb`, each calling the body with its
/// [`Engine`]. The module sees everything its parent does.
#[macro_export]
macro_rules! each_engine {
    ($($(#[doc = $doc:expr])* async fn $name:ident($engine:ident) $body:block)*) => {$(
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($engine: $crate::engine::Engine) $body

            #[tokio::test]
            async fn postgres() {
                run($crate::engine::Engine::Postgres).await
            }

            #[tokio::test]
            async fn mariadb() {
                run($crate::engine::Engine::MariaDb).await
            }
        }
    )*};
}
