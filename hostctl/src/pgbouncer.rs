//! Rendering of the PgBouncer files a tenant host's desired state maps to.
//!
//! PgBouncer's main `pgbouncer.ini` is static (written once when the host is set up) and
//! ends with `%include tenants.ini`; its `auth_file` is `users.txt`. Both of those files are
//! rendered here from the control plane's view of the host and swapped in atomically before
//! a `RELOAD` on the admin console. Pure functions: the I/O is in `host`.

use domain::{Cidr, DatabaseName};

/// File names inside a host's PgBouncer config directory.
pub const TENANTS_FILE: &str = "tenants.ini";
pub const USERS_FILE: &str = "users.txt";
pub const HBA_FILE: &str = "hba.conf";

/// One `auth_file` entry: a login name and its secret (a SCRAM verifier for tenants, so
/// PgBouncer can pass SCRAM through to PostgreSQL; a plain password for the admin user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEntry {
    pub user: String,
    pub secret: String,
}

/// One tenant pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolEntry {
    pub name: DatabaseName,
    /// The cluster's address: for a local host the directory of its Unix socket, the only
    /// way in for tenant roles (its `pg_hba.conf` refuses them over TCP).
    pub backend_host: String,
    pub backend_port: u16,
    /// Server connections for the whole database, every role together (the plan's cap).
    pub max_db_connections: i32,
}

/// A value in PgBouncer's connection-string syntax: bare when it can be, else quoted.
fn conn_value(v: &str) -> String {
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:".contains(c)) {
        return v.to_owned();
    }
    format!("'{}'", v.replace('\'', "''"))
}

fn quote_auth(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `users.txt`: `"user" "secret"` per line, sorted so an unchanged state renders identically.
pub fn render_auth_file(entries: &[AuthEntry]) -> String {
    let mut lines: Vec<String> =
        entries.iter().map(|e| format!("{} {}", quote_auth(&e.user), quote_auth(&e.secret))).collect();
    lines.sort();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// `tenants.ini`: the `[databases]` section, one pool per tenant database, capped at its
/// plan's server connections. The name is a validated `DatabaseName`, so it needs no quoting
/// in PgBouncer's connection-string syntax.
pub fn render_tenants(pools: &[PoolEntry]) -> String {
    let mut pools: Vec<&PoolEntry> = pools.iter().collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::from("[databases]\n");
    for p in pools {
        out.push_str(&format!(
            "{name} = host={host} port={port} dbname={name} max_db_connections={cap}\n",
            name = p.name,
            host = conn_value(&p.backend_host),
            port = p.backend_port,
            cap = p.max_db_connections,
        ));
    }
    out
}

/// `hba.conf` (PgBouncer runs with `auth_type = hba`): first match wins. The Unix socket
/// (the platform's own checks, on the host) and the admin console are always reachable with
/// a password; a database with allowlist rules admits its networks and rejects every other
/// TCP source; every other database is open (password required). Names are quoted, so a
/// database called `all` is that database, not the keyword.
pub fn render_hba(restricted: &[(DatabaseName, Vec<Cidr>)]) -> String {
    let mut out = String::from(
        "# Rendered by Berth from the databases' allowlists; re-rendered on every change.\n\
         local all all scram-sha-256\n\
         host pgbouncer all 0.0.0.0/0 scram-sha-256\n\
         host pgbouncer all ::/0 scram-sha-256\n",
    );
    let mut restricted: Vec<&(DatabaseName, Vec<Cidr>)> = restricted.iter().collect();
    restricted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, cidrs) in restricted {
        let db = format!("\"{}\"", name.as_str());
        for cidr in cidrs {
            out.push_str(&format!("host {db} all {cidr} scram-sha-256\n"));
        }
        out.push_str(&format!("host {db} all 0.0.0.0/0 reject\nhost {db} all ::/0 reject\n"));
    }
    out.push_str("host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n");
    out
}

/// Whether the HBA text (as [`render_hba`] writes it) admits a TCP login to database `db`
/// from `source`, deciding as PgBouncer does: the first `host` line whose database and
/// network match, by its method (`reject` refuses); no matching line refuses. The pooler's
/// guard asks this before a client reaches PgBouncer, which then sees it on its Unix socket.
pub fn hba_admits(text: &str, db: &str, source: std::net::IpAddr) -> bool {
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ["host", line_db, _user, cidr, method] = fields[..] else {
            continue;
        };
        let db_matches = match line_db.strip_prefix('"').and_then(|d| d.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\"") == db,
            None => line_db == "all" || line_db == db,
        };
        // The network is parsed only for the lines of this database (a login's hot path).
        if db_matches && Cidr::parse(cidr).is_ok_and(|c| c.contains(source)) {
            return method != "reject";
        }
    }
    false
}

