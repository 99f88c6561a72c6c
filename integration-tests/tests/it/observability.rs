//! What operators and users can observe: Prometheus metrics, per-database metrics and
//! schema, and `api_errors` incidents from bursts of 5xx.

use std::time::Duration;

use actix_web::{test, web, App, HttpResponse};
use integration_tests::{app, connect, consistently, eventually, unique_name, Api};
use serde_json::json;

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let api = Api::new_user().await;
    api.create_running(&unique_name("measured")).await;
    let text = eventually("the queue and lag gauges", Duration::from_secs(30), || async {
        let text = Api::new(None).get_text("/metrics").await;
        (text.contains("berth_queue_depth") && text.contains("berth_consumer_lag_events{consumer=\"audit\"}"))
            .then_some(text)
    })
    .await;
    for expected in [
        "# TYPE berth_http_requests_total counter",
        "route=\"/api/v1/databases\"",
        "status=\"201\"",
        "berth_http_request_duration_seconds_bucket{",
        "berth_jobs_total{kind=\"provision\",outcome=\"succeeded\"}",
        "berth_job_seconds_bucket{kind=\"provision\"",
        "berth_event_append_seconds_bucket{",
        "berth_consumer_lag_events{consumer=\"job-dispatcher\"}",
        "berth_incidents_open{kind=\"host_unreachable\"}",
        "berth_host_reachable{host=\"local\"} 1",
    ] {
        assert!(text.contains(expected), "/metrics lacks {expected}:\n{text}");
    }
}

#[tokio::test]
async fn a_database_shows_its_schema_and_its_usage() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("inspected")).await;
    let id = d["id"].as_str().expect("id");
    let c = connect(d["connection_string"].as_str().expect("url")).await.expect("tenant connects");
    c.batch_execute(
        "create table orders (id bigint primary key, note text, placed_at timestamptz not null);
         create view recent_orders as select id from orders;
         insert into orders select g, 'n', now() from generate_series(1, 100) g;",
    )
    .await
    .expect("tenant DDL");
    for _ in 0..3 {
        c.query("select count(*) from orders where id > $1", &[&10i64]).await.expect("select");
    }

    let s = api.get(&format!("/databases/{id}/schema")).await;
    s.expect(200);
    let tables = s.data()["tables"].as_array().expect("tables");
    let orders = tables.iter().find(|t| t["name"] == "orders").expect("orders listed");
    assert_eq!(orders["schema"], "public");
    assert_eq!(
        orders["columns"],
        serde_json::json!([
            { "name": "id", "type": "bigint", "nullable": false },
            { "name": "note", "type": "text", "nullable": true },
            { "name": "placed_at", "type": "timestamp with time zone", "nullable": false },
        ])
    );
    assert_eq!(s.data()["views"], serde_json::json!([{ "schema": "public", "name": "recent_orders" }]));

    let m = api.get(&format!("/databases/{id}/metrics")).await;
    m.expect(200);
    let m = m.data();
    assert!(m["size_bytes"].as_i64().is_some_and(|b| b > 1_000_000), "{m}");
    assert!(m["transactions_committed"].as_i64().is_some_and(|n| n > 0), "{m}");
    assert!(m["cache_hit_ratio"].as_f64().is_some_and(|r| (0.0..=1.0).contains(&r)), "{m}");
    assert!(m["active_connections"].as_i64().is_some());
    assert_eq!(m["statements_available"], true, "the local hosts preload pg_stat_statements");
    let statements = m["top_statements"].as_array().expect("statements");
    let select = statements
        .iter()
        .find(|s| s["query"].as_str().is_some_and(|q| q.contains("from orders where id >")))
        .unwrap_or_else(|| panic!("the tenant's select is among the top statements: {statements:?}"));
    assert!(select["calls"].as_i64() >= Some(3));
    assert!(!m.to_string().contains(d["password"].as_str().expect("pw")));

    let other = Api::new_user().await;
    other.get(&format!("/databases/{id}/schema")).await.expect_error(404, "DATABASE_NOT_FOUND");
    other.get(&format!("/databases/{id}/metrics")).await.expect_error(404, "DATABASE_NOT_FOUND");
}

