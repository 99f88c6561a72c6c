//! login → db create (with progress) → psql through the printed connection string → backup
//! → restore → delete, with `--json` parsed and a scan of every output for secrets.

use crate::{db_name, mode, new_user, psql, User};

#[test]
fn a_user_creates_fills_backs_up_restores_and_deletes_a_database_from_the_cli() {
    let key = new_user("cli-flow");
    let user = User::new();

    // Login checks the key, then stores it privately.
    let login = user.login(&key);
    assert!(login.stdout.contains("logged in to"), "{}", login.stdout);
    let file = user.config_dir().join("credentials.toml");
    assert_eq!(mode(&file), 0o600, "credentials file mode");
    assert_eq!(mode(&user.config_dir()), 0o700, "config dir mode");
    let stored = std::fs::read_to_string(&file).expect("credentials file");
    assert!(stored.contains(&key) && stored.contains(&user.url), "the file holds url and key");

    // `me` (table and JSON) from the stored credentials.
    let me = user.run(&["me", "--json"]).ok().json();
    assert!(me["user_id"].as_str().is_some_and(|u| u.starts_with("usr_")), "{me}");
    assert_eq!(me["plan"], "pro");
    assert!(user.run(&["me"]).ok().stdout.contains("plan:"));
    // `--json` is the `data` of the API's answer byte for byte, not a re-encoding.
    let body = crate::get_body(&user.url, "/api/v1/me", &key);
    let data = body.strip_prefix("{\"data\":").and_then(|b| b.strip_suffix('}')).expect("the envelope");
    assert_eq!(user.run(&["me", "--json"]).ok().stdout, format!("{data}\n"));

    // Create: the API answers 202 at once in this harness, so the CLI follows the operation;
    // stderr is not a terminal, so progress comes as plain lines.
    let name = db_name("cli");
    let created = user.run(&["db", "create", &name]).ok();
    assert!(created.stderr.contains(&format!("creating database {name}…")), "{}", created.stderr);
    assert!(created.stderr.contains("operation op_"), "a progress line names the operation: {}", created.stderr);
    assert!(created.stderr.contains("done"), "{}", created.stderr);
    assert_eq!(created.field("state"), "running");
    let db_id = created.field("id");
    let password = created.field("password");
    let conn = created.field("connection string");
    assert!(conn.starts_with("postgresql://") && conn.contains(&password));

    // The printed connection string works with the real psql.
    psql(&conn, "create table t (x int); insert into t values (42), (58)");
    assert_eq!(psql(&conn, "select sum(x) from t"), "100");
    // And `berth db psql` runs psql with the login in its environment.
    let via = user.run(&["db", "psql", &name, "--", "-X", "-At", "-c", "select count(*) from t"]).ok();
    assert_eq!(via.stdout.trim(), "2", "{}", via.stderr);

    // Lists and details, as tables and as the API's data.
    let list = user.run(&["db", "list"]).ok();
    assert!(list.stdout.starts_with("ID ") && list.stdout.contains(&name), "{}", list.stdout);
    let listed = user.run(&["db", "list", "--json"]).ok().json();
    let row = listed.as_array().expect("an array").iter().find(|d| d["id"] == db_id.as_str()).expect("listed");
    assert_eq!(row["state"], "running");
    assert_eq!(row["role"], "owner");
    let got = user.run(&["db", "get", &db_id, "--json"]).ok().json();
    assert_eq!(got["name"], name.as_str());
    assert_eq!(got["username"], name.as_str());

    // Backup, with progress; its id from --json.
    let backup = user.run(&["backup", "create", &name, "--label", "before", "--json"]).ok();
    assert!(backup.stderr.contains(&format!("backing up {name}…")), "{}", backup.stderr);
    let backup_json = backup.json();
    let backup_id = backup_json["id"].as_str().expect("backup id").to_owned();
    assert!(backup_id.starts_with("bkp_"));
    let backups = user.run(&["backup", "list", &name, "--json"]).ok().json();
    let b = backups.as_array().expect("array").iter().find(|b| b["id"] == backup_id.as_str()).expect("listed");
    assert_eq!(b["state"], "succeeded", "{b}");
    let dl = user.run(&["backup", "download", &name, &backup_id, "-o", "dump.sql.gz"]).ok();
    assert!(dl.stdout.contains("sha256"), "{}", dl.stdout);
    let bytes = std::fs::read(user.dir.path().join("dump.sql.gz")).expect("downloaded");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip file");
    assert_eq!(Some(bytes.len() as u64), b["size_bytes"].as_u64());

    // Restore into a new database, followed with progress; its login is printed once.
    let restored_name = db_name("cli-restored");
    let restored = user.run(&["restore", &name, "--backup", &backup_id, "--name", &restored_name, "--json"]).ok();
    assert!(restored.stderr.contains(&format!("restoring {backup_id} into {restored_name}…")), "{}", restored.stderr);
    let r = restored.json();
    let restored_conn = r["connection_string"].as_str().expect("connection string").to_owned();
    let restored_password = r["password"].as_str().expect("password").to_owned();
    assert_eq!(psql(&restored_conn, "select sum(x) from t"), "100");

    // The login again, on purpose: `credentials` shows it.
    let creds = user.run(&["db", "credentials", &name]).ok();
    assert_eq!(creds.field("password"), password);

    // Delete both, with progress; then the database is gone (exit 1, DATABASE_NOT_FOUND).
    for db in [&restored_name, &name] {
        let del = user.run(&["db", "delete", db]).ok();
        assert!(del.stderr.contains(&format!("deleting database {db}…")), "{}", del.stderr);
        assert!(del.stdout.contains("deleted database"), "{}", del.stdout);
    }
    let gone = user.run(&["db", "get", &db_id]);
    assert_eq!(gone.code, 1, "{}", gone.stderr);
    assert!(gone.stderr.contains("DATABASE_NOT_FOUND"), "{}", gone.stderr);
    let listed = user.run(&["db", "list", "--json"]).ok().json();
    assert!(!listed.as_array().expect("array").iter().any(|d| d["id"] == db_id.as_str()));

    // Outputs that might leak: activity lists everything that happened.
    let activity = user.run(&["activity", "--limit", "50"]).ok();
    assert!(activity.stdout.contains("database.create"), "{}", activity.stdout);
    assert!(activity.stdout.contains("backup.create"), "{}", activity.stdout);

    // Secrets: a database password only where the API returned it (create, restore,
    // credentials); the API key in no output at all.
    assert_eq!(user.shown_in(&password), vec![format!("db create {name}"), format!("db credentials {name}")]);
    let restore_cmd = format!("restore {name} --backup {backup_id} --name {restored_name} --json");
    assert_eq!(user.shown_in(&restored_password), vec![restore_cmd]);
    assert!(user.shown_in(&key).is_empty(), "the API key was printed by {:?}", user.shown_in(&key));

    // Logout removes the file; the next command is a usage error (exit 2).
    user.run(&["logout"]).ok();
    assert!(!file.exists());
    let after = user.run(&["me"]);
    assert_eq!(after.code, 2, "{}", after.stderr);
    assert!(after.stderr.contains("not logged in"), "{}", after.stderr);
}

