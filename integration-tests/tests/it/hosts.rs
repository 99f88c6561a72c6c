//! Tenant hosts as operators run them: a second PostgreSQL host (its own cluster and
//! PgBouncer) in a region of its own; placement by region; the admin list with load,
//! version, free disk and last contact; cordon, drain, uncordon, remove, each in the admin's
//! activity; a host that stops answering marks its databases unavailable (state unchanged)
//! with an incident, and both clear when it is back.

use std::time::Duration;

use integration_tests::{app, connect, eventually, has_action, unique_name, Api};
use ops::local::{LocalHost, LocalHostOptions};
use serde_json::{json, Value};

fn admin() -> Api {
    Api::new(Some(&app().admin_key))
}

/// The host named `name` in the admin list.
async fn listed(name: &str) -> Option<Value> {
    let r = admin().get("/admin/hosts").await;
    r.expect(200);
    r.data().as_array().expect("hosts").iter().find(|h| h["name"] == name).cloned()
}

async fn wait_host(name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("host {name}: {what}"), Duration::from_secs(30), || async {
        match listed(name).await {
            Some(h) if pred(&h) => Ok(h),
            other => {
                let logs = integration_tests::fixtures::captured_logs();
                let seen: Vec<&str> = logs.lines().filter(|l| l.contains("watchdog")).rev().take(3).collect();
                Err(format!("{other:?} {seen:?}"))
            }
        }
    })
    .await
}

async fn available(api: &Api, id: &str) -> Value {
    api.get(&format!("/databases/{id}")).await.data()["available"].clone()
}

