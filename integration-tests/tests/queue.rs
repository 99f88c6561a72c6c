//! `worker::queue` against a real PostgreSQL: a database of its own per test on the shared
//! test cluster, and a cluster of its own for the test that restarts it.
//!
//! Run with `RUST_LOG=worker=debug cargo test -p integration-tests --test queue -- --nocapture`
//! to see the worker's logs and the measured pickup latency.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use integration_tests::eventually;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, Semaphore};
use uuid::Uuid;
use worker::queue::{self, Attempt, Handler, JobError, Queue, WorkerOptions};

/// A database of its own for one test, on the shared test cluster (`ops::local::testing`).
struct TestDb {
    url: String,
}

impl TestDb {
    async fn new() -> Self {
        let platform = ops::local::testing::shared().await;
        let name = format!("queue_{}", &Uuid::new_v4().simple().to_string()[..12]);
        platform.control.create_database_if_missing(&name).await.expect("test database");
        TestDb { url: platform.control.url(&name) }
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Behaviour {
    Succeed,
    /// `Retry` on the first `n` attempts, then succeed.
    FailTimes(u32),
    AlwaysRetry,
    Abort,
    /// Wait for a permit from `Recorder::gate`, then succeed.
    Block,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TestJob {
    id: u32,
    behaviour: Behaviour,
}

#[derive(Debug, Clone)]
struct Run {
    id: u32,
    attempt: Attempt,
    at: Instant,
}

struct Recorder {
    runs: Mutex<Vec<Run>>,
    exhausted: Mutex<Vec<(u32, String)>>,
    gate: Semaphore,
}

impl Default for Recorder {
    fn default() -> Self {
        Self { runs: Mutex::default(), exhausted: Mutex::default(), gate: Semaphore::new(0) }
    }
}

impl Recorder {
    fn runs_of(&self, id: u32) -> Vec<Run> {
        let runs = self.runs.lock().expect("runs lock");
        runs.iter().filter(|r| r.id == id).cloned().collect()
    }
    fn exhausted_of(&self, id: u32) -> Vec<String> {
        let ex = self.exhausted.lock().expect("exhausted lock");
        ex.iter().filter(|e| e.0 == id).map(|e| e.1.clone()).collect()
    }
}

#[async_trait::async_trait]
impl Handler<TestJob> for Recorder {
    async fn run(&self, job: TestJob, attempt: Attempt) -> Result<(), JobError> {
        self.runs.lock().expect("runs lock").push(Run { id: job.id, attempt, at: Instant::now() });
        match job.behaviour {
            Behaviour::Succeed => Ok(()),
            Behaviour::FailTimes(n) if attempt.number <= n => {
                Err(JobError::retry(format!("failure {}", attempt.number)))
            }
            Behaviour::FailTimes(_) => Ok(()),
            Behaviour::AlwaysRetry => Err(JobError::retry(format!("nope {}", attempt.number))),
            Behaviour::Abort => Err(JobError::abort("permanently broken")),
            Behaviour::Block => {
                self.gate.acquire().await.expect("gate open").forget();
                Ok(())
            }
        }
    }

    async fn exhausted(&self, job: TestJob, error: String) {
        self.exhausted.lock().expect("exhausted lock").push((job.id, error));
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn depth_is(queue: &Queue<TestJob>, n: i64) -> bool {
    queue.depth().await.expect("depth") == n
}

fn job(id: u32, behaviour: Behaviour) -> TestJob {
    TestJob { id, behaviour }
}

fn fast_opts() -> WorkerOptions {
    WorkerOptions {
        concurrency: 4,
        max_attempts: 5,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_secs(2),
        poll_interval: Duration::from_millis(50),
    }
}

struct RunningWorker {
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningWorker {
    fn start(queue: &Queue<TestJob>, handler: &Arc<Recorder>, opts: WorkerOptions) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(queue::run_worker(queue.clone(), handler.clone(), opts, async move {
            let _ = rx.await;
        }));
        Self { stop: Some(tx), handle }
    }

    fn signal_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    async fn shutdown(mut self) {
        self.signal_shutdown();
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("worker shuts down in time")
            .expect("worker task")
            .expect("run_worker result");
    }
}

async fn status_and_attempts(url: &str, queue: &str, key: Uuid) -> (String, i32) {
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    let row: (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM apalis.jobs WHERE job_type = $1 AND idempotency_key = $2")
            .bind(queue)
            .bind(key.to_string())
            .fetch_one(&pool)
            .await
            .expect("job row");
    pool.close().await;
    row
}

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_the_same_key_twice_runs_the_job_once() {
    init_tracing();
    let pg = TestDb::new().await;
    let queue = Queue::<TestJob>::connect(&pg.url, "dup").await.expect("connect");
    let other = Queue::<TestJob>::connect(&pg.url, "dup-other").await.expect("connect");
    let key = Uuid::now_v7();
    queue.push(key, job(1, Behaviour::Succeed)).await.expect("first push");
    queue.push(key, job(1, Behaviour::Succeed)).await.expect("second push is a no-op");
    assert_eq!(queue.depth().await.expect("depth"), 1);
    // The same key on another queue is a different job.
    other.push(key, job(2, Behaviour::Succeed)).await.expect("other queue");
    assert_eq!(other.depth().await.expect("depth"), 1);

    let recorder = Arc::new(Recorder::default());
    let worker = RunningWorker::start(&queue, &recorder, fast_opts());
    eventually("queue drained", WAIT, || depth_is(&queue, 0)).await;
    // Still a no-op after the job ran.
    queue.push(key, job(1, Behaviour::Succeed)).await.expect("third push");
    assert_eq!(queue.depth().await.expect("depth"), 0);
    worker.shutdown().await;

    assert_eq!(recorder.runs_of(1).len(), 1);
    assert!(recorder.runs_of(2).is_empty(), "other queue not consumed");
    assert_eq!(other.depth().await.expect("depth"), 1);
    assert_eq!(status_and_attempts(&pg.url, "dup", key).await, ("Done".to_owned(), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_twice_then_success_runs_three_times_with_backoff() {
    init_tracing();
    let pg = TestDb::new().await;
    let queue = Queue::<TestJob>::connect(&pg.url, "retry").await.expect("connect");
    let recorder = Arc::new(Recorder::default());
    let base = Duration::from_millis(200);
    let opts = WorkerOptions { backoff_base: base, ..fast_opts() };
    let worker = RunningWorker::start(&queue, &recorder, opts);
    let key = Uuid::now_v7();
    queue.push(key, job(7, Behaviour::FailTimes(2))).await.expect("push");
    eventually("three runs and a drained queue", WAIT, || async {
        recorder.runs_of(7).len() == 3 && depth_is(&queue, 0).await
    })
    .await;
    worker.shutdown().await;

    let runs = recorder.runs_of(7);
    let numbers: Vec<u32> = runs.iter().map(|r| r.attempt.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(runs.iter().all(|r| r.attempt.max == 5));
    let gap1 = runs[1].at - runs[0].at;
    let gap2 = runs[2].at - runs[1].at;
    assert!(gap1 >= base, "first backoff {gap1:?} < {base:?}");
    assert!(gap2 >= base * 2, "second backoff {gap2:?} < {:?}", base * 2);
    assert!(recorder.exhausted_of(7).is_empty());
    // apalis persisted the real attempt count.
    assert_eq!(status_and_attempts(&pg.url, "retry", key).await, ("Done".to_owned(), 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_failing_is_exhausted_once() {
    init_tracing();
    let pg = TestDb::new().await;
    let queue = Queue::<TestJob>::connect(&pg.url, "failing").await.expect("connect");
    let recorder = Arc::new(Recorder::default());
    let opts = WorkerOptions { max_attempts: 3, ..fast_opts() };
    let worker = RunningWorker::start(&queue, &recorder, opts);
    let key = Uuid::now_v7();
    queue.push(key, job(3, Behaviour::AlwaysRetry)).await.expect("push");
    eventually("exhausted and drained", WAIT, || async {
        !recorder.exhausted_of(3).is_empty() && depth_is(&queue, 0).await
    })
    .await;
    // Barrier: a later job runs to completion, so the worker is alive and has had every
    // chance to pick the failed job up again.
    queue.push(Uuid::now_v7(), job(4, Behaviour::Succeed)).await.expect("push");
    eventually("barrier job done", WAIT, || async { recorder.runs_of(4).len() == 1 && depth_is(&queue, 0).await })
        .await;
    worker.shutdown().await;

    let numbers: Vec<u32> = recorder.runs_of(3).iter().map(|r| r.attempt.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(recorder.exhausted_of(3), ["nope 3"]);
    assert_eq!(status_and_attempts(&pg.url, "failing", key).await, ("Killed".to_owned(), 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_is_exhausted_after_one_attempt() {
    init_tracing();
    let pg = TestDb::new().await;
    let queue = Queue::<TestJob>::connect(&pg.url, "abort").await.expect("connect");
    let recorder = Arc::new(Recorder::default());
    let worker = RunningWorker::start(&queue, &recorder, fast_opts());
    let key = Uuid::now_v7();
    queue.push(key, job(5, Behaviour::Abort)).await.expect("push");
    eventually("exhausted and drained", WAIT, || async {
        !recorder.exhausted_of(5).is_empty() && depth_is(&queue, 0).await
    })
    .await;
    queue.push(Uuid::now_v7(), job(6, Behaviour::Succeed)).await.expect("push");
    eventually("barrier job done", WAIT, || async { recorder.runs_of(6).len() == 1 && depth_is(&queue, 0).await })
        .await;
    worker.shutdown().await;

    assert_eq!(recorder.runs_of(5).len(), 1);
    assert_eq!(recorder.exhausted_of(5), ["permanently broken"]);
    assert_eq!(status_and_attempts(&pg.url, "abort", key).await, ("Killed".to_owned(), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_goes_to_zero_when_drained() {
    init_tracing();
    let pg = TestDb::new().await;
    let queue = Queue::<TestJob>::connect(&pg.url, "drain").await.expect("connect");
    for id in 0..25 {
        queue.push(Uuid::now_v7(), job(id, Behaviour::Succeed)).await.expect("push");
    }
    assert_eq!(queue.depth().await.expect("depth"), 25);
    let recorder = Arc::new(Recorder::default());
    let worker = RunningWorker::start(&queue, &recorder, fast_opts());
    eventually("queue drained", WAIT, || depth_is(&queue, 0)).await;
    worker.shutdown().await;
    for id in 0..25 {
        assert_eq!(recorder.runs_of(id).len(), 1, "job {id}");
    }
}

/// Median and max of push → handler start, pushing one job at a time onto an idle worker.
async fn pickup_latencies(queue: &Queue<TestJob>, recorder: &Arc<Recorder>, first_id: u32) -> (Duration, Duration) {
    let mut latencies = Vec::new();
    for i in 0..30 {
        let id = first_id + i;
        // Spread the pushes over the poll period.
        tokio::time::sleep(Duration::from_millis(20 + u64::from(i * 7 % 50))).await;
        let pushed = Instant::now();
        queue.push(Uuid::now_v7(), job(id, Behaviour::Succeed)).await.expect("push");
        eventually("job started", Duration::from_secs(30), || async { !recorder.runs_of(id).is_empty() }).await;
        latencies.push(recorder.runs_of(id)[0].at - pushed);
    }
    latencies.sort();
    (latencies[latencies.len() / 2], latencies[latencies.len() - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_picked_up_on_notify_not_on_the_next_poll() {
    init_tracing();
    let pg = TestDb::new().await;
    let queue = Queue::<TestJob>::connect(&pg.url, "latency").await.expect("connect");
    let recorder = Arc::new(Recorder::default());
    let mut results = HashMap::new();
    for (first_id, poll) in [(0, Duration::from_millis(50)), (1000, Duration::from_secs(30))] {
        let opts = WorkerOptions { poll_interval: poll, ..fast_opts() };
        let worker = RunningWorker::start(&queue, &recorder, opts);
        // Warm-up: the worker is registered and listening once this ran.
        queue.push(Uuid::now_v7(), job(first_id + 999, Behaviour::Succeed)).await.expect("push");
        eventually("warm-up job", WAIT, || async { !recorder.runs_of(first_id + 999).is_empty() }).await;
        let (median, max) = pickup_latencies(&queue, &recorder, first_id).await;
        println!("pickup latency with poll_interval {poll:?}: median {median:?}, max {max:?}");
        results.insert(poll, median);
        worker.shutdown().await;
    }
    for (poll, median) in results {
        // LISTEN/NOTIFY: even with a 30 s poll the median is milliseconds.
        assert!(median < Duration::from_millis(250), "median {median:?} with poll {poll:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_running_job() {
    init_tracing();
    let pg = TestDb::new().await;
    let queue = Queue::<TestJob>::connect(&pg.url, "graceful").await.expect("connect");
    let recorder = Arc::new(Recorder::default());
    let mut worker = RunningWorker::start(&queue, &recorder, fast_opts());
    queue.push(Uuid::now_v7(), job(1, Behaviour::Block)).await.expect("push");
    eventually("job running", WAIT, || async { !recorder.runs_of(1).is_empty() }).await;
    let pool = sqlx::PgPool::connect(&pg.url).await.expect("connect");
    let since = Instant::now();
    worker.signal_shutdown();
    // The draining worker keeps heart-beating (apalis alone does not), so the job is not
    // re-enqueued as an orphan if it outlives the orphan timeout.
    let beat_after_shutdown = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT w.last_seen > now() - make_interval(secs => $1) FROM apalis.workers w \
             JOIN apalis.jobs j ON j.lock_by = w.id WHERE j.job_type = 'graceful'",
        )
        .bind(since.elapsed().as_secs_f64() - 0.5)
        .fetch_one(&pool)
        .await
        .expect("worker row")
    };
    eventually("heartbeat while draining", WAIT, beat_after_shutdown).await;
    assert!(!worker.handle.is_finished(), "worker exited with a job running");
    recorder.gate.add_permits(1);
    worker.shutdown().await;
    assert_eq!(queue.depth().await.expect("depth"), 0, "job completed and acked");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_a_job_waiting_for_its_backoff() {
    init_tracing();
    let pg = TestDb::new().await;
    let queue = Queue::<TestJob>::connect(&pg.url, "release").await.expect("connect");
    let recorder = Arc::new(Recorder::default());
    let opts =
        WorkerOptions { backoff_base: Duration::from_secs(600), backoff_max: Duration::from_secs(600), ..fast_opts() };
    let worker = RunningWorker::start(&queue, &recorder, opts.clone());
    let key = Uuid::now_v7();
    queue.push(key, job(1, Behaviour::FailTimes(1))).await.expect("push");
    eventually("first attempt", WAIT, || async { !recorder.runs_of(1).is_empty() }).await;
    let started = Instant::now();
    worker.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown waited for the backoff");
    assert_eq!(queue.depth().await.expect("depth"), 1, "released, not finished");
    assert_eq!(status_and_attempts(&pg.url, "release", key).await, ("Failed".to_owned(), 1));

    // Another worker picks it up at once and continues the attempt count.
    let worker = RunningWorker::start(&queue, &recorder, opts);
    eventually("second attempt done", WAIT, || async { recorder.runs_of(1).len() == 2 && depth_is(&queue, 0).await })
        .await;
    worker.shutdown().await;
    let numbers: Vec<u32> = recorder.runs_of(1).iter().map(|r| r.attempt.number).collect();
    assert_eq!(numbers, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_recovers_from_a_database_restart() {
    use ops::local::{ClusterOptions, PgCluster};
    init_tracing();
    // A cluster of its own: this test stops it.
    let dir = ops::local::testing::scratch_dir("queue-outage").expect("scratch dir");
    let cluster = PgCluster::start(&dir, &ClusterOptions::for_tests()).await.expect("cluster");
    let pg = TestDb { url: cluster.url("postgres") };
    let queue = Queue::<TestJob>::connect(&pg.url, "outage").await.expect("connect");
    let recorder = Arc::new(Recorder::default());
    let worker = RunningWorker::start(&queue, &recorder, fast_opts());
    queue.push(Uuid::now_v7(), job(1, Behaviour::Succeed)).await.expect("push");
    eventually("first job done", WAIT, || async { recorder.runs_of(1).len() == 1 && depth_is(&queue, 0).await }).await;

    cluster.stop().expect("stop");
    // Outlast the pool's 10 s acquire timeout (shorter outages just delay queries), so that
    // the worker's fetch fails and the worker is replaced. The outage's length is the
    // scenario, not a wait for something to happen: the assertions follow the restart.
    tokio::time::sleep(Duration::from_secs(12)).await;
    // Same directory: same data and, while it is free, the same port.
    let cluster = PgCluster::start(&dir, &ClusterOptions::for_tests()).await.expect("restart");
    assert_eq!(cluster.url("postgres"), pg.url, "restarted on the same port");

    // The pool reconnects; the replacement worker (new name) takes new jobs.
    eventually("push accepted again", WAIT, || async {
        queue.push(Uuid::now_v7(), job(2, Behaviour::Succeed)).await.is_ok()
    })
    .await;
    eventually("job after the restart done", Duration::from_secs(60), || async {
        recorder.runs_of(2).len() == 1 && depth_is(&queue, 0).await
    })
    .await;
    assert!(!worker.handle.is_finished(), "run_worker keeps going");
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_migrate_safely() {
    init_tracing();
    let pg = TestDb::new().await;
    let connects = (0..4).map(|i| {
        let url = pg.url.clone();
        tokio::spawn(async move { Queue::<TestJob>::connect(&url, &format!("q{i}")).await })
    });
    for c in futures::future::join_all(connects).await {
        c.expect("task").expect("connect");
    }
    // And again on a migrated database.
    Queue::<TestJob>::connect(&pg.url, "q0").await.expect("reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "takes about a minute (the orphan timeout); run with --ignored"]
async fn a_job_of_a_dead_worker_is_picked_up_after_the_orphan_timeout() {
    init_tracing();
    let pg = TestDb::new().await;
    let recorder = Arc::new(Recorder::default());
    let queue_a = Queue::<TestJob>::connect(&pg.url, "orphan").await.expect("connect");
    let doomed = RunningWorker::start(&queue_a, &recorder, fast_opts());
    queue_a.push(Uuid::now_v7(), job(1, Behaviour::Block)).await.expect("push");
    eventually("job running", WAIT, || async { !recorder.runs_of(1).is_empty() }).await;
    // Abort instead of shutting down: no ack, no more heartbeats, like a dead process (the
    // handler task is aborted with it); its pool goes away too.
    doomed.handle.abort();
    drop(queue_a);
    let died = Instant::now();

    let queue_b = Queue::<TestJob>::connect(&pg.url, "orphan").await.expect("connect");
    let rescuer = RunningWorker::start(&queue_b, &recorder, fast_opts());
    recorder.gate.add_permits(1);
    eventually("job picked up again", Duration::from_secs(120), || async { recorder.runs_of(1).len() == 2 }).await;
    let after = recorder.runs_of(1)[1].at - died;
    println!("orphaned job picked up again {after:?} after its worker died");
    assert_eq!(recorder.runs_of(1)[1].attempt.number, 2, "the dead run counts as an attempt");
    assert!(after >= queue::ORPHAN_TIMEOUT - queue::HEARTBEAT_INTERVAL - Duration::from_secs(1));
    assert!(after <= queue::ORPHAN_TIMEOUT + queue::HEARTBEAT_INTERVAL + Duration::from_secs(5));
    eventually("drained", WAIT, || depth_is(&queue_b, 0)).await;
    rescuer.shutdown().await;
}
