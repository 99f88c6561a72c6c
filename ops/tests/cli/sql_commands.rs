//! `berth db migrations list|apply DIR` and `berth db dump`.

use crate::{db_name, new_user, User};

#[test]
fn migrations_and_dumps_from_the_cli() {
    let user = User::new();
    user.login(&new_user("cli-mig"));
    let name = db_name("cli-mig");
    user.run(&["db", "create", &name]).ok();

    let dir = tempfile::tempdir().expect("a temp dir");
    let write = |file: &str, sql: &str| std::fs::write(dir.path().join(file), sql).expect("a migration file");
    write(
        "0001_users.sql",
        "create table users (id int primary key, name text);\ninsert into users values (1, 'ann');\n",
    );
    write("0002_index.sql", "create index users_name on users (name);\n");
    write("README.md", "not a migration");
    let migrations = dir.path().to_str().expect("a path");

    let applied = user.run(&["db", "migrations", "apply", &name, migrations]).ok();
    assert_eq!(applied.stdout, "0001_users: applied\n0002_index: applied\n", "{}", applied.stderr);
    let again = user.run(&["db", "migrations", "apply", &name, migrations]).ok();
    assert_eq!(again.stdout, "0001_users: already_applied\n0002_index: already_applied\n");

    // The first failure stops the run: what follows it is not applied.
    write("0003_bad.sql", "select 1/0;");
    write("0004_after.sql", "create table after_bad (a int);");
    let failed = user.run(&["db", "migrations", "apply", &name, migrations]);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(failed.stderr.contains("UNPROCESSABLE") && failed.stderr.contains("division by zero"), "{}", failed.stderr);
    assert!(!failed.stdout.contains("0004_after"), "{}", failed.stdout);
    let listed = user.run(&["db", "migrations", "list", &name, "--json"]).ok().json();
    let names: Vec<&str> = listed.as_array().expect("array").iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, ["0001_users", "0002_index"]);
    assert!(user.run(&["db", "migrations", "list", &name]).ok().stdout.contains("0002_index"));

    // Dumps: the whole database to stdout, the schema alone to a file.
    let dumped = user.run(&["db", "dump", &name]).ok();
    assert!(dumped.stdout.contains("CREATE TABLE \"public\".\"users\"") && dumped.stdout.contains("1\tann"));
    let file = user.dir.path().join("schema.sql");
    user.run(&["db", "dump", &name, "--ddl-only", "-o", file.to_str().expect("a path")]).ok();
    let schema = std::fs::read_to_string(&file).expect("the dump file");
    assert!(schema.contains("CREATE TABLE \"public\".\"users\"") && !schema.contains("ann"), "{schema}");

    user.run(&["db", "delete", &name]).ok();
}
