//! Busy but honest neighbours: N clients of one account send a valid mix of requests (create,
//! get, list, credentials, backup, allowlist add and delete, stop/start/restart, delete) for a
//! while, each client on databases of its own so that no request collides with another's
//! (one operation at a time per database). Reported: p50/p99 per route, operations completed
//! per second, server errors and lost operations (both must be 0), and the process's RSS.
//! The baseline, in the same run and before the mix: the same routes one at a time on the
//! quiet platform. Then where the time went: each operation's wait in the queue and its run,
//! and the job steps' mean times during the mix.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::http::{Answer, Api};
use super::jobtimes::{self, StepTimes};
use super::stats::{ms, summarize};
use crate::harness;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    Create,
    Get,
    List,
    Credentials,
    Backup,
    AllowAdd,
    AllowDelete,
    Stop,
    Start,
    Restart,
    Delete,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Create => "POST /databases",
            Route::Get => "GET /databases/{id}",
            Route::List => "GET /databases",
            Route::Credentials => "GET …/credentials",
            Route::Backup => "POST …/backups",
            Route::AllowAdd => "POST …/allowlist",
            Route::AllowDelete => "DELETE …/allowlist/{rule}",
            Route::Stop => "POST …/stop",
            Route::Start => "POST …/start",
            Route::Restart => "POST …/restart",
            Route::Delete => "DELETE /databases/{id}",
        }
    }

    /// Routes that answer once their job has done its work (else 202 past the wait budget).
    fn waits(self) -> bool {
        matches!(
            self,
            Route::Create | Route::AllowAdd | Route::AllowDelete | Route::Stop | Route::Start | Route::Restart
        )
    }

    fn writes(self) -> bool {
        !matches!(self, Route::Get | Route::List | Route::Credentials)
    }
}

/// A client's databases at most (the pro plan allows 50 per account; deletions take a while).
const MAX_LIVE: usize = 4;
/// Manual backups a database may take per day (the API's default cap).
const BACKUPS_PER_DAY: usize = 20;
/// How long the end of the run waits for what the mix left running.
const SETTLE: Duration = Duration::from_secs(180);

/// One database as its client knows it.
struct Db {
    id: String,
    stopped: bool,
    rules: Vec<String>,
    backups: usize,
    pending_backups: Vec<String>,
}

/// What a client saw and what it expects to find at the end.
#[derive(Default)]
pub struct Ledger {
    pub samples: Vec<(Route, Duration, u16)>,
    pub server_errors: usize,
    /// Answers a valid mix should never get (4xx), with the first few for the report.
    pub refused: usize,
    pub refusals: Vec<String>,
    /// Operations (create, lifecycle, delete) acknowledged, to be found succeeded.
    pub operations: Vec<String>,
    /// Acknowledged backups that ended otherwise than succeeded.
    pub lost: Vec<String>,
}

pub struct Client {
    api: Api,
    tag: String,
    number: u32,
    rng: StdRng,
    dbs: Vec<Db>,
    created: usize,
    rule_seq: u32,
    pub ledger: Ledger,
}

impl Client {
    /// Client `number` (its databases are `<prefix><number>-<n>`).
    pub fn new(api: Api, prefix: &str, number: u32) -> Self {
        Self {
            api,
            tag: format!("{prefix}{number}"),
            number,
            rng: StdRng::seed_from_u64(u64::from(number) + 7),
            dbs: Vec::new(),
            created: 0,
            rule_seq: 0,
            ledger: Ledger::default(),
        }
    }

    fn record(&mut self, route: Route, a: &Answer) -> bool {
        match a.status {
            Some(s) if a.ok() => {
                self.ledger.samples.push((route, a.took, s));
                return true;
            }
            Some(s) if s >= 500 => self.ledger.server_errors += 1,
            None => self.ledger.server_errors += 1,
            Some(_) => self.ledger.refused += 1,
        }
        if self.ledger.refusals.len() < 5 {
            self.ledger.refusals.push(format!("{} → {:?} {}", route.label(), a.status, a.body["error"]));
        }
        false
    }

