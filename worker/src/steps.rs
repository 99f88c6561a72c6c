//! The steps of provisioning, deletion and maintenance jobs. A step's [`JobStep::as_str`] is
//! its `step` label on `berth_job_step_seconds` and in the logs (`berth bench mixed` reads
//! the metric), so those strings must not change.

use std::fmt;

/// One step of a database job; which steps a job runs, and in what order, is its operation's
/// list ([`PROVISION_STEPS`], [`DELETE_STEPS`],
/// [`crate::jobs::maintenance_steps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStep {
    /// The database's owner role (created, or its credential set).
    Role,
    /// `CREATE DATABASE`.
    Database,
    /// Nobody but the database's own logins may connect to it.
    Restrict,
    /// Filling a restored or branched database from its source.
    Populate,
    /// PgBouncer: render and reload, or a lifecycle action on the database's pool.
    Pgbouncer,
    /// PostgreSQL: a lifecycle action on the database (connections allowed, blocked, ended).
    Postgres,
    /// A login through PgBouncer with the database's password.
    Verify,
    /// Dropping the database, its owner login and its users' logins.
    Drop,
    /// Forgetting the database's secrets.
    Secrets,
    /// Recording the outcome as an event.
    Record,
}

impl JobStep {
    /// The step's label (metrics, logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStep::Role => "role",
            JobStep::Database => "database",
            JobStep::Restrict => "restrict",
            JobStep::Populate => "populate",
            JobStep::Pgbouncer => "pgbouncer",
            JobStep::Postgres => "postgres",
            JobStep::Verify => "verify",
            JobStep::Drop => "drop",
            JobStep::Secrets => "secrets",
            JobStep::Record => "record",
        }
    }
}

impl fmt::Display for JobStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The steps of provisioning, in order; a test may stop a run after any of them, as if the
/// worker had been killed there.
pub const PROVISION_STEPS: &[JobStep] = &[
    JobStep::Role,
    JobStep::Database,
    JobStep::Restrict,
    JobStep::Populate,
    JobStep::Pgbouncer,
    JobStep::Verify,
    JobStep::Record,
];
/// The steps of deletion, in order.
pub const DELETE_STEPS: &[JobStep] = &[JobStep::Pgbouncer, JobStep::Drop, JobStep::Secrets, JobStep::Record];

#[cfg(test)]
mod tests {
    use super::JobStep;

    #[test]
    fn labels_are_the_ones_metrics_have_always_carried() {
        let all = [
            (JobStep::Role, "role"),
            (JobStep::Database, "database"),
            (JobStep::Restrict, "restrict"),
            (JobStep::Populate, "populate"),
            (JobStep::Pgbouncer, "pgbouncer"),
            (JobStep::Postgres, "postgres"),
            (JobStep::Verify, "verify"),
            (JobStep::Drop, "drop"),
            (JobStep::Secrets, "secrets"),
            (JobStep::Record, "record"),
        ];
        for (step, label) in all {
            assert_eq!(step.as_str(), label);
            assert_eq!(step.to_string(), label);
        }
    }
}
