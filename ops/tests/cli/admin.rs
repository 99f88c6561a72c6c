//! The platform admin's `berth accounts list|set-plan` and `berth incidents list|resolve`.

use crate::{new_user, platform, User};

#[test]
fn platform_admins_set_plans_and_list_incidents() {
    let admin = User::new();
    admin.login(&platform().admin_key);
    let user = User::new();
    user.login(&new_user("cli-plan"));
    let account = user.run(&["me", "--json"]).ok().json()["account_id"].as_str().expect("account").to_owned();

    let set = admin.run(&["accounts", "set-plan", &account, "business", "--json"]).ok().json();
    assert_eq!(set["plan"], "business");
    assert_eq!(user.run(&["me", "--json"]).ok().json()["plan"], "business");
    let refused = user.run(&["accounts", "set-plan", &account, "free"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("FORBIDDEN"), "{}", refused.stderr);
    let email = user.run(&["me", "--json"]).ok().json()["email"].as_str().expect("email").to_owned();
    let listed = admin.run(&["accounts", "list", "--email", &email, "--plan", "business", "--json"]).ok().json();
    assert_eq!(listed.as_array().map(|a| a.len()), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], account.as_str());
    let table = admin.run(&["accounts", "list", "--email", &email]).ok();
    assert!(table.stdout.starts_with("ID ") && table.stdout.contains(&account), "{}", table.stdout);
    assert!(table.stdout.contains("business"), "{}", table.stdout);
    let refused = user.run(&["accounts", "list"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("FORBIDDEN"), "{}", refused.stderr);

    let incidents = admin.run(&["incidents", "list", "--json"]).ok().json();
    assert!(incidents.is_array(), "{incidents}");
    let table = admin.run(&["incidents", "list", "--state", "open"]).ok();
    assert!(table.stdout.starts_with("ID "), "{}", table.stdout);
    let unknown = admin.run(&["incidents", "resolve", "inc_00000000000000000000000000"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("NOT_FOUND"), "{}", unknown.stderr);
}

/// `berth hosts`: the list as a table and JSON; cordon and uncordon of a host that takes
/// nothing else in this binary (the MariaDB host: this binary's databases are PostgreSQL's,
/// but for `db create --engine mariadb`, which a cordon would turn away — it is uncordoned
/// at once); removal of a host holding databases refused; users refused.
#[test]
fn platform_admins_list_cordon_and_uncordon_hosts() {
    let admin = User::new();
    admin.login(&platform().admin_key);
    let hosts = admin.run(&["hosts", "list", "--json"]).ok().json();
    let local = hosts.as_array().expect("hosts").iter().find(|h| h["name"] == "local").cloned().expect("local");
    assert_eq!((local["engine"].as_str(), local["region"].as_str()), (Some("postgres"), Some("default")), "{local}");
    let table = admin.run(&["hosts", "list"]).ok();
    assert!(table.stdout.starts_with("ID ") && table.stdout.contains("local-mariadb"), "{}", table.stdout);

    let maria = hosts.as_array().expect("hosts").iter().find(|h| h["name"] == "local-mariadb").cloned().expect("maria");
    let id = maria["id"].as_str().expect("id");
    let cordoned = admin.run(&["hosts", "cordon", id]).ok();
    assert!(cordoned.stdout.contains("is cordoned"), "{}", cordoned.stdout);
    let back = admin.run(&["hosts", "uncordon", id, "--json"]).ok().json();
    assert_eq!(back["state"], "ready");

    // A database on the local host first: the removal must be refused, never tried on an
    // empty host this binary's other tests use.
    let user = User::new();
    user.login(&new_user("cli-hosts-user"));
    let held = user.run(&["db", "create", &crate::db_name("held"), "--json"]).ok().json();
    let held = held["id"].as_str().expect("an id").to_owned();
    let busy = admin.run(&["hosts", "remove", local["id"].as_str().expect("id")]);
    assert_eq!(busy.code, 1);
    assert!(busy.stderr.contains("CONFLICT") && busy.stderr.contains("holds"), "{}", busy.stderr);
    // `berth hosts move`: onto the host it is on, onto another engine's host (the move itself
    // is tested end to end in the integration suite, with a second PostgreSQL host).
    let here = admin.run(&["hosts", "move", &held, local["id"].as_str().expect("id")]);
    assert_eq!(here.code, 1);
    assert!(here.stderr.contains("CONFLICT") && here.stderr.contains("already"), "{}", here.stderr);
    let elsewhere = admin.run(&["hosts", "move", &held, id]);
    assert_eq!(elsewhere.code, 1);
    assert!(elsewhere.stderr.contains("UNPROCESSABLE") && elsewhere.stderr.contains("mariadb"), "{}", elsewhere.stderr);
    let refused = user.run(&["hosts", "move", &held, id]);
    assert!(refused.code == 1 && refused.stderr.contains("FORBIDDEN"), "{}", refused.stderr);
    let refused = user.run(&["hosts", "list"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("FORBIDDEN"), "{}", refused.stderr);
}