/// The tenant's statements are sampled; the platform's own (a backup's `pg_dump` and its
/// per-table checksums, the schema view) never are; failures through the SQL route are
/// counted; a history builds up from the worker's samples.
#[tokio::test]
async fn observability_shows_the_tenants_statements_and_not_the_platforms() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("observed")).await;
    let id = d["id"].as_str().expect("id").to_owned();
    let c = connect(d["connection_string"].as_str().expect("url")).await.expect("tenant connects");
    c.batch_execute(
        "create table obs_items (id bigint primary key, note text);
         insert into obs_items select g, 'n' || g from generate_series(1, 50) g;",
    )
    .await
    .expect("tenant DDL");
    for i in 0..20i64 {
        c.query("select note from obs_items where id = $1", &[&i]).await.expect("select");
    }
    // The platform reads the database: a backup (pg_dump, checksums) and the schema view.
    let b = api.post(&format!("/databases/{id}/backups"), json!({})).await;
    b.expect(202);
    api.wait_operation(b.data()["operation_id"].as_str().expect("op")).await;
    api.get(&format!("/databases/{id}/schema")).await.expect(200);
    // Through the SQL route: a statement that fails (the note is no number) and the same
    // statement, other constants, that succeeds (no row to cast) — one fingerprint.
    let sql = format!("/databases/{id}/sql");
    api.post(&sql, json!({ "query": "select note::int from obs_items where id = 3" })).await.expect(422);
    api.post(&sql, json!({ "query": "select note::int from obs_items where id = 1000" })).await.expect(200);

    let path = format!("/databases/{id}/observability");
    let o = eventually("the tenant's statements and a rate", Duration::from_secs(30), || async {
        // Transactions keep coming, so two samples a second apart differ.
        c.query("select count(*) from obs_items", &[]).await.expect("count");
        let r = api.get(&path).await;
        r.expect(200);
        let o = r.data().clone();
        let sampled = o["samples"].as_array().is_some_and(|s| {
            s.iter().any(|x| x["query"].as_str().is_some_and(|q| q.contains("from obs_items where id = $1")))
        });
        (sampled && o["summary"]["tps"].as_f64().is_some_and(|t| t > 0.0)).then_some(o)
    })
    .await;
    let summary = &o["summary"];
    assert!(summary["database_storage_bytes"].as_i64().is_some_and(|b| b > 1_000_000), "{o}");
    assert!(summary["active_connections"].as_i64().is_some_and(|n| n >= 0), "{o}");
    assert!(summary["latency_avg_ms"].as_f64().is_some_and(|l| l >= 0.0), "{o}");
    assert!(summary["latency_p99_ms"].as_f64().is_some_and(|l| l >= 0.0), "{o}");
    let samples = o["samples"].as_array().expect("samples");
    let select = samples
        .iter()
        .find(|x| x["query"].as_str().is_some_and(|q| q.contains("from obs_items where id = $1")))
        .expect("the tenant's select");
    // Its calls: all 20 on a quiet host; fewer when the whole suite's databases overflow
    // pg_stat_statements' table (`pg_stat_statements.max`), which evicts and starts over.
    assert!(select["sample_count"].as_i64() >= Some(1), "{select}");
    let max = select["latency_max_ms"].as_f64().expect("max");
    let p99 = select["latency_p99_ms"].as_f64().expect("p99");
    assert!(p99 <= max + 1e-9 && select["latency_avg_ms"].as_f64() <= Some(max + 1e-9), "{select}");
    let cast = samples
        .iter()
        .find(|x| x["query"].as_str().is_some_and(|q| q.contains("note::int")))
        .unwrap_or_else(|| panic!("the SQL route's statement: {samples:?}"));
    assert_eq!(cast["error_count"], 1, "{cast}");
    for x in samples {
        let q = x["query"].as_str().expect("query").to_lowercase();
        // pg_dump's and the checksums' catalog reads all name pg_catalog; the tenant's do not.
        assert!(!q.contains("pg_catalog") && !q.starts_with("copy "), "a platform statement is sampled: {q}");
        // The SQL route's session settings (set in the session when it comes from PgBouncer).
        assert!(!q.contains("berth") && !q.contains("statement_timeout"), "a platform statement is sampled: {q}");
    }
    assert!(!o.to_string().contains(d["password"].as_str().expect("pw")));

    // The history: points from the worker's samples, rates between them.
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let metrics = format!("/databases/{id}/metrics?since={}", since.replace('+', "%2B"));
    let history = eventually("two points of history", Duration::from_secs(30), || async {
        let r = api.get(&metrics).await;
        r.expect(200);
        let h = r.data()["history"].as_array().cloned().unwrap_or_default();
        (h.len() >= 2 && h.iter().any(|p| p["tps"].as_f64().is_some_and(|t| t > 0.0))).then_some(h)
    })
    .await;
    assert!(history.windows(2).all(|w| w[0]["at"].as_str() < w[1]["at"].as_str()), "oldest first");
    assert!(history.iter().all(|p| p["size_bytes"].as_i64().is_some_and(|b| b > 1_000_000)));
    api.get(&format!("/databases/{id}/metrics?since=yesterday")).await.expect_error(400, "INVALID_REQUEST");

    // A viewer sees the numbers, not the statements.
    let viewer = Api::new_user().await;
    let email = viewer.email().await;
    api.post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": "viewer" })).await.expect(201);
    let seen = viewer.get(&path).await;
    seen.expect(200);
    assert!(seen.data()["samples"].is_null() && seen.data()["summary"]["database_storage_bytes"].is_i64());
    Api::new_user().await.get(&path).await.expect_error(404, "DATABASE_NOT_FOUND");
}