#[tokio::test]
async fn a_second_host_takes_its_regions_databases_and_is_cordoned_drained_and_removed() {
    let dir = ops::local::testing::scratch_dir("region-host").expect("a dir");
    let host = LocalHost::start(&dir, &LocalHostOptions::for_tests()).await.expect("a second host");
    let (name, region) = (unique_name("host"), unique_name("eu"));
    let store = app().store();
    let registered = ops::platform::register_local_host_in(&store, &name, (&region, 10), &host).await;
    let host_id = registered.expect("registered").to_string();
    let seen = wait_host(&name, "seen by the watchdog", |h| h["last_seen_at"].is_string()).await;
    assert_eq!((seen["region"].as_str(), seen["state"].as_str()), (Some(region.as_str()), Some("ready")), "{seen}");
    assert_eq!((seen["engine"].as_str(), seen["databases"].as_i64()), (Some("postgres"), Some(0)), "{seen}");
    assert!(seen["version"].as_str().is_some_and(|v| !v.is_empty()), "{seen}");
    assert!(seen["free_bytes"].as_i64().is_some_and(|b| b > 0), "{seen}");

    // A user's database in that region lands there, through that host's PgBouncer.
    let api = Api::new_user().await;
    let r = api.post("/databases", json!({ "name": unique_name("placed"), "region": region })).await;
    assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
    let id = r.data()["id"].as_str().expect("id").to_owned();
    api.wait_state(&id, "running").await;
    let url = r.data()["connection_string"].as_str().expect("url").to_owned();
    assert!(url.contains(&format!(":{}/", host.bouncer.port())), "on the region's host: {url}");
    connect(&url).await.expect("logs in").simple_query("select 1").await.expect("answers");
    assert_eq!(listed(&name).await.expect("listed")["databases"], 1);
    assert_eq!(available(&api, &id).await, json!(true));
    // Without a region: the default region's host, not this one.
    let other = api.create_running(&unique_name("default")).await;
    assert!(!other["connection_string"].as_str().expect("url").contains(&format!(":{}/", host.bouncer.port())));
    let r = api.post("/databases", json!({ "name": unique_name("nowhere"), "region": "atlantis" })).await;
    r.expect_error(400, "INVALID_REQUEST");
    assert!(r.body.to_string().contains("region"), "{}", r.body);
    // The served document lists the deployment's regions.
    let doc = Api::new(None).get("/api/v1/openapi.json").await;
    let regions = &doc.body["components"]["schemas"]["CreateDatabase"]["properties"]["region"]["enum"];
    assert!(regions.as_array().expect("an enum").contains(&json!(region)), "{regions}");

    // The host stops answering: an incident, its database unavailable (still running).
    host.stop().expect("stops the second host");
    let down = wait_host(&name, "unreachable", |h| h["state"] == "unreachable").await;
    assert!(down["last_seen_at"].is_string());
    eventually("the database to be unavailable", Duration::from_secs(30), || async {
        (available(&api, &id).await == json!(false)).then_some(())
    })
    .await;
    assert_eq!(api.get(&format!("/databases/{id}")).await.data()["state"], "running");
    let open = integration_tests::admin_incidents("host_unreachable", &host_id, "open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    let r = api.post("/databases", json!({ "name": unique_name("down"), "region": region })).await;
    r.expect_error(503, "UNAVAILABLE");
    // Back: reachable, the database available, the incident resolved.
    let host = LocalHost::start(&dir, &LocalHostOptions::for_tests()).await.expect("the host again");
    wait_host(&name, "ready again", |h| h["state"] == "ready").await;
    eventually("the database to be available", Duration::from_secs(30), || async {
        (available(&api, &id).await == json!(true)).then_some(())
    })
    .await;
    assert!(integration_tests::admin_incidents("host_unreachable", &host_id, "open").await.is_empty());

    // Cordoned: nothing new lands there; only admins may cordon.
    api.post(&format!("/admin/hosts/{host_id}/cordon"), json!({})).await.expect_error(403, "FORBIDDEN");
    let r = admin().post(&format!("/admin/hosts/{host_id}/cordon"), json!({})).await;
    r.expect(200);
    assert_eq!(r.data()["state"], "cordoned");
    let r = api.post("/databases", json!({ "name": unique_name("cordoned"), "region": region })).await;
    r.expect_error(503, "UNAVAILABLE");
    assert!(r.body.to_string().contains(&region), "{}", r.body);
    // The platform is full there, not failing: an incident of its own for the operators.
    let placement = format!("postgres:{region}");
    let open = integration_tests::admin_incidents("no_capacity", &placement, "open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    admin().post(&format!("/admin/hosts/{host_id}/uncordon"), json!({})).await.expect(200);
    let again = api.post("/databases", json!({ "name": unique_name("again"), "region": region })).await;
    assert!(again.status == 201 || again.status == 202, "{} {}", again.status, again.body);
    let again_id = again.data()["id"].as_str().expect("id").to_owned();
    api.wait_state(&again_id, "running").await;
    assert!(integration_tests::admin_incidents("no_capacity", &placement, "open").await.is_empty(), "resolved");

    // Draining: no placements; a host holding databases is not removed.
    let r = admin().post(&format!("/admin/hosts/{host_id}/drain"), json!({})).await;
    assert_eq!(r.data()["state"], "draining", "{}", r.body);
    admin().post(&format!("/admin/hosts/{host_id}/cordon"), json!({})).await.expect_error(409, "CONFLICT");
    let r = admin().delete(&format!("/admin/hosts/{host_id}")).await;
    r.expect_error(409, "CONFLICT");
    assert!(r.body.to_string().contains("holds 2 database"), "{}", r.body);
    for db in [&id, &again_id] {
        api.delete(&format!("/databases/{db}")).await.expect(202);
        api.wait_state(db, "deleted").await;
    }
    admin().delete(&format!("/admin/hosts/{host_id}")).await.expect(204);
    assert!(listed(&name).await.is_none(), "a removed host is not listed");
    admin().post(&format!("/admin/hosts/{host_id}/uncordon"), json!({})).await.expect_error(404, "NOT_FOUND");
    api.post("/databases", json!({ "name": unique_name("gone"), "region": region }))
        .await
        .expect_error(400, "INVALID_REQUEST");

    // Each change is in the acting admin's activity.
    let acts = admin().wait_activity("/activity", |e| has_action(e, "host.remove")).await;
    for action in ["host.cordon", "host.uncordon", "host.drain", "host.remove"] {
        let entry = acts.data().as_array().expect("entries").iter().find(|e| e["action"] == action).cloned();
        let entry = entry.unwrap_or_else(|| panic!("{action} in {}", acts.body));
        assert_eq!(entry["resource"]["type"], "host");
        assert_eq!(entry["resource"]["name"], name.as_str());
    }
    host.stop().expect("stops");
}

/// Concurrent creates in a region whose one host has two free slots: exactly two are
/// placed, the rest are told no host has capacity — the slot is checked under the host's
/// lock in each create's own transaction, not only when the host was chosen.
#[tokio::test]
async fn concurrent_creates_never_overfill_a_host() {
    let dir = ops::local::testing::scratch_dir("small-host").expect("a dir");
    let host = LocalHost::start(&dir, &LocalHostOptions::for_tests()).await.expect("a small host");
    let (name, region) = (unique_name("small"), unique_name("tiny"));
    ops::platform::register_local_host_in(&app().store(), &name, (&region, 2), &host).await.expect("registered");
    let api = Api::new_user().await;
    let creates =
        (0..6).map(|i| {
            let (api, region) = (api.clone(), region.clone());
            async move {
                api.post("/databases", json!({ "name": unique_name(&format!("race{i}")), "region": region })).await
            }
        });
    let answers = futures::future::join_all(creates).await;
    let placed: Vec<&integration_tests::Resp> = answers.iter().filter(|r| r.status == 201 || r.status == 202).collect();
    let full = answers.iter().filter(|r| r.status == 503 && r.code() == "UNAVAILABLE").count();
    assert_eq!((placed.len(), full), (2, 4), "{answers:#?}");
    for r in &placed {
        assert!(r.data()["connection_string"]
            .as_str()
            .is_some_and(|u| u.contains(&format!(":{}/", host.bouncer.port()))));
    }
    assert_eq!(listed(&name).await.expect("listed")["databases"], 2);
    for r in placed {
        let id = r.data()["id"].as_str().expect("id");
        api.wait_state(id, "running").await;
        api.delete(&format!("/databases/{id}")).await.expect(202);
        api.wait_state(id, "deleted").await;
    }
    host.stop().expect("stops");
}