    /// A weighted random route on one of this client's databases, made valid for its state.
    fn pick(&mut self) -> (Route, usize) {
        use Route::*;
        const WEIGHTS: [(Route, u32); 10] = [
            (Create, 3),
            (Get, 5),
            (List, 4),
            (Credentials, 3),
            (Backup, 2),
            (AllowAdd, 3),
            (AllowDelete, 2),
            (Stop, 2),
            (Restart, 2),
            (Delete, 2),
        ];
        if self.dbs.is_empty() {
            return (Create, 0);
        }
        let i = self.rng.gen_range(0..self.dbs.len());
        let mut route = WEIGHTS.choose_weighted(&mut self.rng, |w| w.1).map(|w| w.0).unwrap_or(Get);
        let db = &self.dbs[i];
        route = match route {
            Create if self.dbs.len() >= MAX_LIVE => Delete,
            Delete if self.dbs.len() <= 1 => Create,
            AllowDelete if db.rules.is_empty() => AllowAdd,
            AllowAdd if db.rules.len() >= 20 => AllowDelete,
            Backup if db.stopped => Start,
            Backup if db.backups >= BACKUPS_PER_DAY => Get,
            Stop | Restart if db.stopped => Start,
            r => r,
        };
        (route, i)
    }

    /// Whether database `i` has no backup running (a stop, restart or delete would end it);
    /// forgets the backups that ended.
    async fn backups_done(&mut self, i: usize) -> bool {
        let id = self.dbs[i].id.clone();
        let mut still = Vec::new();
        for b in std::mem::take(&mut self.dbs[i].pending_backups) {
            match self.api.get(&format!("/databases/{id}/backups/{b}")).await.field("state").as_deref() {
                Some("succeeded") => {}
                Some("failed") => self.ledger.lost.push(format!("backup {b}: failed")),
                _ => still.push(b),
            }
        }
        self.dbs[i].pending_backups = still;
        self.dbs[i].pending_backups.is_empty()
    }

    /// Follows an operation a 202 left running, so that the client's next request is valid.
    async fn follow(&mut self, a: &Answer) -> bool {
        let Some(op) = a.field("operation_id") else { return false };
        self.ledger.operations.push(op.clone());
        a.status == Some(200)
            || a.status == Some(201)
            || self.api.wait_operation(&op, SETTLE).await.as_deref() == Some("succeeded")
    }

    /// One request of the mix.
    pub async fn step(&mut self) {
        let (route, i) = self.pick();
        self.act(route, i).await;
    }

    /// Sends `route` on database `i` (a new one for Create) and updates what the client knows.
    pub async fn act(&mut self, mut route: Route, i: usize) {
        if matches!(route, Route::Stop | Route::Restart | Route::Delete) && !self.backups_done(i).await {
            route = Route::Get;
        }
        let id = self.dbs.get(i).map(|d| d.id.clone()).unwrap_or_default();
        match route {
            Route::Create => {
                self.created += 1;
                let name = format!("{}-{}", self.tag, self.created);
                let a = self.api.post("/databases", json!({ "name": name })).await;
                if self.record(route, &a) && self.follow(&a).await {
                    let id = a.field("id").unwrap_or_default();
                    self.dbs.push(Db {
                        id,
                        stopped: false,
                        rules: Vec::new(),
                        backups: 0,
                        pending_backups: Vec::new(),
                    });
                }
            }
            Route::Get => {
                let a = self.api.get(&format!("/databases/{id}")).await;
                self.record(route, &a);
            }
            Route::List => {
                let a = self.api.get("/databases").await;
                self.record(route, &a);
            }
            Route::Credentials => {
                let a = self.api.get(&format!("/databases/{id}/credentials")).await;
                self.record(route, &a);
            }
            Route::Backup => {
                let a = self.api.post(&format!("/databases/{id}/backups"), json!({ "label": "mixed" })).await;
                if self.record(route, &a) {
                    self.dbs[i].pending_backups.push(a.field("id").unwrap_or_default());
                    self.dbs[i].backups += 1;
                }
            }
            Route::AllowAdd => {
                self.rule_seq += 1;
                // Never overlapping: 10.<client>.<n>/32 style addresses, one per rule.
                let (hi, lo) = (self.rule_seq / 256 % 256, self.rule_seq % 256);
                let cidr = format!("10.{}.{hi}.{lo}/32", self.number % 256);
                let a = self.api.post(&format!("/databases/{id}/allowlist"), json!({ "cidr": cidr })).await;
                if self.record(route, &a) {
                    self.dbs[i].rules.push(a.field("id").unwrap_or_default());
                }
            }
            Route::AllowDelete => {
                let rule = self.dbs[i].rules.swap_remove(0);
                let a = self.api.delete(&format!("/databases/{id}/allowlist/{rule}")).await;
                if !self.record(route, &a) {
                    self.dbs[i].rules.push(rule);
                }
            }
            Route::Stop | Route::Start | Route::Restart => {
                let verb = match route {
                    Route::Stop => "stop",
                    Route::Start => "start",
                    _ => "restart",
                };
                let a = self.api.post(&format!("/databases/{id}/{verb}"), json!({})).await;
                if self.record(route, &a) && self.follow(&a).await {
                    self.dbs[i].stopped = route == Route::Stop;
                }
            }
            Route::Delete => {
                let a = self.api.delete(&format!("/databases/{id}")).await;
                if self.record(route, &a) {
                    self.follow(&a).await;
                    self.dbs.swap_remove(i);
                }
            }
        }
    }

