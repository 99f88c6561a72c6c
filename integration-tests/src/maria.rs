//! MariaDB's side of the engines suite: the `mariadb` command-line client (Debian's
//! mariadb-client, what a user runs) driven with a database's `mysql://` connection string,
//! and a relay that makes a client's connection reach the server from another loopback
//! address (127.0.0.2, 127.0.0.3…), for the allowlist tests.

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

/// What a `mysql://user:password@host:port/name` connection string says.
#[derive(Debug, Clone)]
pub struct MysqlUrl {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub database: String,
}

impl MysqlUrl {
    pub fn parse(url: &str) -> Self {
        let rest = url.strip_prefix("mysql://").unwrap_or_else(|| panic!("not a mysql:// URL: {url}"));
        let (auth, rest) = rest.rsplit_once('@').expect("user:password@");
        let (user, password) = auth.split_once(':').expect("user:password");
        let (addr, database) = rest.split_once('/').expect("host:port/name");
        let (host, port) = addr.rsplit_once(':').expect("host:port");
        Self {
            user: user.into(),
            password: password.into(),
            host: host.into(),
            port: port.parse().expect("a port"),
            database: database.into(),
        }
    }

    /// The same login at another address (a relay).
    pub fn via(&self, port: u16) -> Self {
        Self { host: "127.0.0.1".into(), port, ..self.clone() }
    }
}

/// Runs `sql` with the `mariadb` client over TCP (the password in its environment), batch
/// output; Err carries what the client printed (its error, e.g. "ERROR 1045 …").
pub async fn query(url: &MysqlUrl, sql: &str) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new("mariadb");
    cmd.arg("--no-defaults")
        .arg("--protocol=TCP")
        .arg(format!("--host={}", url.host))
        .arg(format!("--port={}", url.port))
        .arg(format!("--user={}", url.user))
        .arg("--connect-timeout=10")
        .arg("--batch")
        .arg("--skip-column-names")
        .arg(format!("--database={}", url.database))
        .arg("--execute")
        .arg(sql)
        .env("MYSQL_PWD", &url.password)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| "the mariadb client did not finish within 60 s".to_string())?
        .map_err(|e| format!("running mariadb: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// A relay on an ephemeral loopback port: each connection to it is carried to `target`
/// from a socket bound to `source`, so the server sees the client at `source`. Runs until
/// the test's runtime ends.
pub async fn relay_from(source: IpAddr, target: SocketAddr) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("relay port");
    let port = listener.local_addr().expect("relay address").port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let socket = tokio::net::TcpSocket::new_v4().expect("socket");
                if socket.bind(SocketAddr::new(source, 0)).is_err() {
                    return;
                }
                let Ok(mut outbound) = socket.connect(target).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    port
}