/// Samples past the retention (25 h) are forgotten by the worker's next round.
#[tokio::test]
async fn old_samples_are_forgotten() {
    let store = app().store();
    let db = domain::DatabaseId(uuid::Uuid::now_v7());
    let old = eventstore::samples::Sample {
        at: chrono::Utc::now() - chrono::Duration::hours(30),
        transactions: 1,
        calls: 1,
        exec_ms: 1.0,
        active_connections: 0,
        size_bytes: 1,
    };
    let recent = eventstore::samples::Sample { at: chrono::Utc::now() - chrono::Duration::hours(20), ..old.clone() };
    store.record_samples(&[(db, old), (db, recent)]).await.expect("records");
    let epoch = chrono::DateTime::UNIX_EPOCH;
    let left = eventually("the old sample to go", Duration::from_secs(30), || async {
        let left = store.samples(db, epoch, 10).await.expect("reads");
        (left.len() == 1).then_some(left)
    })
    .await;
    assert!(left[0].at > chrono::Utc::now() - chrono::Duration::hours(21), "the recent one stays: {left:?}");
}

async fn boom() -> HttpResponse {
    HttpResponse::InternalServerError().finish()
}

#[actix_web::test]
async fn a_burst_of_server_errors_opens_an_incident_that_quiet_resolves() {
    let config = api::ApiConfig {
        error_burst: api::error_burst::BurstConfig {
            threshold: 3,
            window: Duration::from_secs(30),
            quiet: Duration::from_millis(500),
        },
        ..api::ApiConfig::default()
    };
    let state = web::Data::new(api::AppState::new(app().store(), config).await.expect("api state"));
    let svc = test::init_service(
        App::new()
            .wrap(actix_web::middleware::from_fn(api::request_id::middleware))
            .app_data(state.clone())
            .route("/boom", web::get().to(boom))
            .route("/fine", web::get().to(HttpResponse::Ok)),
    )
    .await;
    let open_api_errors = || async {
        let r = Api::new(Some(&app().admin_key)).get("/admin/incidents?kind=api_errors&resource=api&state=open").await;
        r.body["data"].as_array().and_then(|a| a.first().cloned())
    };
    for _ in 0..2 {
        test::call_service(&svc, test::TestRequest::get().uri("/boom").to_request()).await;
    }
    // Nothing says a report will not come (it is sent from a task of its own): no incident
    // throughout a window.
    consistently("two errors are not a burst", Duration::from_millis(200), || async {
        open_api_errors().await.is_none()
    })
    .await;
    // Taken before the last error: the quiet period runs from the last error, so at least as
    // long has passed since this when it ends.
    let before_last_error = std::time::Instant::now();
    for _ in 0..2 {
        test::call_service(&svc, test::TestRequest::get().uri("/boom").to_request()).await;
    }
    let inc = eventually("an api_errors incident", Duration::from_secs(10), || async {
        open_api_errors().await.filter(|i| i["occurrences"].as_i64() >= Some(2))
    })
    .await;
    assert_eq!(inc["resource"]["type"], "api");

    // Fine answers resolve it once the quiet period (500 ms) has passed since the last error.
    eventually("the quiet period to resolve it", Duration::from_secs(10), || async {
        test::call_service(&svc, test::TestRequest::get().uri("/fine").to_request()).await;
        open_api_errors().await.is_none()
    })
    .await;
    assert!(before_last_error.elapsed() >= Duration::from_millis(500), "resolved before the quiet period");
}
