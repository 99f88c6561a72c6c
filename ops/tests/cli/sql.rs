//! `berth db sql`, `berth db queries` and `berth db approvals` against the platform.

use crate::{db_name, new_user, User};

#[test]
fn sql_queries_and_approvals_from_the_cli() {
    let owner = User::new();
    owner.login(&new_user("cli-sql"));
    let name = db_name("cli-sql");
    owner.run(&["db", "create", &name]).ok();

    // From a file on stdin (line breaks and all), then as an argument: a table.
    let file = "create table t (id int, label text);\ninsert into t values (1, 'one'), (2, 'two');\n";
    owner.run_with(&["db", "sql", &name, "--file", "-"], |_| {}, Some(file)).ok();
    let table = owner.run(&["db", "sql", &name, "select id, label from t order by id"]).ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("id") && lines[0].contains("label"), "{}", table.stdout);
    assert!(lines[1].starts_with('1') && lines[1].contains("one"), "{}", table.stdout);
    assert!(table.stderr.contains("(2 rows)"), "{}", table.stderr);
    let json = owner.run(&["db", "sql", &name, "select count(*) as n from t", "--json"]).ok().json();
    assert_eq!(json["rows"][0][0], "2");
    // An SQL error is an API error: exit 1, with PostgreSQL's SQLSTATE.
    let failed = owner.run(&["db", "sql", &name, "select * from nowhere"]);
    assert_eq!(failed.code, 1);
    assert!(failed.stderr.contains("UNPROCESSABLE") && failed.stderr.contains("42P01"), "{}", failed.stderr);

    // The audit lists what ran.
    let audit = owner.run(&["db", "queries", &name, "--json"]).ok().json();
    assert!(audit.as_array().expect("rows").iter().any(|q| q["command"] == "INSERT"), "{audit}");

    // Approvals: on, a DROP is held; the sole owner approves it with --confirm.
    owner.run(&["db", "approvals", "settings", &name, "--enable", "--kinds", "drop"]).ok();
    let held = owner.run(&["db", "sql", &name, "drop table t"]).ok();
    let approval = held.field("approval");
    assert!(held.stderr.contains("held for approval"), "{}", held.stderr);
    let listed = owner.run(&["db", "approvals", "list", &name]).ok();
    assert!(listed.stdout.contains(&approval) && listed.stdout.contains("pending"), "{}", listed.stdout);
    let refused = owner.run(&["db", "approvals", "approve", &name, &approval]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let done = owner.run(&["db", "approvals", "approve", &name, &approval, "--confirm"]).ok();
    assert_eq!(done.field("state"), "executed");
    let gone = owner.run(&["db", "sql", &name, "select * from t"]);
    assert_eq!(gone.code, 1, "the table was dropped: {}", gone.stdout);
}

#[test]
fn observe_and_metrics_from_the_cli() {
    let owner = User::new();
    owner.login(&new_user("cli-observe"));
    let name = db_name("cli-observe");
    owner.run(&["db", "create", &name]).ok();
    owner.run(&["db", "sql", &name, "create table seen (id int); insert into seen values (1)"]).ok();
    owner.run(&["db", "sql", &name, "select id from seen where id = 1"]).ok();

    // The summary as fields, then the statements by total time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let shown = loop {
        let shown = owner.run(&["db", "observe", &name]).ok();
        if shown.stdout.contains("from seen where id = $1") || std::time::Instant::now() > deadline {
            break shown;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(shown.stdout.contains("storage bytes") && shown.stdout.contains("CALLS"), "{}", shown.stdout);
    assert!(shown.stdout.contains("from seen where id = $1"), "{}", shown.stdout);
    let json = owner.run(&["db", "observe", &name, "--json"]).ok().json();
    assert!(json["summary"]["database_storage_bytes"].as_i64() > Some(0), "{json}");

    // The history: the worker samples every second here, a minute apart in production.
    let history = loop {
        let json = owner.run(&["db", "metrics", &name, "--json"]).ok().json();
        let points = json["history"].as_array().map_or(0, Vec::len);
        if points >= 2 || std::time::Instant::now() > deadline {
            break json;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(history["history"].as_array().is_some_and(|h| h.len() >= 2), "{history}");
    let table = owner.run(&["db", "metrics", &name]).ok();
    assert!(table.stdout.starts_with("AT") && table.stdout.lines().count() >= 3, "{}", table.stdout);
}