/// Checks a rendered HBA file line by line against the subset of PgBouncer's grammar we
/// emit. PgBouncer skips a line it cannot parse and keeps going, which for a `reject` line
/// would silently open a database: so nothing is swapped in unless every line is one of ours.
pub fn validate_hba(text: &str) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let bad = |why: &str| Err(format!("hba line {}: {why}: {line}", n + 1));
        let (addr, method) = match fields[..] {
            ["local", _, _, method] => (None, method),
            ["host", _, _, addr, method] => (Some(addr), method),
            _ => return bad("not `local db user method` or `host db user cidr method`"),
        };
        let db = fields[1];
        let quoted_name =
            db.strip_prefix('"').and_then(|d| d.strip_suffix('"')).is_some_and(|d| DatabaseName::parse(d).is_ok());
        if !(db == "all" || db == "pgbouncer" || quoted_name) || fields[2] != "all" {
            return bad("unexpected database or user");
        }
        if let Some(addr) = addr {
            if Cidr::parse(addr).map(|c| c.to_string() != addr).unwrap_or(true) {
                return bad("address is not a canonical CIDR");
            }
        }
        if method != "scram-sha-256" && method != "reject" {
            return bad("unexpected method");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hba_admits_decides_as_the_first_matching_line() {
        let shop = DatabaseName::parse("shop").expect("valid");
        let all = DatabaseName::parse("all").expect("valid");
        let rules = [
            (shop, vec![Cidr::parse("10.0.0.0/8").expect("cidr")]),
            (all, vec![Cidr::parse("192.0.2.1").expect("cidr")]),
        ];
        let hba = render_hba(&rules);
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert!(hba_admits(&hba, "shop", ip("10.2.3.4")));
        assert!(!hba_admits(&hba, "shop", ip("127.0.0.1")));
        assert!(!hba_admits(&hba, "shop", ip("::1")));
        assert!(hba_admits(&hba, "other", ip("127.0.0.1")), "an unrestricted database is open");
        assert!(hba_admits(&hba, "other", ip("::1")));
        assert!(hba_admits(&hba, "pgbouncer", ip("203.0.113.5")), "the admin console keeps its password check");
        // The database named `all` is that database, not the keyword.
        assert!(!hba_admits(&hba, "all", ip("127.0.0.1")));
        assert!(hba_admits(&hba, "all", ip("192.0.2.1")));
        assert!(!hba_admits("", "shop", ip("10.2.3.4")), "no line, no login");
    }

    #[test]
    fn hba_restricts_only_databases_with_rules_and_validates() {
        let shop = DatabaseName::parse("shop").expect("valid");
        let all = DatabaseName::parse("all").expect("a database may be called all");
        let out = render_hba(&[
            (shop, vec![Cidr::parse("127.0.0.2").expect("valid"), Cidr::parse("10.0.0.0/8").expect("valid")]),
            (all, vec![Cidr::parse("::1").expect("valid")]),
        ]);
        assert!(out.contains("host \"shop\" all 127.0.0.2/32 scram-sha-256\nhost \"shop\" all 10.0.0.0/8 scram-sha-256\nhost \"shop\" all 0.0.0.0/0 reject\n"));
        assert!(out.contains("host \"all\" all ::1/128 scram-sha-256\n"));
        let open = out.find("host all all 0.0.0.0/0 scram-sha-256").expect("open rule");
        assert!(out.find("reject").expect("reject") < open, "rejections come before the open rule");
        validate_hba(&out).expect("what we render is valid");
        assert_eq!(render_hba(&[]).matches("reject").count(), 0);
    }

    #[test]
    fn validation_refuses_what_pgbouncer_would_skip() {
        for bad in [
            "host \"shop\" all 10.0.0.1/8 scram-sha-256",
            "host shop all 10.0.0.0/8 scram-sha-256",
            "host \"shop\" all 10.0.0.0/8 trust",
            "host \"shop\" all 10.0.0.0/8",
            "hostssl all all 0.0.0.0/0 reject",
        ] {
            assert!(validate_hba(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auth_file_quotes_and_sorts() {
        let out = render_auth_file(&[
            AuthEntry { user: "zed".into(), secret: "SCRAM-SHA-256$4096:abc".into() },
            AuthEntry { user: "ad\"min".into(), secret: "pw".into() },
        ]);
        assert_eq!(out, "\"ad\"\"min\" \"pw\"\n\"zed\" \"SCRAM-SHA-256$4096:abc\"\n");
    }

    #[test]
    fn tenants_render_one_pool_per_database() {
        let shop = DatabaseName::parse("shop").expect("valid");
        let out = render_tenants(&[PoolEntry {
            name: shop.clone(),
            backend_host: "/var/lib/berth/host/pg".into(),
            backend_port: 5433,
            max_db_connections: 7,
        }]);
        assert_eq!(out, "[databases]\nshop = host=/var/lib/berth/host/pg port=5433 dbname=shop max_db_connections=7\n");
        let odd = render_tenants(&[PoolEntry {
            name: shop,
            backend_host: "/srv/my dir's/pg".into(),
            backend_port: 5433,
            max_db_connections: 1,
        }]);
        assert!(odd.contains("host='/srv/my dir''s/pg' port"), "{odd}");
    }
}