#[test]
fn api_keys_are_shown_once_by_create_and_replace_and_never_by_list() {
    let key = new_user("cli-keys");
    let user = User::new();
    user.login(&key);
    let created = user.run(&["keys", "create", "--label", "ci"]).ok();
    let new_key = created.field("key");
    let key_id = created.field("id");
    assert!(new_key.starts_with("brth_"), "{new_key}");
    let listed = user.run(&["keys", "list"]).ok();
    assert!(listed.stdout.contains(&key_id), "{}", listed.stdout);
    let as_json = user.run(&["keys", "list", "--json"]).ok().json();
    assert!(as_json.as_array().expect("array").iter().all(|k| k.get("key").is_none()), "{as_json}");

    // The new key works (through the environment, which overrides the file)...
    let env_me = user.run_with(
        &["me", "--json"],
        |c| {
            c.env("BERTH_API_KEY", &new_key);
        },
        None,
    );
    assert_eq!(env_me.code, 0, "{}", env_me.stderr);
    // ...until it is replaced: the old secret stops working at once (exit 1, UNAUTHENTICATED).
    let replaced = user.run(&["keys", "replace", &key_id]).ok();
    let replacement = replaced.field("key");
    assert_ne!(replacement, new_key);
    let stale = user.run_with(
        &["me"],
        |c| {
            c.env("BERTH_API_KEY", &new_key);
        },
        None,
    );
    assert_eq!(stale.code, 1, "{}", stale.stderr);
    assert!(stale.stderr.contains("UNAUTHENTICATED"), "{}", stale.stderr);
    user.run(&["keys", "revoke", &key_id]).ok();
    let revoked = user.run_with(
        &["me"],
        |c| {
            c.env("BERTH_API_KEY", &replacement);
        },
        None,
    );
    assert_eq!(revoked.code, 1);

    assert_eq!(user.shown_in(&new_key), vec!["keys create --label ci".to_owned()]);
    assert_eq!(user.shown_in(&replacement), vec![format!("keys replace {key_id}")]);
    assert!(user.shown_in(&key).is_empty());
}
