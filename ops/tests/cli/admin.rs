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
