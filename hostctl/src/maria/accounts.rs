//! Logins and their accounts on a MariaDB host: the front door (see the module above).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use domain::{Cidr, DatabaseName};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::{grant_db, ident, lit, maria_error, MariaHost, META_DATABASE};
use crate::host::HostError;
use crate::sync::BouncerState;

/// The account every login has for the platform: only the server's Unix socket matches it.
pub(crate) const SOCKET_HOST: &str = "localhost";

/// A login of ours, as `berth_meta.logins` records it.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub login: String,
    pub db: String,
    pub max_connections: i32,
}

/// What one account must be.
struct Account<'a> {
    login: &'a str,
    host: &'a str,
    db: &'a str,
    hash: &'a str,
    max_connections: i32,
    locked: bool,
}

/// How an account is now (from `mysql.global_priv`, whose JSON holds the lock state, and
/// `mysql.db`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Current {
    hash: String,
    max_connections: i64,
    locked: bool,
    granted: bool,
}

/// The host patterns of a database's network accounts: `%` without an allowlist; else each
/// IPv4 network as MariaDB's `address/netmask`, and each IPv6 rule that is a single
/// address. MariaDB has no IPv6 netmasks: a wider IPv6 rule admits nobody here (closed,
/// never opened wider), which the README says.
pub fn host_patterns(allowlist: Option<&[Cidr]>) -> Vec<String> {
    let Some(rules) = allowlist else { return vec!["%".into()] };
    let mut out = BTreeSet::new();
    for rule in rules {
        match rule.addr() {
            IpAddr::V4(a) => {
                let prefix = u32::from(rule.prefix().min(32));
                let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
                let net = std::net::Ipv4Addr::from(u32::from(a) & mask);
                out.insert(format!("{net}/{}", std::net::Ipv4Addr::from(mask)));
            }
            IpAddr::V6(a) if rule.prefix() == 128 => {
                out.insert(a.to_string());
            }
            IpAddr::V6(_) if rule.prefix() == 0 => {
                out.insert("%".into());
            }
            IpAddr::V6(_) => {}
        }
    }
    out.into_iter().collect()
}

fn account(login: &str, host: &str) -> String {
    format!("{}@{}", lit(login), lit(host))
}

/// Every session of `db`'s logins ends (KILL CONNECTION), ours on the socket included.
pub(crate) async fn kill_sessions_in(conn: &mut Conn, db: &str) -> Result<(), HostError> {
    let ids: Vec<u64> = conn
        .exec(
            format!(
                "SELECT p.ID FROM information_schema.PROCESSLIST p
                 JOIN {}.logins l ON l.login = p.USER WHERE l.db = ? AND p.ID <> CONNECTION_ID()",
                ident(META_DATABASE)
            ),
            (db,),
        )
        .await
        .map_err(maria_error)?;
    kill(conn, ids).await
}

async fn kill(conn: &mut Conn, ids: Vec<u64>) -> Result<(), HostError> {
    for id in ids {
        match conn.query_drop(format!("KILL CONNECTION {id}")).await {
            // 1094: the session ended meanwhile.
            Err(mysql_async::Error::Server(e)) if e.code == 1094 => {}
            other => other.map_err(maria_error)?,
        }
    }
    Ok(())
}

impl MariaHost {
    pub(crate) async fn logins_of(&self, conn: &mut Conn, db: Option<&str>) -> Result<Vec<Login>, HostError> {
        let sql = format!(
            "SELECT login, db, max_connections FROM {}.logins WHERE ? IS NULL OR db = ? ORDER BY login",
            ident(META_DATABASE)
        );
        let rows: Vec<(String, String, i32)> = conn.exec(sql, (db, db)).await.map_err(maria_error)?;
        Ok(rows.into_iter().map(|(login, db, max_connections)| Login { login, db, max_connections }).collect())
    }

    async fn marker_of(&self, conn: &mut Conn, login: &str) -> Result<Option<String>, HostError> {
        conn.exec_first(format!("SELECT marker FROM {}.logins WHERE login = ?", ident(META_DATABASE)), (login,))
            .await
            .map_err(maria_error)
    }

    async fn hosts_of(&self, conn: &mut Conn, login: &str) -> Result<Vec<String>, HostError> {
        conn.exec("SELECT Host FROM mysql.user WHERE User = ?", (login,)).await.map_err(maria_error)
    }

