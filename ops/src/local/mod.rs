//! The local platform: PostgreSQL clusters and PgBouncers run as child processes from
//! directories on this machine. `berth up` builds a control-plane cluster and one tenant
//! host from it; tests use the same code through [`testing`].
//!
//! Servers are started directly (not daemonised) from one long-lived thread with a
//! parent-death signal, so they never outlive the process that started them, even when it
//! is SIGKILLed. As root they run as the unprivileged system user `berth`.

mod bins;
mod bouncer;
mod fds;
pub(crate) mod files;
mod guard;
pub mod maria;
mod pg;
mod pgconf;
mod ports;
mod process;
pub mod s3;
pub mod testing;
mod user;

use std::path::Path;

pub use bins::PgBins;
pub use bouncer::{Bouncer, BouncerOptions, ADMIN_USER, CLIENT_LOGIN_TIMEOUT, MAX_CLIENT_CONN, MAX_PER_SOURCE};
pub use fds::raise_open_files;
pub use maria::MariaServer;
pub use pg::{ClusterOptions, PgCluster, SUPERUSER};
pub(crate) use process::{is_alive as is_running, send_signal as signal};
pub use user::SERVICE_USER;

/// Options for both halves of a tenant host.
#[derive(Debug, Clone, Default)]
pub struct LocalHostOptions {
    pub cluster: ClusterOptions,
    pub bouncer: BouncerOptions,
    /// The platform's CA: the pooler's guard offers TLS with a certificate it issues.
    pub ca: Option<std::sync::Arc<crate::tls::Ca>>,
}

impl LocalHostOptions {
    pub fn for_tests() -> Self {
        LocalHostOptions { cluster: ClusterOptions::for_tests(), ..Self::default() }
    }
}

/// A tenant host: one cluster plus the PgBouncer in front of it, under `dir/pg` and
/// `dir/pgbouncer`.
#[derive(Debug)]
pub struct LocalHost {
    pub pg: PgCluster,
    pub bouncer: Bouncer,
    /// The pooler's certificate, when it offers TLS ([`crate::tls::keep_fresh`] renews it).
    pub tls: Option<std::sync::Arc<crate::tls::ServingCert>>,
    /// The CA that issued it.
    pub ca: Option<std::sync::Arc<crate::tls::Ca>>,
}

impl LocalHost {
    pub async fn start(dir: &Path, opts: &LocalHostOptions) -> anyhow::Result<LocalHost> {
        let pg = PgCluster::start(&dir.join("pg"), &opts.cluster).await?;
        // Before anything of ours logs in to a tenant database (see `hostctl::observe`).
        let prepared = async {
            let client = connect(&pg.dsn("postgres")).await?;
            hostctl::observe::allow_untracked_sessions(&client).await.map_err(anyhow::Error::from)
        };
        if let Err(e) = prepared.await {
            if let Err(stop) = pg.stop() {
                tracing::warn!("stopping postgres after preparing it failed: {stop:#}");
            }
            return Err(e.context("letting the platform's sessions stay out of pg_stat_statements"));
        }
        let tls = match &opts.ca {
            Some(ca) => match crate::tls::ServingCert::issue(ca, pooler_names(&opts.bouncer.listen_addrs)) {
                Ok(cert) => Some(cert),
                Err(e) => {
                    if let Err(stop) = pg.stop() {
                        tracing::warn!("stopping postgres after issuing the pooler's certificate failed: {stop:#}");
                    }
                    return Err(e.context("issuing the pooler's certificate"));
                }
            },
            None => None,
        };
        match Bouncer::start(&dir.join("pgbouncer"), &pg, &opts.bouncer, tls.clone()).await {
            Ok(bouncer) => Ok(LocalHost { pg, bouncer, tls, ca: opts.ca.clone() }),
            Err(e) => {
                // Do not leave a half host running behind an error.
                if let Err(stop) = pg.stop() {
                    tracing::warn!("stopping postgres after pgbouncer failed: {stop:#}");
                }
                Err(e)
            }
        }
    }

    /// Stops PgBouncer first so no client is mid-session when PostgreSQL goes away.
    pub fn stop(&self) -> anyhow::Result<()> {
        let bouncer = self.bouncer.stop();
        let pg = self.pg.stop();
        bouncer.and(pg)
    }
}

/// The names a pooler certificate is for: the address connection strings carry first, then
/// every listen address and the loopback names.
fn pooler_names(listen_addrs: &[String]) -> Vec<String> {
    let mut names = vec![pg::connect_host(listen_addrs)];
    let wildcard = ["*", "0.0.0.0", "::"];
    for name in listen_addrs.iter().map(String::as_str).chain(["127.0.0.1", "localhost", "::1"]) {
        if !wildcard.contains(&name) && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// Connects with tokio-postgres (no TLS: loopback only) and drives the connection on the
/// current runtime until the client is dropped.
pub(crate) async fn connect(dsn: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        // The error surfaces on the client's next call; nothing to do with it here.
        let _ = conn.await;
    });
    Ok(client)
}

/// A value for a key=value connection string, quoted when it needs to be.
pub(crate) fn dsn_value(v: &str) -> String {
    if !v.is_empty() && !v.contains([' ', '\'', '\\', '\t', '\n']) {
        return v.to_owned();
    }
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// RFC 3986 unreserved characters stay; every other byte is percent-encoded.
const ESCAPED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub(crate) fn url_escape(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, ESCAPED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_values_are_quoted_only_when_needed() {
        assert_eq!(dsn_value("abc"), "abc");
        assert_eq!(dsn_value(""), "''");
        assert_eq!(dsn_value("a b'c\\"), "'a b\\'c\\\\'");
    }

    #[test]
    fn url_escape_keeps_unreserved_characters() {
        assert_eq!(url_escape("aZ9-._~"), "aZ9-._~");
        assert_eq!(url_escape("a b/é"), "a%20b%2F%C3%A9");
    }
}
