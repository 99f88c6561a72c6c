//! What operators and users can observe: Prometheus metrics, per-database metrics and
//! schema, and `api_errors` incidents from bursts of 5xx.

use std::time::Duration;

use actix_web::{test, web, App, HttpResponse};
use integration_tests::{app, connect, consistently, eventually, unique_name, Api};

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
