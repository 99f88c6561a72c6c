//! Stream ids: the name of the event-log stream an aggregate instance lives in,
//! `<family>-<uuid>` (e.g. `database-0190f3a0-…`). The names are on disk; each constructor
//! must keep producing exactly the string it produces today, which the tests pin.

use std::fmt;

use uuid::Uuid;

use crate::{AccountId, BackupId, DatabaseId, HostId};

/// The id of one aggregate instance's stream. Built only by the constructor of its
/// aggregate, so a stream name is spelled in one place.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(String);

impl StreamId {
    /// Family of [`StreamId::database`]: a database's lifecycle (`Database`).
    pub const DATABASE: &'static str = "database";
    /// Family of [`StreamId::account`]: an account, its users and keys (`Account`).
    pub const ACCOUNT: &'static str = "account";
    /// Family of [`StreamId::session`]: one sign-in (`Session`), account events.
    pub const SESSION: &'static str = "session";
    /// Family of [`StreamId::host`]: a tenant host (`Host`).
    pub const HOST: &'static str = "host";
    /// Family of [`StreamId::backup`]: one backup (`Backup`).
    pub const BACKUP: &'static str = "backup";
    /// Family of [`StreamId::allowlist`]: a database's network allowlist (`Allowlist`).
    pub const ALLOWLIST: &'static str = "allowlist";
    /// Family of [`StreamId::database_users`]: a database's users (`DatabaseUsers`).
    pub const DATABASE_USERS: &'static str = "dbusers";
    /// Family of [`StreamId::collaborators`]: a database's collaborators (`Collaborators`).
    /// Spelled `access` on disk.
    pub const COLLABORATORS: &'static str = "access";
    /// Family of [`StreamId::query`]: one statement run through the API (`QueryRecord`).
    pub const QUERY: &'static str = "query";
    /// Family of [`StreamId::approvals`]: a database's SQL approval settings and held
    /// statements (`Approvals`).
    pub const APPROVALS: &'static str = "approvals";
    /// Family of [`StreamId::data_api`]: a database's data-API keys and auth config (`DataApi`).
    pub const DATA_API: &'static str = "dataapi";
    /// Family of [`StreamId::tenant_sql`]: one migration or dump a user had run (`TenantSql`).
    pub const TENANT_SQL: &'static str = "tenantsql";

    fn of(family: &str, uuid: Uuid) -> Self {
        Self(format!("{family}-{uuid}"))
    }

    /// `database-<uuid>`
    pub fn database(id: DatabaseId) -> Self {
        Self::of(Self::DATABASE, id.uuid())
    }

    /// `account-<uuid>`
    pub fn account(id: AccountId) -> Self {
        Self::of(Self::ACCOUNT, id.uuid())
    }

    /// `session-<uuid>`: a session's sign-in, on a stream of its own so that sign-ins never
    /// lengthen the account's stream.
    pub fn session(session_id: Uuid) -> Self {
        Self::of(Self::SESSION, session_id)
    }

    /// `host-<uuid>`
    pub fn host(id: HostId) -> Self {
        Self::of(Self::HOST, id.uuid())
    }

    /// `backup-<uuid>`
    pub fn backup(id: BackupId) -> Self {
        Self::of(Self::BACKUP, id.uuid())
    }

    /// `allowlist-<database uuid>`
    pub fn allowlist(database: DatabaseId) -> Self {
        Self::of(Self::ALLOWLIST, database.uuid())
    }

    /// `dbusers-<database uuid>`
    pub fn database_users(database: DatabaseId) -> Self {
        Self::of(Self::DATABASE_USERS, database.uuid())
    }

    /// `access-<database uuid>`: who the database is shared with.
    pub fn collaborators(database: DatabaseId) -> Self {
        Self::of(Self::COLLABORATORS, database.uuid())
    }

    /// `query-<query uuid>`: one record per statement, on a stream of its own so that
    /// concurrent requests never contend.
    pub fn query(id: crate::QueryId) -> Self {
        Self::of(Self::QUERY, id.uuid())
    }

    /// `approvals-<database uuid>`
    pub fn approvals(database: DatabaseId) -> Self {
        Self::of(Self::APPROVALS, database.uuid())
    }

    /// `dataapi-<database uuid>`
    pub fn data_api(database: DatabaseId) -> Self {
        Self::of(Self::DATA_API, database.uuid())
    }

    /// `tenantsql-<uuid>`: one record of SQL run in a tenant database on a user's request,
    /// on a stream of its own so that these never lengthen the database's stream.
    pub fn tenant_sql(record: Uuid) -> Self {
        Self::of(Self::TENANT_SQL, record)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for StreamId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<StreamId> for String {
    fn from(s: StreamId) -> String {
        s.0
    }
}

/// The vault id of a tenant database's password (persisted: the vault's rows are keyed by it).
pub fn password_secret_id(id: crate::DatabaseId) -> String {
    format!("database:{}:password", id.uuid())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The log on disk is named by these strings: they must never change.
    const UUID: &str = "0190f3a0-1234-7abc-8def-0123456789ab";

    fn uuid() -> Uuid {
        Uuid::parse_str(UUID).expect("a uuid")
    }

    #[test]
    fn database_stream() {
        assert_eq!(StreamId::database(DatabaseId(uuid())).as_str(), "database-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn account_stream() {
        assert_eq!(StreamId::account(AccountId(uuid())).as_str(), "account-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn session_stream() {
        assert_eq!(StreamId::session(uuid()).as_str(), "session-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn host_stream() {
        assert_eq!(StreamId::host(HostId(uuid())).as_str(), "host-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn backup_stream() {
        assert_eq!(StreamId::backup(BackupId(uuid())).as_str(), "backup-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn allowlist_stream() {
        assert_eq!(StreamId::allowlist(DatabaseId(uuid())).as_str(), "allowlist-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn database_users_stream() {
        assert_eq!(
            StreamId::database_users(DatabaseId(uuid())).as_str(),
            "dbusers-0190f3a0-1234-7abc-8def-0123456789ab"
        );
    }

    #[test]
    fn query_and_approvals_streams() {
        assert_eq!(StreamId::query(crate::QueryId(uuid())).as_str(), "query-0190f3a0-1234-7abc-8def-0123456789ab");
        assert_eq!(StreamId::approvals(DatabaseId(uuid())).as_str(), "approvals-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn data_api_stream() {
        assert_eq!(StreamId::data_api(DatabaseId(uuid())).as_str(), "dataapi-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn collaborators_stream() {
        assert_eq!(StreamId::collaborators(DatabaseId(uuid())).as_str(), "access-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn tenant_sql_stream() {
        assert_eq!(StreamId::tenant_sql(uuid()).as_str(), "tenantsql-0190f3a0-1234-7abc-8def-0123456789ab");
    }

    #[test]
    fn display_is_the_stream_name() {
        let s = StreamId::database(DatabaseId(uuid()));
        assert_eq!(s.to_string(), s.as_str());
    }
}