    /// What the client expects to find at the end that is not found, after what it left
    /// running has ended: operations and backups not succeeded, databases in another state
    /// or with other allowlist rules.
    pub async fn lost(&self) -> Vec<String> {
        let mut lost = self.ledger.lost.clone();
        for op in &self.ledger.operations {
            let s = self.api.wait_operation(op, SETTLE).await;
            if s.as_deref() != Some("succeeded") {
                lost.push(format!("operation {op}: {s:?}"));
            }
        }
        for db in &self.dbs {
            for b in &db.pending_backups {
                let s = self.api.wait_backup(&db.id, b, SETTLE).await;
                if s.as_deref() != Some("succeeded") {
                    lost.push(format!("backup {b}: {s:?}"));
                }
            }
            let want = if db.stopped { "stopped" } else { "running" };
            let got = self.api.get(&format!("/databases/{}", db.id)).await.field("state");
            if got.as_deref() != Some(want) {
                lost.push(format!("database {}: {got:?}, expected {want}", db.id));
            }
            let rules = self.api.get(&format!("/databases/{}/allowlist", db.id)).await;
            let mut listed: Vec<String> = rules.body["data"]
                .as_array()
                .map(|a| a.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let mut expected = db.rules.clone();
            listed.sort();
            expected.sort();
            if listed != expected {
                lost.push(format!("database {}: allowlist {listed:?}, expected {expected:?}", db.id));
            }
        }
        lost
    }
}

/// Every route once per round, one request at a time, on the quiet platform.
async fn quiet(api: &Api, run: &str, rounds: usize) -> anyhow::Result<Ledger> {
    use Route::*;
    let mut c = Client::new(api.clone(), &format!("q{run}c"), 255);
    for _ in 0..rounds {
        c.act(Create, 0).await;
        anyhow::ensure!(c.dbs.len() == 1, "the quiet create failed: {:?}", c.ledger.refusals);
        for route in [Get, List, Credentials, AllowAdd, AllowDelete, Stop, Start, Restart, Backup] {
            c.act(route, 0).await;
        }
        for b in c.dbs[0].pending_backups.clone() {
            api.wait_backup(&c.dbs[0].id, &b, SETTLE).await;
        }
        c.act(Delete, 0).await;
    }
    anyhow::ensure!(c.ledger.server_errors + c.ledger.refused == 0, "quiet run refused: {:?}", c.ledger.refusals);
    Ok(c.ledger)
}

fn by_route(ledger: &Ledger) -> BTreeMap<Route, Vec<Duration>> {
    let mut m: BTreeMap<Route, Vec<Duration>> = BTreeMap::new();
    for (r, d, _) in &ledger.samples {
        m.entry(*r).or_default().push(*d);
    }
    m
}

/// The process's resident set (the platform and the bench clients share it), in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|k| k.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

pub async fn run(clients: usize, seconds: u64, quiet_rounds: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        clients > 0 && seconds > 0 && quiet_rounds > 0,
        "--clients, --seconds and --quiet-rounds must be positive"
    );
    anyhow::ensure!(clients <= 200, "--clients is at most 200");
    let h = harness::shared();
    let user = h.new_user("mixed").await?;
    let api = Api::new(&h.api_url, &user.key)?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    eprintln!("quiet baseline: every route once per round, {quiet_rounds} rounds…");
    let quiet_started = chrono::Utc::now();
    let quiet = quiet(&api, &run, quiet_rounds).await?;
    let quiet_phases = jobtimes::phases(&h.control_url, user.account_id, quiet_started).await?;

