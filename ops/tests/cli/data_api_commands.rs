//! `berth db keys publishable|service …` and `berth db auth-config get|set`.

use crate::{db_name, new_user, User};

#[test]
fn data_api_keys_and_auth_config_from_the_cli() {
    let user = User::new();
    user.login(&new_user("cli-dk"));
    let name = db_name("cli-dk");
    user.run(&["db", "create", &name]).ok();

    let created = user
        .run(&[
            "db",
            "keys",
            "publishable",
            "create",
            &name,
            "--name",
            "web",
            "--allowed-origins",
            "https://app.example.com",
            "--rps",
            "5",
            "--burst",
            "10",
            "--expires-in-days",
            "30",
        ])
        .ok();
    let key = created.field("publishable key");
    assert!(key.starts_with("brth_pk_"), "{}", created.stdout);
    let id = created.field("id");
    let listed = user.run(&["db", "keys", "publishable", "list", &name]).ok();
    assert!(listed.stdout.contains(&id) && listed.stdout.contains("https://app.example.com"), "{}", listed.stdout);
    assert!(!listed.stdout.contains(&key[8..]), "the list never shows the secret");
    user.run(&["db", "keys", "publishable", "revoke", &name, &id]).ok();
    let after = user.run(&["db", "keys", "publishable", "list", &name, "--json"]).ok().json();
    assert_eq!(after.as_array().map(Vec::len), Some(0), "{after}");

    let service = user.run(&["db", "keys", "service", "create", &name, "--json"]).ok().json();
    assert!(service["service_key"].as_str().is_some_and(|k| k.starts_with("brth_sk_")), "{service}");
    let sid = service["id"].as_str().expect("an id").to_owned();
    assert!(user.run(&["db", "keys", "service", "list", &name]).ok().stdout.contains(&sid));
    user.run(&["db", "keys", "service", "revoke", &name, &sid]).ok();

    let missing = user.run(&["db", "auth-config", "get", &name]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    let set = user
        .run(&[
            "db",
            "auth-config",
            "set",
            &name,
            "--jwks-url",
            "https://idp.example.com/jwks.json",
            "--issuer",
            "https://idp.example.com",
            "--audience",
            "app",
        ])
        .ok();
    assert_eq!(set.field("subject claim"), "sub", "{}", set.stdout);
    assert_eq!(set.field("claims allowlist"), "sub,role,email,aud,exp");
    let got = user.run(&["db", "auth-config", "get", &name, "--json"]).ok().json();
    assert_eq!(got["byo_jwt"]["audience"], "app", "{got}");
    let bad =
        user.run(&["db", "auth-config", "set", &name, "--jwks-url", "ftp://x", "--issuer", "i", "--audience", "a"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("INVALID_REQUEST") && bad.stderr.contains("jwks_url"), "{}", bad.stderr);

    user.run(&["db", "delete", &name]).ok();
}
