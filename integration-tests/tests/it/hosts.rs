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

    // Each change is in the acting admin's activity (other tests change other hosts).
    let mine = |e: &Value, action: &str| e["action"] == action && e["resource"]["name"] == name.as_str();
    let acts = admin().wait_activity("/activity", |es| es.iter().any(|e| mine(e, "host.remove"))).await;
    for action in ["host.cordon", "host.uncordon", "host.drain", "host.remove"] {
        let entry = acts.data().as_array().expect("entries").iter().find(|e| mine(e, action)).cloned();
        let entry = entry.unwrap_or_else(|| panic!("{action} in {}", acts.body));
        assert_eq!(entry["resource"]["type"], "host");
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

/// Whether host `host`'s cluster has a database named `name` (asked as its superuser).
async fn has_database(host: &LocalHost, name: &str) -> bool {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host_path(host.pg.socket_dir())
        .port(host.pg.port())
        .user(host.pg.superuser())
        .password(host.pg.superuser_password())
        .dbname("postgres");
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.expect("the host's superuser logs in");
    tokio::spawn(conn);
    let row = client.query_one("select count(*) from pg_database where datname = $1", &[&name]).await.expect("asks");
    row.get::<_, i64>(0) == 1
}

/// Logs in with `url` from the local address `source` (`integration_tests::connect_from`).
async fn login_from(source: &str, url: &str) -> Result<tokio_postgres::Client, String> {
    integration_tests::connect_from(source.parse().map_err(|e| format!("source: {e}"))?, url).await
}

/// The one address the moving database's allowlist admits.
const ALLOWED: &str = "127.0.0.2";

/// What a writer saw: the ids whose INSERT committed (the client got the commit), and the
/// longest time between two commits.
struct Written {
    committed: Vec<i64>,
    longest_gap: Duration,
}

/// Inserts rows one transaction at a time through `url` until `stop`, reconnecting (every
/// 50 ms) whenever the connection is dropped, as an application's pool does.
async fn write_until(url: String, stop: tokio::sync::watch::Receiver<bool>) -> Written {
    let (mut committed, mut longest_gap) = (Vec::new(), Duration::ZERO);
    let mut last = std::time::Instant::now();
    let mut client: Option<tokio_postgres::Client> = None;
    let mut next = 1i64;
    while !*stop.borrow() {
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            client = login_from(ALLOWED, &url).await.ok();
        }
        let Some(c) = &client else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        match c.execute("insert into ledger (id) values ($1)", &[&next]).await {
            Ok(_) => {
                committed.push(next);
                longest_gap = longest_gap.max(last.elapsed());
                last = std::time::Instant::now();
            }
            Err(_) => client = None,
        }
        next += 1;
    }
    Written { committed, longest_gap }
}

