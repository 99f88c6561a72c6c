//! `berth db psql DB [-- ARGS]`: replaces this process with the database's own client — the
//! real psql, or for a MariaDB database the `mariadb` client — the login in its environment
//! (PGHOST … PGPASSWORD, or MYSQL_PWD), never in its arguments, where any user of the
//! machine could read it.

use std::os::unix::process::CommandExt;

use super::output::{Failure, Outcome};
use super::{resolve_db, Ctx};

/// The parts of a `postgresql://` or `mysql://user:password@host:port/database` connection
/// string.
#[derive(Debug, PartialEq, Eq)]
pub struct Conn {
    /// `postgresql` or `mysql`.
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
}

pub fn parse(connection_string: &str) -> Result<Conn, String> {
    let url = reqwest::Url::parse(connection_string).map_err(|e| format!("connection string: {e}"))?;
    let (scheme, default_port) = match url.scheme() {
        "postgresql" | "postgres" => ("postgresql", 5432),
        "mysql" => ("mysql", 3306),
        other => return Err(format!("connection string: scheme {other} is neither postgresql nor mysql")),
    };
    let host = url.host_str().ok_or("connection string: no host")?;
    Ok(Conn {
        scheme: scheme.into(),
        host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
        port: url.port().unwrap_or(default_port),
        user: decode(url.username()),
        password: decode(url.password().unwrap_or_default()),
        database: decode(url.path().trim_start_matches('/')),
    })
}

/// Percent-decoding (userinfo and path arrive encoded).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn run(ctx: &Ctx, db: &str, args: &[String]) -> Outcome {
    let id = resolve_db(ctx, db).await?;
    let creds = ctx.client.credentials(&id).await?;
    let conn = parse(&creds.connection_string).map_err(|e| anyhow::anyhow!(e))?;
    if conn.scheme == "mysql" {
        return mariadb(&conn, &creds.username, args);
    }
    let psql = std::env::var_os("BERTH_PSQL").unwrap_or_else(|| "psql".into());
    let mut cmd = std::process::Command::new(&psql);
    cmd.args(args)
        .env("PGHOST", &conn.host)
        .env("PGPORT", conn.port.to_string())
        .env("PGUSER", &creds.username)
        .env("PGPASSWORD", &conn.password)
        .env("PGDATABASE", &conn.database)
        // Settings of another server must not redirect this login.
        .env_remove("PGSERVICE")
        .env_remove("PGSERVICEFILE")
        .env_remove("PGHOSTADDR");
    // Only returns on failure.
    let e = cmd.exec();
    Err(Failure::Other(anyhow::anyhow!("running {}: {e} (is psql installed and on PATH?)", psql.to_string_lossy())))
}

/// The `mariadb` client (Debian's mariadb-client; `BERTH_MARIADB` overrides), over TCP.
fn mariadb(conn: &Conn, user: &str, args: &[String]) -> Outcome {
    let client = std::env::var_os("BERTH_MARIADB").unwrap_or_else(|| "mariadb".into());
    let mut cmd = std::process::Command::new(&client);
    cmd.arg("--no-defaults")
        .arg("--protocol=TCP")
        .arg(format!("--host={}", conn.host))
        .arg(format!("--port={}", conn.port))
        .arg(format!("--user={user}"))
        .arg(format!("--database={}", conn.database))
        .args(args)
        .env("MYSQL_PWD", &conn.password)
        .env_remove("MYSQL_HOST")
        .env_remove("MYSQL_TCP_PORT");
    let e = cmd.exec();
    Err(Failure::Other(anyhow::anyhow!("running {}: {e} (is the mariadb client installed?)", client.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_parse_into_the_environment_psql_reads() {
        let c = parse("postgresql://shop:p%40ss%2Fw0rd@127.0.0.1:6432/shop").expect("parses");
        assert_eq!(
            c,
            Conn {
                scheme: "postgresql".into(),
                host: "127.0.0.1".into(),
                port: 6432,
                user: "shop".into(),
                password: "p@ss/w0rd".into(),
                database: "shop".into()
            }
        );
        let m = parse("mysql://a:b@h:1/d").expect("a MariaDB string");
        assert_eq!((m.scheme.as_str(), m.port, m.user.as_str()), ("mysql", 1, "a"));
        assert!(parse("mongodb://a:b@h:1/d").is_err());
        assert_eq!(parse("postgresql://u:p@[::1]:6432/d").expect("ipv6").host, "::1");
    }
}
