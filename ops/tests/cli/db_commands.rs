//! `berth db users|allowlist|collaborators`, `berth backup verify`, and a database's
//! lifecycle and password from the CLI.

use crate::{db_name, new_user, User};

#[test]
fn database_users_allowlist_and_collaborators_from_the_cli() {
    let owner = User::new();
    let owner_key = new_user("cli-owner");
    owner.login(&owner_key);
    let friend = User::new();
    friend.login(&new_user("cli-friend"));
    let friend_me = friend.run(&["me", "--json"]).ok().json();
    let friend_email = friend_me["email"].as_str().expect("email").to_owned();
    let friend_id = friend_me["user_id"].as_str().expect("user id").to_owned();

    let name = db_name("cli-acc");
    owner.run(&["db", "create", &name]).ok();

    // A database user: its password printed by create only.
    let created = owner.run(&["db", "users", "create", &name, "app"]).ok();
    let user_password = created.field("password");
    assert_eq!(created.field("username"), format!("{name}.app"));
    let users = owner.run(&["db", "users", "list", &name, "--json"]).ok().json();
    assert_eq!(users[0]["username"], format!("{name}.app"));
    assert!(users[0].get("password").is_none());
    owner.run(&["db", "users", "delete", &name, "app"]).ok();

    // The allowlist: add with a TTL, list, remove.
    let rule =
        owner.run(&["db", "allowlist", "add", &name, "203.0.113.0/24", "--label", "office", "--ttl", "600", "--json"]);
    let rule = rule.ok().json();
    let rule_id = rule["id"].as_str().expect("rule id").to_owned();
    assert!(rule["expires_at"].is_string(), "{rule}");
    let rules = owner.run(&["db", "allowlist", "list", &name]).ok();
    assert!(rules.stdout.contains("203.0.113.0/24") && rules.stdout.contains("office"), "{}", rules.stdout);
    owner.run(&["db", "allowlist", "remove", &name, &rule_id]).ok();
    assert!(owner.run(&["db", "allowlist", "list", &name]).ok().stdout.contains("open to all"));

    // Collaborators: the friend sees the database once shared, as a viewer cannot read its
    // login (exit 1, FORBIDDEN), and loses it when unshared.
    owner.run(&["db", "collaborators", "add", &name, &friend_email, "--role", "viewer"]).ok();
    let listed = owner.run(&["db", "collaborators", "list", &name, "--json"]).ok().json();
    assert_eq!(listed[0]["user_id"], friend_id.as_str());
    assert_eq!(listed[0]["role"], "viewer");
    let seen = friend.run(&["db", "list", "--json"]).ok().json();
    assert!(seen.as_array().expect("array").iter().any(|d| d["name"] == name.as_str() && d["role"] == "viewer"));
    let refused = friend.run(&["db", "credentials", &name]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("FORBIDDEN"), "{}", refused.stderr);
    owner.run(&["db", "collaborators", "set-role", &name, &friend_id, "developer"]).ok();
    assert_eq!(friend.run(&["db", "credentials", &name]).code, 0);
    owner.run(&["db", "collaborators", "remove", &name, &friend_id]).ok();
    let gone = friend.run(&["db", "get", &name]);
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("DATABASE_NOT_FOUND"), "{}", gone.stderr);

    // A backup verified from the CLI.
    let backup = owner.run(&["backup", "create", &name, "--json"]).ok().json();
    let backup_id = backup["id"].as_str().expect("id").to_owned();
    let verified = owner.run(&["backup", "verify", &name, &backup_id]).ok();
    assert!(verified.stdout.contains(&format!("backup {backup_id}: ok")), "{}\n{}", verified.stdout, verified.stderr);
    owner.run(&["backup", "delete", &name, &backup_id]).ok();
    owner.run(&["db", "delete", &name]).ok();

    assert_eq!(owner.shown_in(&user_password), vec![format!("db users create {name} app")]);
}

#[test]
fn lifecycle_and_reset_password_from_the_cli() {
    let user = User::new();
    let key = new_user("cli-life");
    user.login(&key);
    let name = db_name("cli-life");
    let created = user.run(&["db", "create", &name]).ok();
    let old = created.field("connection string");
    assert_eq!(crate::psql(&old, "select 1"), "1");

    // Stop: followed to its end; then psql is refused. Start: it answers again.
    let stopped = user.run(&["db", "stop", &name]).ok();
    assert!(stopped.stdout.contains("is stopped"), "{}\n{}", stopped.stdout, stopped.stderr);
    assert!(!crate::psql_ok(&old), "a stopped database refuses connections");
    let started = user.run(&["db", "start", &name]).ok();
    assert!(started.stdout.contains("is running"), "{}", started.stdout);
    assert_eq!(crate::psql(&old, "select 1"), "1");
    let again = user.run(&["db", "start", &name]);
    assert_eq!(again.code, 1, "starting a running database: {}", again.stdout);
    assert!(again.stderr.contains("CONFLICT"), "{}", again.stderr);
    user.run(&["db", "restart", &name]).ok();

    // A new password: printed once; the old one stops working, the new one works.
    let reset = user.run(&["db", "reset-password", &name]).ok();
    let new_password = reset.field("password");
    let new = reset.field("connection string");
    assert!(!crate::psql_ok(&old), "the old password no longer logs in");
    assert_eq!(crate::psql(&new, "select 1"), "1");
    user.run(&["db", "delete", &name, "--no-wait"]).ok();

    assert_eq!(user.shown_in(&new_password), vec![format!("db reset-password {name}")]);
}

#[test]
fn a_mariadb_database_from_the_cli_is_reached_with_its_own_client() {
    let user = User::new();
    user.login(&new_user("cli-maria"));
    let name = db_name("cli-maria");
    let created = user.run(&["db", "create", &name, "--engine", "mariadb"]).ok();
    let url = created.field("connection string");
    assert!(url.starts_with("mysql://"), "{url}");
    let got = user.run(&["db", "get", &name, "--json"]).ok().json();
    assert_eq!(got["engine"], "mariadb", "{got}");
    // `berth db psql` runs the database's own client: the mariadb client, for MariaDB.
    let sql = "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2); SELECT SUM(x) FROM t";
    let via = user.run(&["db", "psql", &name, "--", "--batch", "--skip-column-names", "-e", sql]).ok();
    assert_eq!(via.stdout.trim(), "3", "{}", via.stderr);
    user.run(&["db", "delete", &name]).ok();
}