/// An operator moves a database between two hosts of a region while an application writes
/// to it: every committed row is on the new host, the connection string users hold (and the
/// database user's, and its allowlist) keeps working through the old host's pooler, grants
/// and objects came along, the old copy is gone, and the move is in the activity. Draining
/// the new host then moves it back.
#[tokio::test]
async fn a_database_moves_between_hosts_under_writes_keeping_its_connection_strings() {
    let (dir_a, dir_b) = (
        ops::local::testing::scratch_dir("move-a").expect("a dir"),
        ops::local::testing::scratch_dir("move-b").expect("a dir"),
    );
    let options = LocalHostOptions::for_tests();
    let (a, b) =
        tokio::try_join!(LocalHost::start(&dir_a, &options), LocalHost::start(&dir_b, &options)).expect("two hosts");
    let region = unique_name("mv");
    let store = app().store();
    let (name_a, name_b) = (unique_name("move-a"), unique_name("move-b"));
    let id_a = ops::platform::register_local_host_in(&store, &name_a, (&region, 10), &a).await.expect("a").to_string();
    let id_b = ops::platform::register_local_host_in(&store, &name_b, (&region, 10), &b).await.expect("b").to_string();
    for name in [&name_a, &name_b] {
        wait_host(name, "seen by the watchdog", |h| h["last_seen_at"].is_string()).await;
    }

    let api = Api::new_user().await;
    let db_name = unique_name("moving");
    let r = api.post("/databases", json!({ "name": db_name, "region": region })).await;
    assert!(r.status == 201 || r.status == 202, "{} {}", r.status, r.body);
    let id = r.data()["id"].as_str().expect("id").to_owned();
    api.wait_state(&id, "running").await;
    let url = r.data()["connection_string"].as_str().expect("url").to_owned();
    let (from, from_id, to, to_id) =
        if url.contains(&format!(":{}/", a.bouncer.port())) { (&a, &id_a, &b, &id_b) } else { (&b, &id_b, &a, &id_a) };
    let owner = connect(&url).await.expect("the owner logs in");
    owner
        .batch_execute(
            "create table ledger (id bigint primary key, at timestamptz not null default now());
             create table notes (id serial primary key, body text);
             insert into notes (body) select 'note ' || g from generate_series(1, 500) g;
             create view recent as select * from ledger order by id desc limit 10;
             create function double(x int) returns int language sql immutable as 'select x * 2';",
        )
        .await
        .expect("the owner's schema");
    // A database user with a grant of its own, and an allowlist admitting one address.
    let user = api.post(&format!("/databases/{id}/users"), json!({ "username": "reader" })).await;
    assert!(user.status == 201 || user.status == 202, "{}", user.body);
    let user_url = user.data()["connection_string"].as_str().expect("url").to_owned();
    owner.batch_execute(&format!("grant select on notes to \"{db_name}.reader\"")).await.expect("grants");
    wait_login_ok(&user_url).await;
    let rule = api.post(&format!("/databases/{id}/allowlist"), json!({ "cidr": "127.0.0.2/32" })).await;
    assert!(rule.status == 201 || rule.status == 202, "{}", rule.body);
    integration_tests::eventually("the allowlist to hold", Duration::from_secs(20), || async {
        match (login_from("127.0.0.2", &url).await, login_from("127.0.0.3", &url).await) {
            (Ok(_), Err(_)) => Ok(()),
            other => Err(format!("{:?}", (other.0.err(), other.1.is_ok()))),
        }
    })
    .await;

    // An application writes through the connection string while the database moves.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(write_until(url.clone(), stopped));
    integration_tests::eventually("the writer to commit", Duration::from_secs(20), || async {
        let n: i64 = owner.query_one("select count(*) from ledger", &[]).await.map_err(|e| e.to_string())?.get(0);
        (n >= 20).then_some(()).ok_or(format!("{n} rows"))
    })
    .await;
    api.post(&format!("/admin/databases/{id}/move"), json!({ "host_id": to_id })).await.expect_error(403, "FORBIDDEN");
    let r = admin().post(&format!("/admin/databases/{id}/move"), json!({ "host_id": to_id })).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let operation = r.data()["operation_id"].as_str().expect("an operation").to_owned();
    admin()
        .post(&format!("/admin/databases/{id}/move"), json!({ "host_id": to_id }))
        .await
        .expect_error(409, "CONFLICT");
    let op = api.wait_operation(&operation).await;
    if op["state"] != "succeeded" {
        let logs = integration_tests::fixtures::captured_logs();
        let said: Vec<&str> = logs.lines().filter(|l| l.contains("move") || l.contains("job attempt failed")).collect();
        panic!("the move failed: {op}\n{}", said.join("\n"));
    }
    assert_eq!(op["kind"], "move");
    // A little more writing after the move, then the writer stops.
    let before: i64 = login_from(ALLOWED, &url)
        .await
        .expect("logs in")
        .query_one("select max(id) from ledger", &[])
        .await
        .expect("max")
        .get(0);
    integration_tests::eventually("writes after the move", Duration::from_secs(20), || async {
        let c = login_from(ALLOWED, &url).await.map_err(|e| e.to_string())?;
        let n: i64 = c.query_one("select max(id) from ledger", &[]).await.map_err(|e| e.to_string())?.get(0);
        (n > before + 20).then_some(()).ok_or(format!("max {n}"))
    })
    .await;
    stop.send(true).expect("stops the writer");
    let written = writer.await.expect("the writer ends");
    eprintln!(
        "move under writes: {} commits, longest time between two commits {:?}",
        written.committed.len(),
        written.longest_gap
    );

    // Every committed row is there, read through the old connection string (forwarded).
    let old = login_from(ALLOWED, &url).await.expect("the old connection string still logs in");
    let ids: Vec<i64> =
        old.query("select id from ledger", &[]).await.expect("reads").iter().map(|r| r.get(0)).collect();
    let present: std::collections::HashSet<i64> = ids.into_iter().collect();
    let lost: Vec<&i64> = written.committed.iter().filter(|i| !present.contains(i)).collect();
    assert!(lost.is_empty(), "committed rows lost in the move: {lost:?}");
    let served_by: String =
        old.query_one("select current_setting('data_directory')", &[]).await.map(|r| r.get(0)).unwrap_or_default();
    assert!(served_by.is_empty() || !served_by.starts_with(&from.pg.data_dir().display().to_string()), "{served_by}");
    // Objects, data and grants came along; the new connection string names the new host.
    let n: i64 = old.query_one("select count(*) from notes", &[]).await.expect("notes").get(0);
    assert_eq!(n, 500);
    let d: i32 = old.query_one("select double(21)", &[]).await.expect("the function").get(0);
    assert_eq!(d, 42);
    old.query("select * from recent", &[]).await.expect("the view");
    let reader = login_from(ALLOWED, &user_url).await.expect("the user's connection string still logs in");
    let n: i64 = reader.query_one("select count(*) from notes", &[]).await.expect("its grant came along").get(0);
    assert_eq!(n, 500);
    let now = api.get(&format!("/databases/{id}/credentials")).await;
    let new_url = now.data()["connection_string"].as_str().expect("url").to_owned();
    assert!(new_url.contains(&format!(":{}/", to.bouncer.port())), "{new_url}");
    login_from(ALLOWED, &new_url).await.expect("the new connection string logs in");
    // The allowlist holds at the old address, for forwarded clients too.
    login_from("127.0.0.2", &url).await.expect("the allowlisted address, through the old host");
    assert!(login_from("127.0.0.3", &url).await.is_err(), "another address is refused at the old host");
    assert!(login_from("127.0.0.3", &new_url).await.is_err(), "and at the new one");

    // The old copy is gone; the hosts count the database where it is.
    assert!(!has_database(from, &db_name).await, "the old host's copy was dropped");
    assert!(has_database(to, &db_name).await);
    let from_name = if from_id == &id_a { &name_a } else { &name_b };
    let to_name = if to_id == &id_a { &name_a } else { &name_b };
    assert_eq!(listed(from_name).await.expect("listed")["databases"], 0);
    assert_eq!(listed(to_name).await.expect("listed")["databases"], 1);
    // The orphan reconciler agrees: the old host's pool is a forward it expects, nothing of
    // the database is left over on either host.
    let findings = integration_tests::reconciler(Duration::ZERO).reconcile_once().await.expect("a round");
    let ours: Vec<_> =
        findings.iter().filter(|f| f.resource == id || f.resource == *from_id || f.resource == *to_id).collect();
    assert!(ours.is_empty(), "{ours:?}");
    let acts = api.wait_activity(&format!("/databases/{id}/activity"), |e| has_action(e, "database.move")).await;
    let entry = acts.data().as_array().expect("entries").iter().find(|e| e["action"] == "database.move").cloned();
    assert_eq!(entry.expect("a move entry")["details"]["to_host_id"], json!(to_id));

    // Draining the new host moves the database back; the first connection string still works.
    let r = admin().post(&format!("/admin/hosts/{to_id}/drain"), json!({})).await;
    assert_eq!(r.data()["state"], "draining", "{}", r.body);
    wait_host(to_name, "emptied by the drain", |h| h["databases"] == 0).await;
    integration_tests::eventually("the database back on its first host", Duration::from_secs(60), || async {
        let creds = api.get(&format!("/databases/{id}/credentials")).await;
        let url = creds.data()["connection_string"].as_str().unwrap_or_default().to_owned();
        let op = api.get(&format!("/databases/{id}")).await.data()["operation_id"].clone();
        (url.contains(&format!(":{}/", from.bouncer.port())) && op.is_null()).then_some(()).ok_or(url)
    })
    .await;
    let back = login_from(ALLOWED, &url).await.expect("the first connection string");
    let n: i64 = back
        .query_one("select count(*) from ledger where id = any($1)", &[&written.committed])
        .await
        .expect("reads")
        .get(0);
    assert_eq!(n, written.committed.len() as i64, "every committed row came back too");
    // A new password reaches the forwarding pooler too: the string that names the host it
    // left (now forwarding back) logs in with it, and the old password no longer does.
    let reset = api.post(&format!("/databases/{id}/reset-password"), json!({})).await;
    assert!(reset.status == 200 || reset.status == 202, "{}", reset.body);
    if reset.status == 202 {
        api.wait_operation(reset.data()["operation_id"].as_str().expect("an operation")).await;
    }
    let password = reset.data()["password"].as_str().expect("a password").to_owned();
    let via_forward = format!("postgresql://{db_name}:{password}@127.0.0.1:{}/{db_name}", to.bouncer.port());
    integration_tests::eventually("the new password through the forward", Duration::from_secs(30), || async {
        login_from(ALLOWED, &via_forward).await.map(drop)
    })
    .await;
    assert!(login_from(ALLOWED, &new_url).await.is_err(), "the old password is refused through the forward");
    admin().delete(&format!("/admin/hosts/{to_id}")).await.expect(204);

    api.delete(&format!("/databases/{id}")).await.expect(202);
    api.wait_state(&id, "deleted").await;
    assert!(!has_database(from, &db_name).await && !has_database(to, &db_name).await);
    a.stop().expect("stops");
    b.stop().expect("stops");
}

