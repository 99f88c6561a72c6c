//! TLS to the connection pooler as a user sets it up: `berth ca` fetches the platform CA's
//! certificate (no key needed), and psql verifies the pooler with it (`sslmode=verify-full`);
//! a client trusting another CA is refused in the handshake.

use std::process::Command;

use crate::{db_name, new_user, User};

/// psql through the pooler with `sslmode` and a root certificate file.
fn psql_tls(connection_string: &str, sslmode: &str, root: &std::path::Path) -> std::process::Output {
    let url = reqwest::Url::parse(connection_string).expect("the connection string is a URL");
    Command::new("psql")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", "\\conninfo"])
        .env("PGHOST", url.host_str().expect("host"))
        .env("PGPORT", url.port().expect("port").to_string())
        .env("PGUSER", url.username())
        .env("PGPASSWORD", url.password().expect("password"))
        .env("PGDATABASE", url.path().trim_start_matches('/'))
        .env("PGSSLMODE", sslmode)
        .env("PGSSLROOTCERT", root)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("psql runs")
}

#[test]
fn psql_verifies_the_pooler_against_the_ca_berth_ca_fetches() {
    let key = new_user("cli-tls");
    let user = User::new();
    user.login(&key);
    let name = db_name("tls");
    let conn = user.run(&["db", "create", &name]).ok().field("connection string");

    // Without a key: only the API's address.
    let anonymous = User::new();
    let printed = anonymous.run_with(
        &["ca"],
        |c| {
            c.env("BERTH_URL", &anonymous.url);
        },
        None,
    );
    let printed = printed.ok().stdout;
    assert!(printed.starts_with("-----BEGIN CERTIFICATE-----"), "{printed}");
    let ca = user.config_dir().join("platform-ca.pem");
    user.run(&["ca", "--out", ca.to_str().expect("utf-8 path")]).ok();
    assert_eq!(std::fs::read_to_string(&ca).expect("written"), printed);

    let verified = psql_tls(&conn, "verify-full", &ca);
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "psql: {}", String::from_utf8_lossy(&verified.stderr));
    assert!(said.contains("SSL connection") && said.contains(&name), "{said}");

    // Another CA's certificate as the root: the pooler's certificate does not verify.
    let other_dir = tempfile::tempdir().expect("dir");
    let other = ops::tls::Ca::load_or_create(other_dir.path()).expect("another CA");
    let other_pem = other_dir.path().join("other.pem");
    std::fs::write(&other_pem, other.pem()).expect("write");
    let refused = psql_tls(&conn, "verify-full", &other_pem);
    assert!(!refused.status.success(), "a certificate from another CA was accepted");
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("certificate verify failed"), "{why}");

    // On a loopback-only pooler TLS is offered, not required: a client in the clear gets in.
    let plain = psql_tls(&conn, "disable", &ca);
    assert!(plain.status.success(), "psql in the clear: {}", String::from_utf8_lossy(&plain.stderr));
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("SSL connection"));
}
