//! `berth audit replay` on a busy platform with a long log: exact while creates, key changes
//! and backups are in flight, and no pause of job dispatch while it runs. A binary of its own:
//! it puts 100,000 events (`BERTH_REPLAY_LOAD_EVENTS` to change) into its platform's log,
//! which every other test's platform is better off without.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::{app, eventually, unique_name, Api};
use serde_json::json;

/// Writes `n` events on `bench-…` streams (no read model), 100 per stream, in one statement.
async fn seed(url: &str, n: i64) {
    let c = integration_tests::connect(url).await.expect("control plane");
    let run = uuid::Uuid::new_v4().simple().to_string();
    c.execute(
        "insert into events (stream_id, version, event_id, type, schema_version, data, metadata, occurred_at)
         select 'bench-load-' || $1 || '-' || (g / 100), g % 100 + 1, gen_random_uuid(), 'BenchEventRecorded', 1,
                jsonb_build_object('n', g, 'pad', repeat('x', 200)),
                '{\"actor\":{\"user_id\":null,\"api_key_id\":null}}', now()
         from generate_series(0, $2::bigint - 1) g",
        &[&run, &n],
    )
    .await
    .expect("seeding the log");
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One provisioning as the user sees it: POST /databases until the database is running.
struct Provisioned {
    started: Instant,
    finished: Instant,
}

impl Provisioned {
    fn ms(&self) -> f64 {
        (self.finished - self.started).as_secs_f64() * 1000.0
    }
}

/// Creates a database, makes and revokes a key for it, and starts a backup of it, until
/// `stop`; records every provisioning.
async fn load(stop: Arc<AtomicBool>, log: Arc<Mutex<Vec<Provisioned>>>) {
    let mut api = Api::new_user().await;
    let mut made = 0;
    while !stop.load(Ordering::Relaxed) {
        if made > 0 && made % 20 == 0 {
            api = Api::new_user().await;
        }
        made += 1;
        let started = Instant::now();
        let db = api.create_running(&unique_name("load")).await;
        log.lock().expect("log").push(Provisioned { started, finished: Instant::now() });
        let id = db["id"].as_str().expect("id").to_owned();
        let (key, _) = api.create_key(json!({ "label": "load", "scope": "selected", "database_ids": [id] })).await;
        api.delete(&format!("/api-keys/{key}")).await.expect(204);
        let r = api.post(&format!("/databases/{id}/backups"), json!({ "label": "load" })).await;
        r.expect(202);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_exact_under_load_and_never_holds_back_job_dispatch() {
    let events: i64 = std::env::var("BERTH_REPLAY_LOAD_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let h = app();
    let store = h.store();
    seed(&h.control_url, events).await;
    // The consumers read through the seeded events first (the audit consumer chains them).
    let caught_up = Instant::now();
    eventually("the consumers to catch up with the seeded log", Duration::from_secs(300), || async {
        let audit = store.consumer_lag(eventstore::audit::CONSUMER).await.expect("lag");
        let dispatch = store.consumer_lag(worker::dispatch::CONSUMER).await.expect("lag");
        (audit == 0 && dispatch == 0).then_some(())
    })
    .await;
    eprintln!("consumers caught up with {events} seeded events in {:.1}s", caught_up.elapsed().as_secs_f64());

    // Provisioning with no replay running, for comparison.
    let quiet = Arc::new(Mutex::new(Vec::new()));
    {
        let api = Api::new_user().await;
        for _ in 0..5 {
            let started = Instant::now();
            api.create_running(&unique_name("quiet")).await;
            quiet.lock().expect("log").push(Provisioned { started, finished: Instant::now() });
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let busy = Arc::new(Mutex::new(Vec::new()));
    let loader = tokio::spawn(load(stop.clone(), busy.clone()));
    // What every consumer reads up to: the oldest transaction id still running. Sampled all
    // along, with a write of its own each time so there is always something newer.
    let xmins = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (stop, xmins, url) = (stop.clone(), xmins.clone(), h.control_url.clone());
        tokio::spawn(async move {
            let c = integration_tests::connect(&url).await.expect("control plane");
            while !stop.load(Ordering::Relaxed) {
                c.batch_execute("select pg_current_xact_id()").await.expect("a write");
                let x: String = c
                    .query_one("select pg_snapshot_xmin(pg_current_snapshot())::text", &[])
                    .await
                    .expect("xmin")
                    .get(0);
                xmins.lock().expect("samples").push((Instant::now(), x.parse::<u64>().expect("xid")));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    eventually("the load to start", Duration::from_secs(60), || async {
        (!busy.lock().expect("log").is_empty()).then_some(())
    })
    .await;
    // Replays back to back, while the load runs, until enough provisionings ran among them.
    let campaign = Instant::now();
    let mut replays = Vec::new();
    loop {
        let started = Instant::now();
        let mut out = Vec::new();
        let clean = ops::audit::replay(&store, &mut out).await.expect("replay runs");
        let report = String::from_utf8_lossy(&out).into_owned();
        assert!(clean, "replay under load found differences:\n{report}");
        replays.push((started, Instant::now()));
        let inside = busy.lock().expect("log").iter().filter(|p| p.started >= campaign).count();
        if (replays.len() >= 5 && inside >= 5) || campaign.elapsed() > Duration::from_secs(90) {
            break;
        }
    }
    let campaign_end = Instant::now();
    stop.store(true, Ordering::Relaxed);
    loader.await.expect("the load ran without failing");
    sampler.await.expect("the sampler ran");

    // While each replay ran, the horizon consumers read up to kept moving: the replay held
    // no transaction id back.
    let xmins = xmins.lock().expect("samples");
    for (s, e) in &replays {
        let during: Vec<u64> = xmins.iter().filter(|(t, _)| t > s && t < e).map(|(_, x)| *x).collect();
        if during.len() >= 2 {
            assert!(
                during.last() > during.first(),
                "the oldest running transaction id stood still for a whole replay ({:?}): {during:?}",
                *e - *s
            );
        }
    }
    let checked = replays.iter().filter(|(s, e)| xmins.iter().filter(|(t, _)| t > s && t < e).count() >= 2).count();
    assert!(checked >= 3, "too few samples during the replays to tell ({checked} replays sampled)");

    let quiet_ms = median(&mut quiet.lock().expect("log").iter().map(Provisioned::ms).collect::<Vec<_>>());
    let busy = busy.lock().expect("log");
    let mut during: Vec<f64> =
        busy.iter().filter(|p| p.started >= campaign && p.finished <= campaign_end).map(Provisioned::ms).collect();
    let max_during = during.iter().copied().fold(0.0, f64::max);
    let mut replay_s: Vec<f64> = replays.iter().map(|(s, e)| (*e - *s).as_secs_f64()).collect();
    eprintln!(
        "provisioning (POST /databases until running): quiet median {quiet_ms:.0} ms; during {} back-to-back \
         replays of {events}+ events (median {:.2} s each): {} provisionings, median {:.0} ms, max {max_during:.0} ms",
        replays.len(),
        median(&mut replay_s),
        during.len(),
        median(&mut during),
    );
    assert!(!during.is_empty(), "no provisioning completed during the replays");
}
