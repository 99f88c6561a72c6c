//! Exit codes (API.md: 0 ok, 1 API error with code, message and request id on stderr,
//! 2 usage, 3 network), `--help`'s two groups, completions.

use crate::{new_user, User};

/// The value of the `request id:` line of an API error on stderr.
fn request_id(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("request id:").map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no request id line in: {stderr}"))
}

#[test]
fn exit_codes_tell_api_errors_from_usage_errors_from_network_errors() {
    let key = new_user("cli-codes");
    let user = User::new();
    user.login(&key);

    // 0.
    assert_eq!(user.run(&["me"]).code, 0);

    // 1: the API said no; code, message and request id on stderr, nothing on stdout.
    let missing = user.run(&["db", "get", "db_00000000000000000000000000"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(missing.stdout.is_empty(), "{}", missing.stdout);
    assert!(missing.stderr.starts_with("error: DATABASE_NOT_FOUND: "), "{}", missing.stderr);
    let id = request_id(&missing.stderr);
    assert!(id.len() >= 8 && id != "-", "a real request id: {id}");
    let bad_name = user.run(&["db", "create", "Not_A_Name", "--no-wait"]);
    assert_eq!(bad_name.code, 1, "{}", bad_name.stderr);
    assert!(bad_name.stderr.contains("INVALID_NAME"), "{}", bad_name.stderr);
    assert_ne!(request_id(&bad_name.stderr), id, "each error has its own request id");
    let unknown_by_name = user.run(&["db", "get", "no-such-database"]);
    assert_eq!(unknown_by_name.code, 1);
    assert!(unknown_by_name.stderr.contains("DATABASE_NOT_FOUND"), "{}", unknown_by_name.stderr);
    let bad_key = user.run_with(
        &["me"],
        |c| {
            c.env("BERTH_API_KEY", "brth_notakey_000000000000000000000000");
        },
        None,
    );
    assert_eq!(bad_key.code, 1);
    assert!(bad_key.stderr.contains("UNAUTHENTICATED"), "{}", bad_key.stderr);
    let admin_only = user.run(&["incidents", "list"]);
    assert_eq!(admin_only.code, 1);
    assert!(admin_only.stderr.contains("FORBIDDEN"), "{}", admin_only.stderr);

    // 2: clap's usage errors, and ours.
    for args in
        [&["db", "create"][..], &["frobnicate"], &["db", "get"], &["completions", "tcsh"], &["backup", "create"]]
    {
        let r = user.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    let nobody = User::new();
    let r = nobody.run(&["db", "list"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not logged in"), "{}", r.stderr);
    let empty_key = nobody.run_with(&["login", "--api-key", "-"], |_| {}, Some("\n"));
    assert_eq!(empty_key.code, 2);

    // 3: nothing listens on the port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{closed}");
    let down = user.run_with(
        &["db", "list"],
        |c| {
            c.env("BERTH_URL", &url);
        },
        None,
    );
    assert_eq!(down.code, 3, "{}", down.stderr);
    assert!(down.stderr.contains("network error"), "{}", down.stderr);
    // Login against a closed port stores nothing.
    let login = nobody.run_with(&["login", "--api-key", "-", "--url", &url], |_| {}, Some(&key));
    assert_eq!(login.code, 3);
    assert!(!nobody.config_dir().join("credentials.toml").exists());
    // Neither the key nor the URL's credentials reach an error message.
    assert!(user.shown_in(&key).is_empty());
}

#[test]
fn help_lists_client_and_operator_commands_apart_and_completions_generate() {
    let user = User::new();
    let help = user.run(&["--help"]).ok().stdout;
    let client = help.find("Client commands:").expect("a client section");
    let operator = help.find("Operator commands:").expect("an operator section");
    assert!(client < operator);
    let (client_part, operator_part) = help.split_at(operator);
    for c in ["login", "logout", "me", "db", "backup", "restore", "branch", "keys", "activity", "incidents", "accounts"]
    {
        assert!(client_part.contains(&format!("\n  {c} ")), "{c} under client commands:\n{help}");
    }
    for c in ["up", "serve", "worker", "migrate", "admin", "audit", "bench"] {
        assert!(operator_part.contains(&format!("\n  {c} ")), "{c} under operator commands:\n{help}");
        assert!(!client_part.contains(&format!("\n  {c} ")), "{c} not under client commands");
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = user.run(&["completions", shell]).ok().stdout;
        assert!(script.contains("berth") && script.contains("reset-password"), "{shell} completion");
    }
    // Every client command has its own help.
    for args in [&["db", "--help"][..], &["db", "psql", "--help"], &["backup", "--help"], &["keys", "--help"]] {
        user.run(args).ok();
    }
}