    /// Records `login` as ours (marker `marker`, database `db`), then makes or updates its
    /// socket account. A login of that name the platform did not make is refused.
    pub(crate) async fn ensure_login(
        &self,
        login: &str,
        db: &DatabaseName,
        marker: &str,
        is_owner: bool,
        hash: &str,
        max_connections: i32,
    ) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        match self.marker_of(&mut conn, login).await? {
            Some(m) if m != marker => {
                return Err(HostError::Permanent(format!("login {login} exists on the host and is not ours")))
            }
            Some(_) => {}
            None if !self.hosts_of(&mut conn, login).await?.is_empty() => {
                return Err(HostError::Permanent(format!("login {login} exists on the host and is not ours")))
            }
            None => {}
        }
        // The marker first: a retry after a crash between the two finds it and goes on.
        conn.exec_drop(
            format!(
                "INSERT INTO {}.logins (login, db, marker, is_owner, max_connections) VALUES (?, ?, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE max_connections = VALUES(max_connections)",
                ident(META_DATABASE)
            ),
            (login, db.as_str(), marker, is_owner, max_connections),
        )
        .await
        .map_err(maria_error)?;
        let current = self.current(&mut conn, &[login.to_owned()]).await?;
        let want = Account { login, host: SOCKET_HOST, db: db.as_str(), hash, max_connections, locked: false };
        ensure_account(&mut conn, &want, current.get(&(login.to_owned(), SOCKET_HOST.to_owned()))).await
    }

    /// Drops `login`'s accounts (its sessions end first) and its record, if it is ours
    /// (`marker`); nothing if it is gone.
    pub(crate) async fn drop_login(&self, login: &str, marker: &str) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        match self.marker_of(&mut conn, login).await? {
            None => return Ok(()),
            Some(m) if m != marker => {
                return Err(HostError::Permanent(format!("login {login} on the host is not ours; not dropping")))
            }
            Some(_) => {}
        }
        for host in self.hosts_of(&mut conn, login).await? {
            conn.query_drop(format!("ALTER USER {} ACCOUNT LOCK", account(login, &host))).await.map_err(maria_error)?;
        }
        let ids: Vec<u64> = conn
            .exec("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", (login,))
            .await
            .map_err(maria_error)?;
        kill(&mut conn, ids).await?;
        for host in self.hosts_of(&mut conn, login).await? {
            conn.query_drop(format!("DROP USER IF EXISTS {}", account(login, &host))).await.map_err(maria_error)?;
        }
        conn.exec_drop(format!("DELETE FROM {}.logins WHERE login = ?", ident(META_DATABASE)), (login,))
            .await
            .map_err(maria_error)
    }

    /// Sets the password hash and connection cap of every account of `login`.
    pub(crate) async fn set_credential(&self, login: &str, hash: &str, max_connections: i32) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        conn.exec_drop(
            format!("UPDATE {}.logins SET max_connections = ? WHERE login = ?", ident(META_DATABASE)),
            (max_connections, login),
        )
        .await
        .map_err(maria_error)?;
        for host in self.hosts_of(&mut conn, login).await? {
            conn.query_drop(format!(
                "ALTER USER {} IDENTIFIED BY PASSWORD {} WITH MAX_USER_CONNECTIONS {max_connections}",
                account(login, &host),
                lit(hash)
            ))
            .await
            .map_err(maria_error)?;
        }
        Ok(())
    }

    /// Locks (or unlocks) the network accounts of `db`'s logins; locking also ends their
    /// sessions. The socket accounts stay open for the platform.
    pub(crate) async fn set_locked(&self, db: &str, locked: bool) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        let word = if locked { "LOCK" } else { "UNLOCK" };
        for login in self.logins_of(&mut conn, Some(db)).await? {
            for host in self.hosts_of(&mut conn, &login.login).await? {
                if host != SOCKET_HOST {
                    let sql = format!("ALTER USER {} ACCOUNT {word}", account(&login.login, &host));
                    conn.query_drop(sql).await.map_err(maria_error)?;
                }
            }
        }
        if locked {
            kill_sessions_in(&mut conn, db).await?;
        }
        Ok(())
    }

    /// How each account of `logins` is now, by (login, host).
    async fn current(
        &self,
        conn: &mut Conn,
        logins: &[String],
    ) -> Result<HashMap<(String, String), Current>, HostError> {
        if logins.is_empty() {
            return Ok(HashMap::new());
        }
        let list = logins.iter().map(|l| lit(l)).collect::<Vec<_>>().join(", ");
        let rows: Vec<(String, String, String, i64, String, Option<String>)> = conn
            .query(format!(
                "SELECT g.User, g.Host, IFNULL(JSON_VALUE(g.Priv, '$.authentication_string'), ''),
                        CAST(IFNULL(JSON_VALUE(g.Priv, '$.max_user_connections'), 0) AS SIGNED),
                        IF(JSON_VALUE(g.Priv, '$.account_locked') IN ('true', '1'), 'Y', 'N'), d.Db
                 FROM mysql.global_priv g
                 LEFT JOIN {m}.logins l ON l.login = g.User
                 LEFT JOIN mysql.db d ON d.User = g.User AND d.Host = g.Host AND d.Db = l.db
                 WHERE g.User IN ({list})",
                m = ident(META_DATABASE)
            ))
            .await
            .map_err(maria_error)?;
        Ok(rows
            .into_iter()
            .map(|(user, host, hash, max, locked, db)| {
                ((user, host), Current { hash, max_connections: max, locked: locked == "Y", granted: db.is_some() })
            })
            .collect())
    }

    /// Makes every login of the host's live databases have exactly the accounts `state`
    /// calls for (see the module above), changing only what differs.
    pub(crate) async fn apply_state(&self, state: &BouncerState) -> Result<(), HostError> {
        let mut conn = self.admin().await?;
        let owners: HashMap<&str, &str> = state.pools.iter().map(|p| (p.name.as_str(), p.verifier.as_str())).collect();
        let users: HashMap<&str, &str> = state.users.iter().map(|u| (u.user.as_str(), u.secret.as_str())).collect();
        let allowlists: HashMap<&str, &[Cidr]> =
            state.allowlists.iter().map(|(db, rules)| (db.as_str(), rules.as_slice())).collect();
        let logins = self.logins_of(&mut conn, None).await?;
        let names: Vec<String> = logins.iter().map(|l| l.login.clone()).collect();
        let current = self.current(&mut conn, &names).await?;
        for login in &logins {
            let hash = match owners.get(login.login.as_str()).or_else(|| users.get(login.login.as_str())) {
                Some(hash) => *hash,
                // Not live (being made, dropped or failed): its own job sees to it.
                None => continue,
            };
            let locked = state.closed.iter().any(|c| c.as_str() == login.db);
            let mut wanted = host_patterns(allowlists.get(login.db.as_str()).copied());
            wanted.push(SOCKET_HOST.into());
            for host in &wanted {
                let want = Account {
                    login: &login.login,
                    host,
                    db: &login.db,
                    hash,
                    max_connections: login.max_connections,
                    locked: locked && host != SOCKET_HOST,
                };
                ensure_account(&mut conn, &want, current.get(&(login.login.clone(), host.clone()))).await?;
            }
            let extra: Vec<&String> = current
                .keys()
                .filter(|(user, host)| *user == login.login && !wanted.contains(host))
                .map(|(_, host)| host)
                .collect();
            for host in extra {
                conn.query_drop(format!("DROP USER IF EXISTS {}", account(&login.login, host)))
                    .await
                    .map_err(maria_error)?;
            }
        }
        Ok(())
    }
}

