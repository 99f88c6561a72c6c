//! What differs between intent and what was observed: pure comparisons, no I/O.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use domain::{DatabaseId, DatabaseState, HostId, UserState};
use eventstore::drift::{IntentDatabase, IntentObject, IntentUser};
use uuid::Uuid;

const DATABASE_MARKER: &str = "berth:database:";
const USER_MARKER: &str = "berth:dbuser:";
const GONE_MARKER: &str = "berth:gone:";
/// The names of verification scratch copies (`worker::backups::scratch_name`).
const SCRATCH_PREFIX: &str = "berth-verify-";
/// The resource of findings about the backup store.
pub const BACKUPS_RESOURCE: &str = "backups";

#[derive(Debug, Clone, Copy)]
pub struct DriftOptions {
    pub interval: Duration,
    /// How long an object must have been seen before it counts as drift.
    pub grace: Duration,
}

impl Default for DriftOptions {
    fn default() -> Self {
        Self { interval: Duration::from_secs(60), grace: Duration::from_secs(120) }
    }
}

/// A marked role on a host, and the databases it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRole {
    pub name: String,
    pub comment: String,
    pub owns: Vec<String>,
    /// How long the reconciler has seen it.
    pub age: Duration,
}

/// What one host has.
#[derive(Debug, Clone, Default)]
pub struct ObservedHost {
    pub roles: Vec<ObservedRole>,
    /// Every database name on the host.
    pub databases: Vec<String>,
    /// Every database name PgBouncer serves (its own `pgbouncer` excluded).
    pub served: Vec<String>,
    /// PgBouncer's files (logins, pools with their addresses and caps, HBA) that differ
    /// from what the store renders, and for how long they have.
    pub files_stale: Option<(Duration, Vec<&'static str>)>,
    /// Verification scratch copies (`berth-verify-…`), with their owner and how long the
    /// reconciler has seen them.
    pub scratch: Vec<ObservedScratch>,
}

/// A verification's scratch copy on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedScratch {
    pub name: String,
    pub owner: String,
    pub age: Duration,
}

