//! A database's IP allowlist: which source networks may reach it through PgBouncer. An
//! empty list means open to all. Its own stream (`allowlist-<database uuid>`), so rules do
//! not contend with the database's lifecycle; the API checks the database is live first.
//!
//! Rules do not overlap: a network inside (or around) a live rule is a conflict, so the
//! list a user reads is exactly the set of sources, with no rule silently shadowing another.
//! A rule with a TTL expires by itself (`Expire` is refused before its time).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Activity, Aggregate};
use crate::cidr::Cidr;
use crate::{DatabaseId, RuleId};

/// The longest TTL a rule may ask for: 30 days (a longer-lived rule should be permanent).
pub const MAX_TTL_SECONDS: u64 = 30 * 24 * 3600;
/// Rules per database; PgBouncer evaluates its HBA file line by line.
pub const MAX_RULES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowlistCommand {
    Add {
        database_id: DatabaseId,
        rule_id: RuleId,
        cidr: Cidr,
        label: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
    Remove {
        rule_id: RuleId,
    },
    Expire {
        rule_id: RuleId,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AllowlistEvent {
    /// `open_to_all` records that the rule admits every source (`0.0.0.0/0`, `::/0`).
    AllowlistRuleAdded {
        database_id: DatabaseId,
        rule_id: RuleId,
        cidr: Cidr,
        label: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        open_to_all: bool,
    },
    AllowlistRuleRemoved {
        database_id: DatabaseId,
        rule_id: RuleId,
        cidr: Cidr,
    },
    AllowlistRuleExpired {
        database_id: DatabaseId,
        rule_id: RuleId,
        cidr: Cidr,
    },
}

impl AllowlistEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::AllowlistRuleAdded { .. } => "AllowlistRuleAdded",
            Self::AllowlistRuleRemoved { .. } => "AllowlistRuleRemoved",
            Self::AllowlistRuleExpired { .. } => "AllowlistRuleExpired",
        }
    }

    pub fn database_id(&self) -> DatabaseId {
        match self {
            Self::AllowlistRuleAdded { database_id, .. }
            | Self::AllowlistRuleRemoved { database_id, .. }
            | Self::AllowlistRuleExpired { database_id, .. } => *database_id,
        }
    }

    pub fn activity(&self) -> Option<Activity> {
        Some(match self {
            Self::AllowlistRuleAdded { rule_id, cidr, label, expires_at, open_to_all, .. } => Activity {
                action: "allowlist.add",
                details: serde_json::json!({
                    "rule_id": rule_id.to_string(), "cidr": cidr, "label": label,
                    "expires_at": expires_at, "open_to_all": open_to_all,
                }),
            },
            Self::AllowlistRuleRemoved { rule_id, cidr, .. } => Activity {
                action: "allowlist.remove",
                details: serde_json::json!({ "rule_id": rule_id.to_string(), "cidr": cidr }),
            },
            Self::AllowlistRuleExpired { rule_id, cidr, .. } => Activity {
                action: "allowlist.expire",
                details: serde_json::json!({ "rule_id": rule_id.to_string(), "cidr": cidr }),
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    #[error("no such allowlist rule")]
    RuleNotFound,
    #[error("{cidr} overlaps rule {existing} ({existing_cidr})")]
    Overlaps { cidr: Cidr, existing: RuleId, existing_cidr: Cidr },
    #[error("a database may have at most {MAX_RULES} allowlist rules")]
    TooMany,
    #[error("the rule has not expired yet")]
    NotExpired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub cidr: Cidr,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    pub database_id: Option<DatabaseId>,
    pub rules: BTreeMap<RuleId, Rule>,
}

impl Aggregate for Allowlist {
    type Command = AllowlistCommand;
    type Event = AllowlistEvent;
    type Error = AllowlistError;

    fn decide(&self, command: &AllowlistCommand) -> Result<Vec<AllowlistEvent>, AllowlistError> {
        use AllowlistCommand as C;
        use AllowlistEvent as E;
        match command {
            C::Add { database_id, rule_id, cidr, label, expires_at, now } => {
                // A rule past its expiry is as good as gone, even if its expiry is not recorded yet.
                let live = self.rules.iter().filter(|(_, r)| r.expires_at.is_none_or(|at| at > *now));
                if let Some((id, r)) = live.clone().find(|(_, r)| r.cidr.overlaps(cidr)) {
                    return Err(AllowlistError::Overlaps { cidr: *cidr, existing: *id, existing_cidr: r.cidr });
                }
                if live.count() >= MAX_RULES {
                    return Err(AllowlistError::TooMany);
                }
                Ok(vec![E::AllowlistRuleAdded {
                    database_id: *database_id,
                    rule_id: *rule_id,
                    cidr: *cidr,
                    label: label.clone(),
                    expires_at: *expires_at,
                    open_to_all: cidr.is_everything(),
                }])
            }
            C::Remove { rule_id } => {
                let rule = self.rules.get(rule_id).ok_or(AllowlistError::RuleNotFound)?;
                let database_id = self.database_id.ok_or(AllowlistError::RuleNotFound)?;
                Ok(vec![E::AllowlistRuleRemoved { database_id, rule_id: *rule_id, cidr: rule.cidr }])
            }
            C::Expire { rule_id, now } => {
                let rule = self.rules.get(rule_id).ok_or(AllowlistError::RuleNotFound)?;
                let database_id = self.database_id.ok_or(AllowlistError::RuleNotFound)?;
                match rule.expires_at {
                    Some(at) if at <= *now => {
                        Ok(vec![E::AllowlistRuleExpired { database_id, rule_id: *rule_id, cidr: rule.cidr }])
                    }
                    _ => Err(AllowlistError::NotExpired),
                }
            }
        }
    }

    fn apply(&mut self, event: &AllowlistEvent) {
        match event {
            AllowlistEvent::AllowlistRuleAdded { database_id, rule_id, cidr, expires_at, .. } => {
                self.database_id = Some(*database_id);
                self.rules.insert(*rule_id, Rule { cidr: *cidr, expires_at: *expires_at });
            }
            AllowlistEvent::AllowlistRuleRemoved { rule_id, .. }
            | AllowlistEvent::AllowlistRuleExpired { rule_id, .. } => {
                self.rules.remove(rule_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn add(db: DatabaseId, cidr: &str, ttl: Option<i64>, now: DateTime<Utc>) -> (RuleId, AllowlistCommand) {
        let rule_id = RuleId::new();
        let cmd = AllowlistCommand::Add {
            database_id: db,
            rule_id,
            cidr: Cidr::parse(cidr).expect("valid"),
            label: None,
            expires_at: ttl.map(|s| now + Duration::seconds(s)),
            now,
        };
        (rule_id, cmd)
    }

    fn run(state: &mut Allowlist, cmd: &AllowlistCommand) -> Result<Vec<AllowlistEvent>, AllowlistError> {
        let events = state.decide(cmd)?;
        events.iter().for_each(|e| state.apply(e));
        Ok(events)
    }

    #[test]
    fn adds_and_removes_rules() {
        let (db, now) = (DatabaseId::new(), Utc::now());
        let mut list = Allowlist::default();
        let (id, cmd) = add(db, "127.0.0.2", None, now);
        let events = run(&mut list, &cmd).expect("adds");
        assert_eq!(events[0].activity().map(|a| a.action), Some("allowlist.add"));
        assert_eq!(list.rules.len(), 1);
        let removed = run(&mut list, &AllowlistCommand::Remove { rule_id: id }).expect("removes");
        assert!(matches!(&removed[..], [AllowlistEvent::AllowlistRuleRemoved { .. }]));
        assert!(list.rules.is_empty());
        assert_eq!(run(&mut list, &AllowlistCommand::Remove { rule_id: id }), Err(AllowlistError::RuleNotFound));
    }

    #[test]
    fn duplicates_and_overlaps_conflict_unless_the_old_rule_expired() {
        let (db, now) = (DatabaseId::new(), Utc::now());
        let mut list = Allowlist::default();
        let (first, cmd) = add(db, "10.0.0.0/8", Some(60), now);
        run(&mut list, &cmd).expect("adds");
        for dup in ["10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0"] {
            assert!(
                matches!(run(&mut list, &add(db, dup, None, now).1), Err(AllowlistError::Overlaps { existing, .. }) if existing == first),
                "{dup}"
            );
        }
        assert!(run(&mut list, &add(db, "11.0.0.0/8", None, now).1).is_ok());
        let later = now + Duration::seconds(61);
        assert!(run(&mut list, &add(db, "10.0.0.0/8", None, later).1).is_ok(), "an expired rule no longer blocks");
    }

    #[test]
    fn everything_rules_are_recorded_as_such() {
        let mut list = Allowlist::default();
        let events = run(&mut list, &add(DatabaseId::new(), "0.0.0.0/0", None, Utc::now()).1).expect("adds");
        assert!(matches!(&events[..], [AllowlistEvent::AllowlistRuleAdded { open_to_all: true, .. }]));
        assert_eq!(events[0].activity().expect("activity").details["open_to_all"], true);
    }

    #[test]
    fn expiry_happens_only_after_its_time_and_once() {
        let (db, now) = (DatabaseId::new(), Utc::now());
        let mut list = Allowlist::default();
        let (id, cmd) = add(db, "127.0.0.2", Some(30), now);
        run(&mut list, &cmd).expect("adds");
        assert_eq!(run(&mut list, &AllowlistCommand::Expire { rule_id: id, now }), Err(AllowlistError::NotExpired));
        let at = now + Duration::seconds(30);
        let events = run(&mut list, &AllowlistCommand::Expire { rule_id: id, now: at }).expect("expires");
        assert_eq!(events[0].activity().map(|a| a.action), Some("allowlist.expire"));
        assert_eq!(
            run(&mut list, &AllowlistCommand::Expire { rule_id: id, now: at }),
            Err(AllowlistError::RuleNotFound)
        );
        let (permanent, cmd) = add(db, "127.0.0.3", None, now);
        run(&mut list, &cmd).expect("adds");
        assert_eq!(
            run(&mut list, &AllowlistCommand::Expire { rule_id: permanent, now: at }),
            Err(AllowlistError::NotExpired)
        );
    }

    #[test]
    fn the_list_is_bounded() {
        let (db, now) = (DatabaseId::new(), Utc::now());
        let mut list = Allowlist::default();
        for i in 0..MAX_RULES {
            run(&mut list, &add(db, &format!("10.0.{}.{}", i / 256, i % 256), None, now).1).expect("adds");
        }
        assert_eq!(run(&mut list, &add(db, "192.0.2.1", None, now).1), Err(AllowlistError::TooMany));
    }
}