/// Creates or corrects one account, issuing only the statements that change something.
async fn ensure_account(conn: &mut Conn, want: &Account<'_>, now: Option<&Current>) -> Result<(), HostError> {
    let who = account(want.login, want.host);
    let lock = if want.locked { "LOCK" } else { "UNLOCK" };
    let spec = format!(
        "IDENTIFIED BY PASSWORD {} WITH MAX_USER_CONNECTIONS {} ACCOUNT {lock}",
        lit(want.hash),
        want.max_connections
    );
    match now {
        None => conn.query_drop(format!("CREATE USER IF NOT EXISTS {who} {spec}")).await.map_err(maria_error)?,
        Some(now)
            if now.hash != want.hash
                || now.max_connections != i64::from(want.max_connections)
                || now.locked != want.locked =>
        {
            conn.query_drop(format!("ALTER USER {who} {spec}")).await.map_err(maria_error)?
        }
        Some(_) => {}
    }
    if !now.is_some_and(|n| n.granted) {
        conn.query_drop(format!("GRANT ALL PRIVILEGES ON {}.* TO {who}", grant_db(want.db)))
            .await
            .map_err(maria_error)?;
    }
    if want.locked {
        // A lock keeps new sessions out; the ones already in end here.
        let ids: Vec<u64> = conn
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND HOST NOT LIKE 'localhost%'",
                (want.login,),
            )
            .await
            .map_err(maria_error)?;
        kill(conn, ids).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(raw: &[&str]) -> Vec<Cidr> {
        raw.iter().map(|r| Cidr::parse(r).expect("cidr")).collect()
    }

    #[test]
    fn allowlists_become_host_patterns() {
        assert_eq!(host_patterns(None), vec!["%"]);
        assert_eq!(
            host_patterns(Some(&cidrs(&["127.0.0.2/32", "10.0.0.0/8", "2001:db8::1/128", "2001:db8::/32"]))),
            vec!["10.0.0.0/255.0.0.0", "127.0.0.2/255.255.255.255", "2001:db8::1"]
        );
        assert!(host_patterns(Some(&[])).is_empty(), "an empty allowlist admits nobody over the network");
    }
}