impl ObservedScratch {
    pub fn is_scratch(database: &str) -> bool {
        database.starts_with(SCRATCH_PREFIX)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    None,
    DropDatabase {
        id: DatabaseId,
        name: String,
    },
    DropUsers {
        id: DatabaseId,
    },
    SyncBouncer,
    /// A verification's scratch copy no verification is using (its worker died).
    DropScratch {
        name: String,
    },
    /// A role renamed away at a deletion (`berth-gone-…`) because it still had privileges in
    /// a database closed to connections: dropped once nothing holds it.
    DropGoneRole {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The database id (`db_…`), the host id, or [`BACKUPS_RESOURCE`].
    pub resource: String,
    pub what: String,
    pub repair: Repair,
}

fn marked_id(comment: &str, prefix: &str) -> Option<DatabaseId> {
    comment.strip_prefix(prefix).and_then(|u| Uuid::parse_str(u).ok()).map(DatabaseId)
}

/// Hosts registered with the same PgBouncer config dir, each with the names of the others:
/// rendering one host's pools there would drop every pool of the other from PgBouncer (a
/// registration mistake the reconciler reports and never "repairs").
pub fn shared_config_dirs(hosts: &[(HostId, &str, &str)]) -> HashMap<HostId, Vec<String>> {
    let mut out: HashMap<HostId, Vec<String>> = HashMap::new();
    for (id, _, dir) in hosts {
        for (other, name, other_dir) in hosts {
            if other != id && other_dir == dir {
                out.entry(*id).or_default().push((*name).to_owned());
            }
        }
    }
    out
}

/// Intent vs one host: what differs, and what to do about it.
pub fn host_findings(
    host: HostId,
    intent: &[IntentDatabase],
    users: &[IntentUser],
    observed: &ObservedHost,
    grace: Duration,
) -> Vec<Finding> {
    let by_id: HashMap<DatabaseId, &IntentDatabase> = intent.iter().map(|d| (d.id, d)).collect();
    let gone = |id: DatabaseId| by_id.get(&id).is_none_or(|d| d.state == DatabaseState::Deleted);
    let mut out = Vec::new();
    for role in observed.roles.iter().filter(|r| r.age >= grace) {
        if let Some(id) = marked_id(&role.comment, DATABASE_MARKER).filter(|id| gone(*id)) {
            let owns = if role.owns.is_empty() { String::new() } else { format!(" owning {:?}", role.owns) };
            out.push(Finding {
                resource: id.to_string(),
                what: format!(
                    "orphan role {:?}{owns} of a database the control plane has deleted or never had",
                    role.name
                ),
                repair: Repair::DropDatabase { id, name: role.name.clone() },
            });
        } else if let Some(id) = marked_id(&role.comment, USER_MARKER).filter(|id| gone(*id)) {
            out.push(Finding {
                resource: id.to_string(),
                what: format!(
                    "orphan database user role {:?} of a database the control plane has deleted or never had",
                    role.name
                ),
                repair: Repair::DropUsers { id },
            });
        } else if let Some(db) = marked_id(&role.comment, DATABASE_MARKER)
            .and_then(|id| by_id.get(&id))
            .filter(|d| d.host_id != host && !d.busy)
        {
            // A copy a move left behind (the database is served from another host and no
            // move is at work): the log says it should not be here.
            out.push(Finding {
                resource: db.id.to_string(),
                what: format!("a copy of database {:?} is left on a host it was moved off", role.name),
                repair: Repair::DropDatabase { id: db.id, name: role.name.clone() },
            });
        } else if role.comment.starts_with(GONE_MARKER) {
            out.push(Finding {
                resource: host.to_string(),
                what: format!("role {:?} renamed away at a deletion is still on the host", role.name),
                repair: Repair::DropGoneRole { name: role.name.clone() },
            });
        } else if let Some(id) = marked_id(&role.comment, USER_MARKER) {
            // The explorer role (read-only SQL) and the data API's roles are the platform's,
            // made on first use.
            let ours =
                hostctl::sql::explorer::is_explorer_role(&role.name) || hostctl::data_api::is_data_role(&role.name);
            if !ours && !users.iter().any(|u| u.database_id == id && u.role_name == role.name) {
                // Dropping it takes the owner's session inside the tenant database (to hand
                // over what it owns): left to an operator.
                out.push(Finding {
                    resource: id.to_string(),
                    what: format!("database user role {:?} has no user in the control plane", role.name),
                    repair: Repair::None,
                });
            }
        }
    }
    let live = |d: &&IntentDatabase| d.host_id == host && !d.busy && d.state.is_live();
    for db in intent.iter().filter(live) {
        let role_ok =
            observed.roles.iter().any(|r| r.name == db.name && marked_id(&r.comment, DATABASE_MARKER) == Some(db.id));
        let db_ok = observed.databases.contains(&db.name);
        let mut missing = Vec::new();
        if !role_ok {
            missing.push("its role");
        }
        if !db_ok {
            missing.push("its database");
        }
        let user_roles =
            users.iter().filter(|u| u.database_id == db.id && u.state == UserState::Ready).map(|u| &u.role_name);
        let lost: Vec<&String> = user_roles
            .filter(|r| {
                !observed.roles.iter().any(|o| o.name == **r && marked_id(&o.comment, USER_MARKER) == Some(db.id))
            })
            .collect();
        let lost_text = format!("the roles of its users {lost:?}");
        if !lost.is_empty() {
            missing.push(&lost_text);
        }
        if !missing.is_empty() {
            out.push(Finding {
                resource: db.id.to_string(),
                what: format!(
                    "database {:?} is {} but {} is missing on the host",
                    db.name,
                    db.state,
                    missing.join(" and ")
                ),
                repair: Repair::None,
            });
        }
    }
    // Scratch copies: while a backup or verification of its database is pending or running
    // the copy may be in use; otherwise it is a leftover of a worker that died mid-way.
    for scratch in observed.scratch.iter().filter(|s| s.age >= grace) {
        let owner = observed.roles.iter().find(|r| r.name == scratch.owner);
        let id = owner.and_then(|r| marked_id(&r.comment, DATABASE_MARKER));
        if id.is_some_and(|id| by_id.get(&id).is_some_and(|d| d.verifying)) {
            continue;
        }
        out.push(Finding {
            resource: id.map_or_else(|| host.to_string(), |id| id.to_string()),
            what: format!(
                "verification copy {:?} of {:?} is left over from a verification that ended without it",
                scratch.name, scratch.owner
            ),
            repair: Repair::DropScratch { name: scratch.name.clone() },
        });
    }
    // PgBouncer: pools of settled databases only (a job in flight syncs its own).
    let mine: Vec<&IntentDatabase> = intent.iter().filter(|d| d.host_id == host).collect();
    let unsettled = |name: &str| {
        let in_flight = |s| matches!(s, DatabaseState::Provisioning | DatabaseState::Deleting);
        mine.iter().any(|d| d.name == name && (d.busy || in_flight(d.state)))
    };
    // Its pooler serves its own databases and forwards those moved off it.
    let served_here: Vec<&IntentDatabase> =
        intent.iter().filter(|d| d.host_id == host || d.forwarded_from.contains(&host)).collect();
    let should = |name: &str| served_here.iter().any(|d| d.name == name && d.state.is_live());
    let extra: Vec<&String> = observed.served.iter().filter(|n| !should(n) && !unsettled(n)).collect();
    let missing: Vec<&String> = served_here
        .iter()
        .filter(|d| !d.busy && d.state.is_live())
        .map(|d| &d.name)
        .filter(|n| !observed.served.contains(n))
        .collect();
    let mut bouncer = Vec::new();
    if !extra.is_empty() || !missing.is_empty() {
        bouncer.push(format!("PgBouncer serves pools it should not {extra:?} and lacks pools {missing:?}"));
    }
    if let Some((_, files)) = observed.files_stale.as_ref().filter(|(age, _)| *age >= grace) {
        bouncer.push(format!("PgBouncer's files {files:?} are not what the control plane renders"));
    }
    if !bouncer.is_empty() {
        out.push(Finding { resource: host.to_string(), what: bouncer.join("; "), repair: Repair::SyncBouncer });
    }
    out
}

/// Intent vs the backup store. `objects`: every stored key with how long it has been seen.
pub fn backup_findings(rows: &[IntentObject], objects: &[(String, Duration)], grace: Duration) -> Vec<Finding> {
    let named: HashSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let stored: HashSet<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    let mut out = Vec::new();
    for (key, age) in objects {
        if *age >= grace && !named.contains(key.as_str()) {
            out.push(Finding {
                resource: BACKUPS_RESOURCE.into(),
                what: format!("object {key:?} in the backup store belongs to no backup"),
                repair: Repair::None,
            });
        }
    }
    for row in rows.iter().filter(|r| r.required && !stored.contains(r.key.as_str())) {
        out.push(Finding {
            resource: BACKUPS_RESOURCE.into(),
            what: format!(
                "object {:?} of succeeded backup {} is missing from the backup store",
                row.key,
                domain::BackupId(row.backup_id)
            ),
            repair: Repair::None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use domain::{DatabaseId, HostId};
    use eventstore::drift::{IntentDatabase, IntentObject};

    use super::*;

    const OLD: Duration = Duration::from_secs(600);
    const GRACE: Duration = Duration::from_secs(60);

    fn db(host: HostId, name: &str, state: &str) -> IntentDatabase {
        IntentDatabase {
            id: DatabaseId::new(),
            host_id: host,
            name: name.into(),
            state: DatabaseState::parse(state).expect("a database state"),
            busy: false,
            verifying: false,
            forwarded_from: vec![],
        }
    }

    /// After a move: the old host's pooler forwards the database (not an extra pool), and a
    /// copy left there is dropped — unless a move is at work.
    #[test]
    fn a_moved_database_is_forwarded_by_its_old_host_and_a_copy_left_there_is_dropped() {
        let (old, new) = (HostId::new(), HostId::new());
        let mut moved = db(new, "shop", "running");
        moved.forwarded_from = vec![old];
        let mut seen = healthy(std::slice::from_ref(&moved));
        let found = host_findings(old, std::slice::from_ref(&moved), &[], &seen, GRACE);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].repair, Repair::DropDatabase { id: moved.id, name: "shop".into() });
        assert!(found[0].what.contains("moved off"), "{found:?}");
        seen.roles.clear();
        seen.databases.retain(|d| d != "shop");
        assert_eq!(
            host_findings(old, std::slice::from_ref(&moved), &[], &seen, GRACE),
            vec![],
            "the forward is expected"
        );
        seen.served.clear();
        let lacking = host_findings(old, std::slice::from_ref(&moved), &[], &seen, GRACE);
        assert_eq!(lacking.len(), 1, "{lacking:?}");
        assert_eq!(lacking[0].repair, Repair::SyncBouncer);
        let mut moving = db(new, "shop", "running");
        moving.busy = true;
        let copying = healthy(std::slice::from_ref(&moving));
        assert!(host_findings(old, std::slice::from_ref(&moving), &[], &copying, GRACE)
            .iter()
            .all(|f| f.repair != Repair::DropDatabase { id: moving.id, name: "shop".into() }));
    }

    #[test]
    fn hosts_sharing_a_config_dir_name_each_other_and_only_those() {
        let (a, b, c) = (HostId::new(), HostId::new(), HostId::new());
        let shared = shared_config_dirs(&[(a, "a", "/etc/pgb"), (b, "b", "/etc/pgb"), (c, "c", "/srv/pgb")]);
        assert_eq!(shared.get(&a), Some(&vec!["b".to_owned()]));
        assert_eq!(shared.get(&b), Some(&vec!["a".to_owned()]));
        assert!(!shared.contains_key(&c));
    }

    fn role(name: &str, comment: String, age: Duration) -> ObservedRole {
        ObservedRole { name: name.into(), comment, owns: vec![name.into()], age }
    }

    /// The host as it should be for `dbs`: each with its role, database and pool.
    fn healthy(dbs: &[IntentDatabase]) -> ObservedHost {
        ObservedHost {
            roles: dbs.iter().map(|d| role(&d.name, hostctl::host::marker(d.id), OLD)).collect(),
            databases: dbs.iter().map(|d| d.name.clone()).chain(["postgres".into()]).collect(),
            served: dbs.iter().map(|d| d.name.clone()).collect(),
            files_stale: None,
            scratch: vec![],
        }
    }

    #[test]
    fn leftover_verification_copies_are_dropped_unless_a_verification_is_under_way() {
        let host = HostId::new();
        let (idle, mut busy) = (db(host, "idle", "running"), db(host, "busy", "running"));
        busy.verifying = true;
        let dbs = vec![idle.clone(), busy.clone()];
        let mut observed = healthy(&dbs);
        let copy = |name: &str, owner: &str, age| ObservedScratch { name: name.into(), owner: owner.into(), age };
        observed.scratch = vec![
            copy("berth-verify-aaaa", "idle", OLD),
            copy("berth-verify-bbbb", "busy", OLD),
            copy("berth-verify-cccc", "idle", Duration::from_secs(1)),
        ];
        let found = host_findings(host, &dbs, &[], &observed, GRACE);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].resource, idle.id.to_string());
        assert_eq!(found[0].repair, Repair::DropScratch { name: "berth-verify-aaaa".into() });
    }

    #[test]
    fn roles_renamed_away_at_a_deletion_are_dropped_after_the_grace() {
        let host = HostId::new();
        let mut observed = healthy(&[]);
        let marker = format!("berth:gone:{}", hostctl::host::marker(DatabaseId::new()));
        observed.roles.push(role("berth-gone-0123456789abcdef", marker.clone(), OLD));
        observed.roles.push(role("berth-gone-fedcba9876543210", marker, Duration::from_secs(1)));
        let found = host_findings(host, &[], &[], &observed, GRACE);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].repair, Repair::DropGoneRole { name: "berth-gone-0123456789abcdef".into() });
    }

    #[test]
    fn a_host_as_the_control_plane_says_has_no_findings() {
        let host = HostId::new();
        let dbs = vec![db(host, "alpha", "running"), db(host, "beta", "stopped")];
        assert_eq!(host_findings(host, &dbs, &[], &healthy(&dbs), GRACE), vec![]);
    }

    #[test]
    fn roles_of_deleted_or_unknown_databases_are_dropped_after_the_grace() {
        let host = HostId::new();
        let deleted = db(host, "gone", "deleted");
        let unknown = DatabaseId::new();
        let mut observed = healthy(&[]);
        observed.roles.push(role("gone", hostctl::host::marker(deleted.id), OLD));
        observed.roles.push(role("stray", hostctl::host::marker(unknown), OLD));
        observed.roles.push(role("gone.app", hostctl::users::user_marker(deleted.id), OLD));
        observed.roles.push(role("young", hostctl::host::marker(DatabaseId::new()), Duration::from_secs(1)));
        let found = host_findings(host, std::slice::from_ref(&deleted), &[], &observed, GRACE);
        let repairs: Vec<&Repair> = found.iter().map(|f| &f.repair).collect();
        assert_eq!(
            repairs,
            vec![
                &Repair::DropDatabase { id: deleted.id, name: "gone".into() },
                &Repair::DropDatabase { id: unknown, name: "stray".into() },
                &Repair::DropUsers { id: deleted.id },
            ]
        );
        assert_eq!(found[0].resource, deleted.id.to_string());
    }

    #[test]
    fn databases_at_work_are_left_alone() {
        let host = HostId::new();
        let mut busy = db(host, "busy", "running");
        busy.busy = true;
        let dbs = vec![db(host, "making", "provisioning"), db(host, "going", "deleting"), busy];
        let mut observed = healthy(&dbs);
        observed.roles.clear();
        observed.databases.clear();
        observed.served = vec!["going".into()];
        assert_eq!(host_findings(host, &dbs, &[], &observed, GRACE), vec![]);
    }

    #[test]
    fn a_missing_database_or_role_is_reported_not_repaired() {
        let host = HostId::new();
        let dbs = vec![db(host, "alpha", "running")];
        let mut observed = healthy(&dbs);
        observed.databases.retain(|n| n != "alpha");
        let found = host_findings(host, &dbs, &[], &observed, GRACE);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].repair, Repair::None);
        assert!(found[0].what.contains("alpha") && found[0].what.contains("its database"), "{}", found[0].what);
    }

    #[test]
    fn user_roles_without_a_user_and_users_without_a_role_are_reported() {
        let host = HostId::new();
        let dbs = vec![db(host, "alpha", "running")];
        let id = dbs[0].id;
        let user = |role: &str, state: &str| IntentUser {
            database_id: id,
            role_name: role.into(),
            state: UserState::parse(state).expect("a user state"),
        };
        let users = vec![user("alpha.app", "ready"), user("alpha.new", "creating"), user("alpha.kept", "ready")];
        let mut observed = healthy(&dbs);
        observed.roles.push(role("alpha.kept", hostctl::users::user_marker(id), OLD));
        observed.roles.push(role("alpha.stray", hostctl::users::user_marker(id), OLD));
        observed.roles.push(role("alpha.sql_explorer", hostctl::users::user_marker(id), OLD));
        let found = host_findings(host, &dbs, &users, &observed, GRACE);
        let what: Vec<&str> = found.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(what.len(), 2, "{what:?}");
        assert!(what[0].contains("alpha.stray") && what[0].contains("no user"), "{what:?}");
        assert!(what[1].contains("alpha.app") && !what[1].contains("alpha.new"), "{what:?}");
        assert!(found.iter().all(|f| f.repair == Repair::None && f.resource == id.to_string()));
    }

    #[test]
    fn pool_differences_resync_the_bouncer() {
        let host = HostId::new();
        let dbs = vec![db(host, "alpha", "running"), db(host, "old", "deleted")];
        let mut observed = healthy(&dbs[..1]);
        observed.served = vec!["old".into()];
        let found = host_findings(host, &dbs, &[], &observed, GRACE);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].resource.clone(), found[0].repair.clone()), (host.to_string(), Repair::SyncBouncer));
        assert!(found[0].what.contains("\"old\"") && found[0].what.contains("\"alpha\""), "{}", found[0].what);
    }

    #[test]
    fn stale_pgbouncer_files_resync_the_bouncer_after_the_grace() {
        let host = HostId::new();
        let mut observed = healthy(&[]);
        observed.files_stale = Some((Duration::from_secs(1), vec!["hba.conf"]));
        assert_eq!(host_findings(host, &[], &[], &observed, GRACE), vec![]);
        observed.files_stale = Some((OLD, vec!["hba.conf"]));
        let found = host_findings(host, &[], &[], &observed, GRACE);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].repair, Repair::SyncBouncer);
        assert!(found[0].what.contains("hba.conf"), "{}", found[0].what);
    }

    #[test]
    fn unnamed_and_missing_backup_objects_are_reported() {
        let row = |key: &str, required| IntentObject { backup_id: uuid::Uuid::now_v7(), key: key.into(), required };
        let rows = vec![row("a/1.sql.gz", true), row("a/2.sql.gz", true), row("a/3.sql.gz", false)];
        let objects = vec![
            ("a/1.sql.gz".to_owned(), OLD),
            ("a/stray".to_owned(), OLD),
            ("a/new".to_owned(), Duration::from_secs(1)),
        ];
        let found = backup_findings(&rows, &objects, GRACE);
        let what: Vec<&str> = found.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(what.len(), 2, "{what:?}");
        assert!(what[0].contains("a/stray") && what[0].contains("no backup"));
        assert!(what[1].contains("a/2.sql.gz") && what[1].contains("missing"));
    }
}
