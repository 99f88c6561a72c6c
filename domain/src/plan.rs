//! Plans and their quotas. The numbers are configuration; these are the defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Free,
    Pro,
    Business,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Business => "business",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "free" => Some(Self::Free),
            "pro" => Some(Self::Pro),
            "business" => Some(Self::Business),
            _ => None,
        }
    }

    /// API keys are a paid feature.
    pub fn allows_api_keys(self) -> bool {
        self != Self::Free
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Databases an account may have (not counting deleted ones).
    pub databases: i64,
    /// Account-wide storage, MB.
    pub storage_mb: i64,
    /// `CONNECTION LIMIT` of each database role.
    pub connection_limit: i32,
    /// Database users (extra login roles) per database. A config file written before this
    /// field existed gets 20, the cap every plan had then.
    #[serde(default = "Quotas::default_database_users")]
    pub database_users: usize,
    /// Server connections PgBouncer opens to one database, all of its roles together
    /// (`max_db_connections`): however many users a database has, each with its own
    /// `CONNECTION LIMIT`, it cannot take more of the host's `max_connections` than this.
    #[serde(default = "Quotas::default_server_connections")]
    pub server_connections: i32,
    /// `temp_file_limit` of every role of the database, MB: set by the platform with
    /// `ALTER ROLE … SET`, which a tenant cannot undo (the setting is superuser-only).
    #[serde(default = "Quotas::default_temp_file_limit_mb")]
    pub temp_file_limit_mb: i32,
}

impl Quotas {
    fn default_database_users() -> usize {
        20
    }

    fn default_server_connections() -> i32 {
        20
    }

    fn default_temp_file_limit_mb() -> i32 {
        1024
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanQuotas {
    pub free: Quotas,
    pub pro: Quotas,
    pub business: Quotas,
}

impl Default for PlanQuotas {
    fn default() -> Self {
        Self {
            free: Quotas {
                databases: 2,
                storage_mb: 512,
                connection_limit: 10,
                database_users: 5,
                server_connections: 10,
                temp_file_limit_mb: 1024,
            },
            pro: Quotas {
                databases: 50,
                storage_mb: 50 * 1024,
                connection_limit: 100,
                database_users: 50,
                server_connections: 50,
                temp_file_limit_mb: 10 * 1024,
            },
            business: Quotas {
                databases: 500,
                storage_mb: 500 * 1024,
                connection_limit: 300,
                database_users: 200,
                server_connections: 150,
                temp_file_limit_mb: 50 * 1024,
            },
        }
    }
}

impl PlanQuotas {
    pub fn of(&self, plan: Plan) -> Quotas {
        match plan {
            Plan::Free => self.free,
            Plan::Pro => self.pro,
            Plan::Business => self.business,
        }
    }
}
