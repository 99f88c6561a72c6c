//! Where jobs spend their time, for benchmarks that drive the API: each operation's wait in
//! the queue and its run (from the events' own timestamps), and the mean time of each job
//! step (`berth_job_step_seconds`, and `berth_job_seconds` for whole jobs) over a window.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Per operation kind (and `backup`): (queue wait, run) in ms, one pair per operation.
pub type Phases = BTreeMap<String, Vec<(f64, f64)>>;

/// The operations and backups of `account` requested since `since` that have ended.
pub async fn phases(control_url: &str, account: domain::AccountId, since: DateTime<Utc>) -> anyhow::Result<Phases> {
    let c = crate::local::connect(control_url).await?;
    let rows = c
        .query(
            "select o.kind,
                    (extract(epoch from s.started - o.created_at) * 1000)::float8,
                    (extract(epoch from o.finished_at - s.started) * 1000)::float8
               from operations o
               cross join lateral (
                 select min(e.occurred_at) as started from events e
                  where e.stream_id = 'database-' || o.database_id and e.type = 'OperationAttemptStarted'
                    and e.data->>'operation_id' = o.id::text) s
              where o.account_id = $1 and o.created_at >= $2 and o.state = 'succeeded' and s.started is not null
             union all
             select 'backup', (extract(epoch from b.started_at - b.created_at) * 1000)::float8,
                    (extract(epoch from b.finished_at - b.started_at) * 1000)::float8
               from backups b
              where b.account_id = $1 and b.created_at >= $2 and b.state = 'succeeded'",
            &[&account.uuid(), &since],
        )
        .await?;
    let mut out = Phases::new();
    for r in rows {
        let (kind, wait, run): (String, Option<f64>, Option<f64>) = (r.get(0), r.get(1), r.get(2));
        if let (Some(w), Some(x)) = (wait, run) {
            out.entry(kind).or_default().push((w, x));
        }
    }
    Ok(out)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

pub fn print_phases(phases: &Phases, label: &str) {
    for (kind, pairs) in phases {
        let mut wait: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let mut run: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        println!(
            "    {label:<5} {kind:<15} n {:>4}  queue wait p50 {:>8.1} ms  p99 {:>8.1} ms   run p50 {:>8.1} ms  p99 {:>8.1} ms",
            pairs.len(),
            pct(&mut wait, 0.5),
            pct(&mut wait, 0.99),
            pct(&mut run, 0.5),
            pct(&mut run, 0.99),
        );
    }
}

/// Sums and counts of the job histograms at one moment, by their label set.
pub struct StepTimes(BTreeMap<String, (f64, f64)>);

impl StepTimes {
    /// Read from this process's metrics recorder (the harness's platform records there).
    pub fn now() -> Self {
        let text = (crate::metrics::install().0)();
        let mut m: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            for (metric, whole) in [("berth_job_step_seconds", false), ("berth_job_seconds", true)] {
                let (sum, count) = (format!("{metric}_sum"), format!("{metric}_count"));
                let (is_sum, rest) = match series {
                    s if s.starts_with(&sum) => (true, &s[sum.len()..]),
                    s if s.starts_with(&count) => (false, &s[count.len()..]),
                    _ => continue,
                };
                let labels = rest.trim_start_matches('{').trim_end_matches('}').replace('"', "");
                let key = if whole { format!("{labels},(whole job)") } else { labels };
                let e = m.entry(key).or_default();
                if is_sum {
                    e.0 = value;
                } else {
                    e.1 = value;
                }
            }
        }
        Self(m)
    }

    /// What was recorded between `earlier` and this.
    pub fn since(&self, earlier: &StepTimes) -> Self {
        let mut out = BTreeMap::new();
        for (k, (sum, count)) in &self.0 {
            let (s0, c0) = earlier.0.get(k).copied().unwrap_or_default();
            if count - c0 > 0.0 {
                out.insert(k.clone(), (sum - s0, count - c0));
            }
        }
        Self(out)
    }

    /// The `top` label sets by total time: count, mean, total.
    pub fn print(&self, top: usize) {
        let mut rows: Vec<(&String, &(f64, f64))> = self.0.iter().collect();
        rows.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
        for (labels, (sum, count)) in rows.into_iter().take(top) {
            println!("    {labels:<40} n {count:>5}  mean {:>8.1} ms  total {sum:>7.1} s", sum / count * 1000.0);
        }
    }
}
