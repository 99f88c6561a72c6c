use integration_tests::{connect, direct_dsn, host_superuser, login_error, tcp_dsn, unique_name, Api};

/// Rewrites a connection URL to another database, keeping the user and password.
fn other_database(url: &str, from: &str, to: &str) -> String {
    let (head, _) = url.rsplit_once('/').expect("url has a path");
    assert!(url.ends_with(from));
    format!("{head}/{to}")
}

#[tokio::test]
async fn one_tenants_credentials_cannot_open_another_tenants_database() {
    let (a, b) = (Api::new_user().await, Api::new_user().await);
    let (na, nb) = (unique_name("tenant-a"), unique_name("tenant-b"));
    let da = a.create_running(&na).await;
    let db = b.create_running(&nb).await;
    let url_a = da["connection_string"].as_str().expect("url");
    let url_b = db["connection_string"].as_str().expect("url");
    // Each opens its own.
    connect(url_a).await.expect("A opens A");
    connect(url_b).await.expect("B opens B");
    // A's role against B's database, through PgBouncer: refused.
    let err = connect(&other_database(url_a, &na, &nb)).await.expect_err("A must not open B");
    let msg = err.to_string();
    assert!(!msg.contains(db["password"].as_str().expect("pw")));
    // Also straight on the host's PostgreSQL, bypassing PgBouncer (through the Unix socket,
    // the one way a tenant role may log in at all): CONNECT is revoked.
    let pw_a = da["password"].as_str().expect("pw");
    let refused = login_error(&direct_dsn(&na, pw_a, &nb)).await;
    assert!(refused.contains("permission denied"), "{refused}");
    // And the API hides B's database from A.
    let id_b = db["id"].as_str().expect("id");
    a.get(&format!("/databases/{id_b}")).await.expect_error(404, "DATABASE_NOT_FOUND");
    a.delete(&format!("/databases/{id_b}")).await.expect_error(404, "DATABASE_NOT_FOUND");
    a.get(&format!("/databases/{id_b}/activity")).await.expect_error(404, "DATABASE_NOT_FOUND");
    a.get(&format!("/activity?database_id={id_b}")).await.expect_error(404, "DATABASE_NOT_FOUND");
}

#[tokio::test]
async fn tenant_credentials_work_through_pgbouncer_only() {
    let api = Api::new_user().await;
    let name = unique_name("bouncer-only");
    let d = api.create_running(&name).await;
    let password = d["password"].as_str().expect("password");
    connect(d["connection_string"].as_str().expect("url")).await.expect("through PgBouncer it works");
    // Over TCP to the PostgreSQL port, PostgreSQL itself refuses the tenant's role — its own
    // database and the maintenance ones alike — so PgBouncer's allowlist and caps cannot be
    // stepped around.
    for db in [name.as_str(), "postgres", "template1"] {
        let refused = login_error(&tcp_dsn(&name, password, db)).await;
        assert!(refused.contains("pg_hba.conf rejects connection"), "{db}: {refused}");
        assert!(!refused.contains(password));
    }
    // Nor may any tenant role enter the maintenance databases by any path.
    for db in ["postgres", "template1"] {
        let refused = login_error(&direct_dsn(&name, password, db)).await;
        assert!(refused.contains("permission denied"), "{db}: {refused}");
    }
    let su = host_superuser().await;
    let public_connect: bool = su
        .query_one(
            "select bool_or(has_database_privilege('public', datname, 'CONNECT')) from pg_database
             where datname in ('postgres', 'template1')",
            &[],
        )
        .await
        .expect("privileges")
        .get(0);
    assert!(!public_connect, "PUBLIC keeps no CONNECT on the maintenance databases");
}
