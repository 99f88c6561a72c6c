//! System incidents: opened by watchdogs and failures, bumped on repeats, resolved when the
//! condition clears or by an operator; readable by platform admins only.

use std::time::Duration;

use domain::{HostEvent, HostId, StreamId};
use eventstore::incidents::IncidentReport;
use eventstore::{ExpectedVersion, Metadata, StoredEvent};
use integration_tests::{app, eventually, Api};
use serde_json::Value;

fn admin() -> Api {
    Api::new(Some(&app().admin_key))
}

/// The incidents an admin sees for `query`.
async fn incidents(query: &str) -> Vec<Value> {
    let r = admin().get(&format!("/admin/incidents?{query}")).await;
    r.expect(200);
    r.body["data"].as_array().expect("array").clone()
}

#[tokio::test]
async fn only_platform_admins_read_and_resolve_incidents() {
    let user = Api::new_user().await;
    user.get("/admin/incidents").await.expect_error(403, "FORBIDDEN");
    user.post("/admin/incidents/inc_01J00000000000000000000000/resolve", serde_json::json!({}))
        .await
        .expect_error(403, "FORBIDDEN");
    Api::new(None).get("/admin/incidents").await.expect_error(401, "UNAUTHENTICATED");
    admin().get("/admin/incidents").await.expect(200);
    admin().get("/admin/incidents?state=maybe").await.expect_error(400, "INVALID_REQUEST");
    admin()
        .post("/admin/incidents/inc_01J00000000000000000000000/resolve", serde_json::json!({}))
        .await
        .expect_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn repeats_bump_one_incident_and_an_operator_resolves_it() {
    let store = app().store();
    let kind = format!("test_{}", uuid::Uuid::new_v4().simple());
    let resource = format!("db_{}", uuid::Uuid::new_v4().simple());
    for _ in 0..3 {
        let r = IncidentReport {
            kind: &kind,
            severity: "warning",
            resource_type: "database",
            resource_id: &resource,
            summary: "it broke",
        };
        store.report_incident(&r).await.expect("report");
    }
    let open = incidents(&format!("kind={kind}&state=open")).await;
    assert_eq!(open.len(), 1, "one incident, bumped: {open:?}");
    let inc = &open[0];
    assert_eq!(inc["occurrences"], 3);
    assert_eq!(inc["severity"], "warning");
    assert_eq!(inc["resource"], serde_json::json!({ "type": "database", "id": resource }));
    assert!(inc["id"].as_str().is_some_and(|i| i.starts_with("inc_")));
    assert!(inc["resolved_at"].is_null());

    let id = inc["id"].as_str().expect("id");
    let r = admin().post(&format!("/admin/incidents/{id}/resolve"), serde_json::json!({})).await;
    r.expect(200);
    assert_eq!(r.data()["state"], "resolved");
    assert!(r.data()["resolved_at"].is_string());
    admin().post(&format!("/admin/incidents/{id}/resolve"), serde_json::json!({})).await.expect(200);
    assert!(incidents(&format!("kind={kind}&state=open")).await.is_empty());
    assert_eq!(incidents(&format!("kind={kind}&state=resolved&resource={resource}")).await.len(), 1);
}

#[tokio::test]
async fn incidents_page_newest_first_by_cursor() {
    let store = app().store();
    let kind = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut ids = Vec::new();
    for i in 0..3 {
        let resource = format!("thing-{i}");
        let r = IncidentReport {
            kind: &kind,
            severity: "info",
            resource_type: "test",
            resource_id: &resource,
            summary: "x",
        };
        ids.push(domain::IncidentId(store.report_incident(&r).await.expect("report")).to_string());
    }
    let first = admin().get(&format!("/admin/incidents?kind={kind}&limit=2")).await;
    first.expect(200);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = admin().get(&format!("/admin/incidents?kind={kind}&limit=2&cursor={cursor}")).await;
    second.expect(200);
    let seen: Vec<&str> = first.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(second.body["data"].as_array().into_iter().flatten())
        .filter_map(|i| i["id"].as_str())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(seen, newest_first);
}

/// Forwards `port` to `target` until dropped.
async fn proxy(port: u16, target: u16) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the port is free again");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test]
async fn an_unreachable_host_opens_an_incident_that_resolves_when_it_answers_again() {
    let store = app().store();
    let real = &app().platform.host;
    // A host whose PgBouncer port has nothing listening (yet). Capacity 0: nothing is placed on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
    let id = HostId::new();
    let name = format!("flaky-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // A config dir of its own: the real PgBouncer's, shared, let another test's zero-grace
    // reconciler round "repair" this host by rendering its (empty) pool list over everyone's.
    let config_dir = app().platform.dir.join(&name);
    std::fs::create_dir_all(&config_dir).expect("a config dir");
    store
        .put_secret(&hostctl::host::superuser_secret_id(id), real.pg.superuser_password().as_bytes())
        .await
        .expect("s");
    store.put_secret(&hostctl::host::admin_secret_id(id), real.bouncer.admin_password().as_bytes()).await.expect("s");
    let event = HostEvent::HostRegistered {
        host_id: id,
        name: name.clone(),
        pg_host: real.pg.host().to_owned(),
        pg_port: real.pg.port(),
        superuser: real.pg.superuser().to_owned(),
        bouncer_host: "127.0.0.1".into(),
        bouncer_port: port,
        admin_user: real.bouncer.admin_user().to_owned(),
        config_dir: config_dir.display().to_string(),
        capacity: 0,
        engine: "postgres".into(),
        region: domain::DEFAULT_REGION.into(),
    };
    let new = [event.to_new().expect("encode")];
    store
        .append(StreamId::host(id).as_str(), ExpectedVersion::NoStream, &new, &Metadata::default(), &[])
        .await
        .expect("register");

    let query = format!("kind=host_unreachable&resource={id}");
    let open = eventually("a bumped host_unreachable incident", Duration::from_secs(30), || async {
        let open = incidents(&format!("{query}&state=open")).await;
        open.first().filter(|i| i["occurrences"].as_i64() >= Some(2)).cloned()
    })
    .await;
    assert_eq!(open["severity"], "critical");
    assert_eq!(open["resource"]["type"], "host");
    assert!(open["summary"].as_str().is_some_and(|s| s.contains(&name) && s.contains("pgbouncer")), "{open}");
    let metrics = Api::new(None).get_text("/metrics").await;
    assert!(metrics.contains(&format!("berth_host_reachable{{host=\"{name}\"}} 0")), "gauge says unreachable");

    let forward = proxy(port, real.bouncer.port()).await;
    let resolved = eventually("the incident to resolve itself", Duration::from_secs(30), || async {
        incidents(&format!("{query}&state=resolved")).await.first().cloned()
    })
    .await;
    assert!(resolved["resolved_at"].is_string());
    assert!(incidents(&format!("{query}&state=open")).await.is_empty());
    let metrics = Api::new(None).get_text("/metrics").await;
    assert!(metrics.contains(&format!("berth_host_reachable{{host=\"{name}\"}} 1")), "gauge says reachable");
    forward.abort();
}

/// A worker loop that panics is reported as an incident and started again, instead of
/// ending the worker with it (and every job after it, as a usage measurement racing a
/// deletion once did).
#[tokio::test]
async fn a_worker_loop_that_panics_is_reported_and_started_again() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let (store, _) = integration_tests::fresh_control_store("supervise").await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let counted = runs.clone();
    let supervised = worker::supervise::supervised("test_loop", store.clone(), shutdown, move || {
        let run = counted.fetch_add(1, Ordering::SeqCst);
        async move { assert!(run > 0, "the first run of the loop fails") }
    });
    tokio::time::timeout(Duration::from_secs(30), supervised)
        .await
        .expect("the loop was started again and ended")
        .expect("the supervisor ends with the loop");
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one panicked run, one that returned");
    let filter =
        eventstore::incidents::IncidentFilter { kind: Some("worker_task_panicked".into()), ..Default::default() };
    let found = store.incidents(&filter, 10).await.expect("incidents");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].resource_type.as_str(), found[0].resource_id.as_str()), ("worker", "test_loop"));
    assert!(found[0].summary.contains("the first run of the loop fails"), "{}", found[0].summary);
}