/// What cannot be moved is refused with the code API.md gives.
#[tokio::test]
async fn moves_that_cannot_happen_are_refused() {
    let api = Api::new_user().await;
    let db = api.create_running(&unique_name("stay")).await;
    let id = db["id"].as_str().expect("id");
    let here = app().store().database(domain::DatabaseId::parse(id).expect("an id")).await.expect("its row").host_id;
    let r = admin().post(&format!("/admin/databases/{id}/move"), json!({ "host_id": here.to_string() })).await;
    r.expect_error(409, "CONFLICT");
    assert!(r.body.to_string().contains("already"), "{}", r.body);
    admin()
        .post(&format!("/admin/databases/{id}/move"), json!({ "host_id": "nope" }))
        .await
        .expect_error(404, "NOT_FOUND");
    admin().post(&format!("/admin/databases/{id}/move"), json!({})).await.expect_error(400, "INVALID_REQUEST");
    admin()
        .post("/admin/databases/db_01J00000000000000000000000/move", json!({ "host_id": here.to_string() }))
        .await
        .expect_error(404, "DATABASE_NOT_FOUND");
    // MariaDB has no pooler to forward through: its clients' strings would break.
    let maria = api.post("/databases", json!({ "name": unique_name("maria"), "engine": "mariadb" })).await;
    let maria_id = maria.data()["id"].as_str().expect("id").to_owned();
    api.wait_state(&maria_id, "running").await;
    let r = admin().post(&format!("/admin/databases/{maria_id}/move"), json!({ "host_id": here.to_string() })).await;
    r.expect_error(422, "UNPROCESSABLE");
    assert!(r.body.to_string().contains("MariaDB"), "{}", r.body);
}

