//! Rendering of the PgBouncer files a tenant host's desired state maps to.
//!
//! PgBouncer's main `pgbouncer.ini` is static (written once when the host is set up) and
//! ends with `%include tenants.ini`; its `auth_file` is `users.txt`. Both of those files are
//! rendered here from the control plane's view of the host and swapped in atomically before
//! a `RELOAD` on the admin console. Pure functions: the I/O is in `host`.

use domain::DatabaseName;

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
    pub backend_host: String,
    pub backend_port: u16,
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

/// `tenants.ini`: the `[databases]` section, one pool per tenant database. The name is a
/// validated `DatabaseName`, so it needs no quoting in PgBouncer's connection-string syntax.
pub fn render_tenants(pools: &[PoolEntry]) -> String {
    let mut pools: Vec<&PoolEntry> = pools.iter().collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = String::from("[databases]\n");
    for p in pools {
        out.push_str(&format!(
            "{name} = host={host} port={port} dbname={name}\n",
            name = p.name,
            host = p.backend_host,
            port = p.backend_port,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let out = render_tenants(&[PoolEntry {
            name: DatabaseName::parse("shop").expect("valid"),
            backend_host: "127.0.0.1".into(),
            backend_port: 5433,
        }]);
        assert_eq!(out, "[databases]\nshop = host=127.0.0.1 port=5433 dbname=shop\n");
    }
}
