//! Typed identifiers. Each is a UUID (v7, so time-ordered) shown to users as a type prefix
//! plus the ULID spelling of the same 128 bits: `db_01J…`. The prefix makes a pasted id
//! self-describing and lets the API refuse an id of the wrong kind.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct IdError {
    pub kind: &'static str,
}

macro_rules! typed_id {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn uuid(&self) -> Uuid {
                self.0
            }

            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let err = IdError { kind: $prefix };
                let body = raw.strip_prefix($prefix).and_then(|r| r.strip_prefix('_')).ok_or(err.clone())?;
                let ulid = ulid::Ulid::from_string(body).map_err(|_| err)?;
                Ok(Self(Uuid::from_u128(ulid.0)))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, ulid::Ulid(self.0.as_u128()))
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

typed_id!(DatabaseId, "db");
typed_id!(AccountId, "acct");
typed_id!(UserId, "usr");
typed_id!(ApiKeyId, "key");
typed_id!(OperationId, "op");
typed_id!(EventId, "evt");
typed_id!(IncidentId, "inc");
typed_id!(HostId, "host");
typed_id!(BackupId, "bkp");
typed_id!(RuleId, "rule");
typed_id!(QueryId, "qry");
typed_id!(ApprovalId, "apr");
typed_id!(DataKeyId, "dkey");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_prefixed_form() {
        let id = DatabaseId::new();
        let shown = id.to_string();
        assert!(shown.starts_with("db_"), "{shown}");
        assert_eq!(shown.len(), 3 + 26);
        assert_eq!(DatabaseId::parse(&shown), Ok(id));
    }

    #[test]
    fn refuses_other_kinds_and_garbage() {
        let key = ApiKeyId::new().to_string();
        assert!(DatabaseId::parse(&key).is_err());
        for bad in ["", "db_", "db_xyz", "db-01J0000000000000000000000", "01J0000000000000000000000"] {
            assert!(DatabaseId::parse(bad).is_err(), "{bad}");
        }
    }
}