    eprintln!("mix: {clients} clients for {seconds} s…");
    let before = StepTimes::now();
    let mix_started = chrono::Utc::now();
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..clients {
        let mut c = Client::new(api.clone(), &format!("m{run}c"), n as u32);
        tasks.spawn(async move {
            while Instant::now() < until {
                c.step().await;
            }
            c
        });
    }
    let sampler = tokio::spawn(async move {
        let mut rss = Vec::new();
        while Instant::now() < until {
            rss.push(rss_mib());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        rss
    });
    let mut done = Vec::new();
    while let Some(c) = tasks.join_next().await {
        done.push(c?);
    }
    let elapsed = started.elapsed();
    let mut rss = sampler.await?;
    let steps = StepTimes::now().since(&before);
    eprintln!("mix done; waiting for what it left running and checking…");
    let mut all = Ledger::default();
    let mut lost = Vec::new();
    for c in &done {
        lost.extend(c.lost().await);
    }
    for c in done {
        let l = c.ledger;
        all.samples.extend(l.samples);
        all.server_errors += l.server_errors;
        all.refused += l.refused;
        all.refusals.extend(l.refusals);
        all.operations.extend(l.operations);
    }
    let phases = jobtimes::phases(&h.control_url, user.account_id, mix_started).await?;

    let quiet_routes = by_route(&quiet);
    let mix_routes = by_route(&all);
    println!("bench mixed: {clients} clients of one account, {:.0} s, valid mix; baseline: {quiet_rounds} quiet rounds, one request at a time", elapsed.as_secs_f64());
    println!(
        "  {:<28} {:>6} {:>10} {:>10} {:>10} {:>8} {:>6}",
        "route", "n", "quiet p50", "mix p50", "mix p99", "p50 ×", "202s"
    );
    let mut worst_wait = Duration::ZERO;
    for (route, samples) in &mix_routes {
        let s = summarize(samples, elapsed);
        let q = quiet_routes.get(route).map(|v| summarize(v, elapsed).p50);
        let accepted = all.samples.iter().filter(|(r, _, st)| r == route && *st == 202 && route.waits()).count();
        if route.waits() {
            worst_wait = worst_wait.max(s.p99);
        }
        let ratio = q.map(|q| format!("{:.1}", s.p50.as_secs_f64() / q.as_secs_f64().max(1e-6))).unwrap_or_default();
        println!(
            "  {:<28} {:>6} {:>10} {:>10} {:>10} {:>8} {:>6}{}",
            route.label(),
            s.n,
            q.map(ms).unwrap_or_default(),
            ms(s.p50),
            ms(s.p99),
            ratio,
            accepted,
            if route.waits() { "  (waits for its job)" } else { "" }
        );
    }
    let writes = all.samples.iter().filter(|(r, _, _)| r.writes()).count();
    let completed = writes.saturating_sub(lost.len());
    println!("  worst p99 of the routes that wait for their job: {} (target ≤ 2000 ms)", ms(worst_wait));
    println!(
        "  operations completed: {completed} ({:.1}/s); requests answered: {} ({:.1}/s)",
        completed as f64 / elapsed.as_secs_f64(),
        all.samples.len(),
        all.samples.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  server errors: {} (must be 0); refused (4xx): {}; lost: {} (must be 0)",
        all.server_errors,
        all.refused,
        lost.len()
    );
    for r in all.refusals.iter().take(5) {
        println!("    refused: {r}");
    }
    for l in lost.iter().take(10) {
        println!("    lost: {l}");
    }
    rss.sort_by(f64::total_cmp);
    if let (Some(lo), Some(hi)) = (rss.first(), rss.last()) {
        println!(
            "  process RSS during the mix (platform and bench clients): {lo:.0}–{hi:.0} MiB, median {:.0} MiB",
            rss[rss.len() / 2]
        );
    }
    println!("  operations, quiet then mix (queue wait = requested → attempt started; run = attempt started → done):");
    jobtimes::print_phases(&quiet_phases, "quiet");
    jobtimes::print_phases(&phases, "mix");
    println!("  job steps during the mix (mean; sum over the run), by total time:");
    steps.print(12);
    anyhow::ensure!(all.server_errors == 0 && lost.is_empty(), "server errors or lost operations");
    Ok(())
}
