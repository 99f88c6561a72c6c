//! The backup scheduler: one tick requests the day's scheduled backups, applies retention
//! and runs the stale-backup watchdog. Every replica ticks (at start-up, which is the
//! catch-up after downtime, then periodically); they agree because a scheduled backup's id
//! is derived from (database, day), so a second request for it is refused by the aggregate,
//! and the read model has a unique index on (database, day) besides.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use domain::{BackupId, DatabaseId, OperationId};
use eventstore::Store;
use tokio::sync::watch;
use uuid::Uuid;

use crate::backups::report_stale;

#[derive(Debug, Clone)]
pub struct BackupSchedule {
    /// Time of day (UTC) of the daily backup.
    pub at: NaiveTime,
    pub retention: chrono::Duration,
    /// A database with no successful backup for this long gets a `backup_stale` incident.
    pub stale_after: chrono::Duration,
    pub tick: Duration,
}

impl Default for BackupSchedule {
    fn default() -> Self {
        Self {
            at: NaiveTime::from_hms_opt(2, 0, 0).expect("02:00 is a time"),
            retention: chrono::Duration::days(30),
            stale_after: chrono::Duration::hours(26),
            tick: Duration::from_secs(30),
        }
    }
}

/// Namespace of the UUIDv5 ids of scheduled backups (a random constant).
const SCHEDULE_NS: Uuid = Uuid::from_u128(0x5b1e_7c3a_9d2f_4e8b_a6c1_0f3d_2e9a_7b64);

/// The id of the scheduled backup of `db` for `day`: the same in every replica.
pub fn scheduled_backup_id(db: DatabaseId, day: NaiveDate) -> BackupId {
    BackupId(Uuid::new_v5(&SCHEDULE_NS, format!("backup:{}:{day}", db.uuid()).as_bytes()))
}

/// The most recent day whose scheduled time has passed at `now`, and that time.
pub fn due_day(at: NaiveTime, now: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
    let today = now.date_naive();
    let due = today.and_time(at).and_utc();
    if now >= due {
        (today, due)
    } else {
        (today - chrono::Duration::days(1), due - chrono::Duration::days(1))
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub requested: Vec<BackupId>,
    pub deleted: Vec<BackupId>,
    pub stale_opened: usize,
}

#[derive(Clone)]
pub struct Scheduler {
    pub store: Store,
    pub schedule: BackupSchedule,
}

impl Scheduler {
    /// One pass as of `now` (injected, so tests need not wait for 02:00), over every
    /// database or only `only`.
    pub async fn tick(&self, now: DateTime<Utc>, only: Option<DatabaseId>) -> anyhow::Result<TickReport> {
        let mut report = TickReport::default();
        let (day, due) = due_day(self.schedule.at, now);
        for db in self.store.due_for_scheduled_backup(day, due, only).await? {
            let id = scheduled_backup_id(db, day);
            let operation_id = OperationId(Uuid::new_v5(&SCHEDULE_NS, format!("op:{}", id.uuid()).as_bytes()));
            if control::backups::request_scheduled(&self.store, id, db, operation_id, day).await? {
                report.requested.push(id);
            }
        }
        for id in self.store.expired_backups(now - self.schedule.retention, only).await? {
            if control::backups::delete_expired(&self.store, id).await? {
                report.deleted.push(id);
            }
        }
        report.stale_opened = report_stale(&self.store, now - self.schedule.stale_after, only).await?;
        Ok(report)
    }

    /// Ticks at once (catching up a day missed while down), then every `schedule.tick`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.tick(Utc::now(), None).await {
                tracing::warn!(error = %e, "backup scheduler tick failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.schedule.tick) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("timestamp")
    }

    #[test]
    fn before_the_daily_time_the_due_day_is_yesterday() {
        let at = NaiveTime::from_hms_opt(2, 0, 0).expect("time");
        let (day, due) = due_day(at, t("2026-03-10T01:59:59Z"));
        assert_eq!(day.to_string(), "2026-03-09");
        assert_eq!(due, t("2026-03-09T02:00:00Z"));
        let (day, _) = due_day(at, t("2026-03-10T02:00:00Z"));
        assert_eq!(day.to_string(), "2026-03-10");
    }

    #[test]
    fn scheduled_ids_are_the_same_everywhere_and_differ_by_day() {
        let db = DatabaseId::new();
        let d1 = NaiveDate::from_ymd_opt(2026, 3, 10).expect("date");
        let d2 = NaiveDate::from_ymd_opt(2026, 3, 11).expect("date");
        assert_eq!(scheduled_backup_id(db, d1), scheduled_backup_id(db, d1));
        assert_ne!(scheduled_backup_id(db, d1), scheduled_backup_id(db, d2));
    }
}
