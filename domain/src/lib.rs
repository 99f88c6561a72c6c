//! Berth's domain: names, ids, aggregates, events. Pure: no I/O, no clock reads.

pub mod account;
pub mod aggregate;
pub mod allowlist;
pub mod approvals;
pub mod backup;
pub mod cidr;
pub mod collaborators;
pub mod data_api;
mod data_api_rules;
pub mod database;
pub mod dbuser;
pub mod host;
pub mod ids;
pub mod name;
pub mod plan;
pub mod query;
pub mod session;
pub mod stream;
pub mod tenant_sql;

pub use account::{
    Account, AccountCommand, AccountError, AccountEvent, Identity, KeyScope, PlatformRole, SignInMethod,
};
pub use aggregate::{Activity, Actor, Aggregate};
pub use allowlist::{Allowlist, AllowlistCommand, AllowlistError, AllowlistEvent};
pub use approvals::{
    ApprovalCommand, ApprovalError, ApprovalEvent, ApprovalState, Approvals, RunOutcome, SqlSettings, StatementKind,
};
pub use backup::{
    Backup, BackupCommand, BackupError, BackupEvent, BackupState, BackupTrigger, DeletionReason, TableStats,
};
pub use cidr::{Cidr, CidrError};
pub use collaborators::{Collaborators, CollaboratorsCommand, CollaboratorsError, CollaboratorsEvent, ShareRole};
pub use data_api::{
    AuthConfig, DataApi, DataApiCommand, DataApiError, DataApiEvent, DataKeyKind, KeyRateLimit, KeySpec,
};
pub use database::{
    storage_over_quota, Database, DatabaseCommand, DatabaseError, DatabaseEvent, DatabaseSource, DatabaseState, Engine,
    LockReason, OperationKind, OperationState,
};
pub use dbuser::{DatabaseUserCommand, DatabaseUserError, DatabaseUserEvent, DatabaseUsers, UserState};
pub use host::{Host, HostCommand, HostError, HostEvent, HostRegistration, HostState, TenantHost, DEFAULT_REGION};
pub use ids::*;
pub use name::{DatabaseName, NameError};
pub use plan::{Plan, PlanQuotas, Quotas};
pub use query::{QueryEvent, QueryRecord, QueryRun, QuerySource};
pub use session::{Session, SessionCommand, SessionError};
pub use stream::{password_secret_id, StreamId};
pub use tenant_sql::{Checksum, MigrationName, TenantSql, TenantSqlCommand, TenantSqlError, TenantSqlEvent};

/// `Display` as `as_str` spells it: what the read models store and the API shows.
macro_rules! display_as_str {
    ($($t:ty),+ $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

display_as_str!(
    BackupState,
    BackupTrigger,
    DatabaseState,
    Engine,
    LockReason,
    OperationKind,
    OperationState,
    Plan,
    PlatformRole,
    ShareRole,
    ApprovalState,
    StatementKind,
    QuerySource,
    UserState,
    DataKeyKind,
);
