use integration_tests::{connect, unique_name, Api};

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
    // Also directly on the host's PostgreSQL, bypassing PgBouncer: CONNECT is revoked.
    let host = integration_tests::app().platform.host.pg.port();
    let pw_a = da["password"].as_str().expect("pw");
    let direct = format!("postgresql://{na}:{pw_a}@127.0.0.1:{host}/{nb}");
    let err = connect(&direct).await.expect_err("A must not open B directly either");
    assert!(err.to_string().contains("permission denied") || err.as_db_error().is_some(), "{err}");
    // And the API hides B's database from A.
    let id_b = db["id"].as_str().expect("id");
    a.get(&format!("/databases/{id_b}")).await.expect_error(404, "DATABASE_NOT_FOUND");
    a.delete(&format!("/databases/{id_b}")).await.expect_error(404, "DATABASE_NOT_FOUND");
    a.get(&format!("/databases/{id_b}/activity")).await.expect_error(404, "DATABASE_NOT_FOUND");
    a.get(&format!("/activity?database_id={id_b}")).await.expect_error(404, "DATABASE_NOT_FOUND");
}