async fn wait_login_ok(url: &str) {
    integration_tests::eventually("a login", Duration::from_secs(20), || async {
        connect(url).await.map(drop).map_err(|e| e.to_string())
    })
    .await;
}

/// A move that cannot be completed leaves the database where it was, working: here the
/// tenant granted a right to a role that exists only on the old host (another tenant's
/// login there), so the copy with its grants cannot be made on the new host. The move fails
/// (an incident for the operators), the database is served as before, the new host keeps no
/// copy; once the tenant drops that grant, the move goes through. A tenant can stop only
/// its own database's move.
#[tokio::test]
async fn a_move_that_fails_leaves_the_database_where_it_was() {
    let (dir_a, dir_b) = (
        ops::local::testing::scratch_dir("fail-a").expect("a dir"),
        ops::local::testing::scratch_dir("fail-b").expect("a dir"),
    );
    let options = LocalHostOptions::for_tests();
    let (a, b) =
        tokio::try_join!(LocalHost::start(&dir_a, &options), LocalHost::start(&dir_b, &options)).expect("two hosts");
    let region = unique_name("mf");
    let store = app().store();
    let (name_a, name_b) = (unique_name("fail-a"), unique_name("fail-b"));
    ops::platform::register_local_host_in(&store, &name_a, (&region, 10), &a).await.expect("a");
    let id_b = ops::platform::register_local_host_in(&store, &name_b, (&region, 10), &b).await.expect("b").to_string();
    // Both databases on host a: b takes none while they are made.
    admin().post(&format!("/admin/hosts/{id_b}/cordon"), json!({})).await.expect(200);
    let api = Api::new_user().await;
    let mut made = Vec::new();
    for label in ["blocked", "neighbour"] {
        let r = api.post("/databases", json!({ "name": unique_name(label), "region": region })).await;
        assert!(r.status == 201 || r.status == 202, "{}", r.body);
        let id = r.data()["id"].as_str().expect("id").to_owned();
        api.wait_state(&id, "running").await;
        made.push((
            id,
            r.data()["name"].as_str().expect("name").to_owned(),
            r.data()["connection_string"].as_str().expect("url").to_owned(),
        ));
    }
    admin().post(&format!("/admin/hosts/{id_b}/uncordon"), json!({})).await.expect(200);
    let (id, _, url) = made[0].clone();
    let neighbour = made[1].1.clone();
    assert!(url.contains(&format!(":{}/", a.bouncer.port())), "{url}");
    let owner = connect(&url).await.expect("logs in");
    owner
        .batch_execute(&format!(
            "create table t (n int); insert into t values (1); grant select on t to \"{neighbour}\";"
        ))
        .await
        .expect("a grant to a role only host a has");

    let r = admin().post(&format!("/admin/databases/{id}/move"), json!({ "host_id": id_b })).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let op = api.wait_operation(r.data()["operation_id"].as_str().expect("an operation")).await;
    assert_eq!((op["kind"].as_str(), op["state"].as_str()), (Some("move"), Some("failed")), "{op}");
    assert!(op["error"].as_str().is_some_and(|e| e.contains("stays where it was")), "{op}");
    // Where it was, working (its pooler open again), nothing left on b, an incident open.
    let db = api.get(&format!("/databases/{id}")).await;
    assert_eq!(
        (db.data()["state"].as_str(), db.data()["operation_id"].is_null()),
        (Some("running"), true),
        "{}",
        db.body
    );
    // (The failure is recorded before the undo runs: both are waited for.)
    let c = eventually("the database to take logins again", Duration::from_secs(30), || async {
        connect(&url).await.map_err(|e| e.to_string())
    })
    .await;
    c.execute("insert into t values (2)", &[]).await.expect("and writes");
    eventually("the new host to keep no copy", Duration::from_secs(30), || async {
        (!has_database(&b, &made[0].1).await).then_some(())
    })
    .await;
    assert_eq!(listed(&name_b).await.expect("listed")["databases"], 0);
    eventually("an incident for the operators", Duration::from_secs(30), || async {
        (integration_tests::admin_incidents("job_failed", &id, "open").await.len() == 1).then_some(())
    })
    .await;

    // The tenant drops the grant: the move goes through.
    c.batch_execute(&format!("revoke select on t from \"{neighbour}\"")).await.expect("revokes");
    drop(c);
    let r = admin().post(&format!("/admin/databases/{id}/move"), json!({ "host_id": id_b })).await;
    let op = api.wait_operation(r.data()["operation_id"].as_str().expect("an operation")).await;
    assert_eq!(op["state"], "succeeded", "{op}");
    let n: i64 = connect(&url)
        .await
        .expect("the old string")
        .query_one("select count(*) from t", &[])
        .await
        .expect("reads")
        .get(0);
    assert_eq!(n, 2);
    for (id, _, _) in &made {
        api.delete(&format!("/databases/{id}")).await.expect(202);
        api.wait_state(id, "deleted").await;
    }
    a.stop().expect("stops");
    b.stop().expect("stops");
}
