//! `berth audit …` as an operator runs it: exit 0 when all is well, 1 when the audit finds a
//! problem (with the problem on stdout), 2 when it cannot run.

use std::process::Command;

use domain::PlatformRole;
use eventstore::vault::Keyring;
use eventstore::Store;
use ops::local::testing;

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

/// Runs `berth audit <args>` against `url`; returns (exit code, stdout).
fn berth_audit(url: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("audit")
        .args(args)
        .env("BERTH_CONTROL_DSN", url)
        .env("BERTH_LOG", "error")
        .output()
        .expect("berth runs");
    (out.status.code().expect("an exit code"), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn audit_commands_exit_zero_when_all_is_well_and_one_when_they_find_tampering() {
    let platform = testing::shared().await;
    let db = format!("audit_cli_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    platform.control.create_database_if_missing(&db).await.expect("scratch database");
    let url = platform.control.url(&db);
    let store = Store::connect(&url, 2).expect("url").with_keyring(Keyring::generate());
    store.migrate().await.expect("migrate");
    for i in 0..2 {
        let email = format!("cli-{i}@berth.test");
        ops::accounts::bootstrap_user(&store, &email, PlatformRole::User).await.expect("seed");
    }
    store.audit_catch_up().await.expect("chain");

    let (code, out) = berth_audit(&url, &["verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("chain intact: 6 links"), "{out}");
    let (code, out) = berth_audit(&url, &["replay"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("read models match the log"), "{out}");
    let (code, out) = berth_audit(&url, &["export", "--since", "2000-01-01T00:00:00Z"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 6);
    assert!(out.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));

    let c = connect(&url).await;
    let edited: uuid::Uuid = c
        .query_one("select event_id from events order by global_position offset 2 limit 1", &[])
        .await
        .expect("q")
        .get(0);
    c.batch_execute(&format!(
        "begin; alter table events disable trigger events_no_update;
         update events set data = jsonb_set(data, '{{plan}}', '\"enterprise\"') where event_id = '{edited}';
         alter table events enable trigger events_no_update; commit;"
    ))
    .await
    .expect("tamper");
    let (code, out) = berth_audit(&url, &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("chain BROKEN at link 3") && out.contains(&domain::EventId(edited).to_string()), "{out}");

    c.batch_execute("delete from activity").await.expect("drift a read model");
    let (code, out) = berth_audit(&url, &["replay"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("activity") && out.contains("DIFFERS") && out.contains("only replayed"), "{out}");

    let (code, _) = berth_audit("postgresql://nobody@127.0.0.1:1/none", &["verify"]);
    assert_eq!(code, 2, "an audit that cannot run is not a pass");
}

/// The head `verify` printed, from its output.
fn printed_head(out: &str) -> String {
    let line =
        out.lines().find(|l| l.starts_with("anchor this head outside the database: ")).expect("a head to anchor");
    line.rsplit(' ').next().expect("the hash").to_owned()
}

/// Someone who can write both `events` and `event_chain` edits an event and rebuilds the
/// chain from scratch with Berth's own code: the chain verifies again. Only a head anchored
/// outside the database before the rewrite catches it.
#[tokio::test]
async fn verify_fails_when_the_chain_no_longer_passes_through_the_anchored_head() {
    let platform = testing::shared().await;
    let db = format!("audit_anchor_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    platform.control.create_database_if_missing(&db).await.expect("scratch database");
    let url = platform.control.url(&db);
    let store = Store::connect(&url, 2).expect("url").with_keyring(Keyring::generate());
    store.migrate().await.expect("migrate");
    ops::accounts::bootstrap_user(&store, "anchor-0@berth.test", PlatformRole::User).await.expect("seed");
    store.audit_catch_up().await.expect("chain");

    let (code, out) = berth_audit(&url, &["verify"]);
    assert_eq!(code, 0, "{out}");
    let anchored = printed_head(&out);
    assert!(out.contains(&format!("head {anchored}")), "{out}");
    let file = std::env::temp_dir().join(format!("{db}.head"));
    std::fs::write(&file, format!("{anchored}\n")).expect("anchor file");

    // More events since the anchor: still fine, and the output says how many links followed.
    ops::accounts::bootstrap_user(&store, "anchor-1@berth.test", PlatformRole::User).await.expect("seed");
    store.audit_catch_up().await.expect("chain");
    let (code, out) = berth_audit(&url, &["verify", "--expect-head", &anchored]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("anchored head {anchored} found at link 3; 3 links added since")), "{out}");
    let file_arg = file.to_str().expect("utf-8 path");
    let (code, out) = berth_audit(&url, &["verify", "--expect-head-file", file_arg]);
    assert_eq!(code, 0, "{out}");

    // The rewrite: edit the first account's plan, drop the chain, chain everything again.
    let c = connect(&url).await;
    c.batch_execute(
        "begin; alter table events disable trigger events_no_update;
         update events set data = jsonb_set(data, '{plan}', '\"enterprise\"')
         where global_position = (select min(global_position) from events);
         alter table events enable trigger events_no_update;
         delete from event_chain; delete from consumer_checkpoints where name = 'audit';
         update activity set seq = null; commit;",
    )
    .await
    .expect("rewrite");
    store.audit_catch_up().await.expect("chain again");
    let (code, out) = berth_audit(&url, &["verify"]);
    assert_eq!(code, 0, "without an anchor the rewritten chain verifies: {out}");
    let (code, out) = berth_audit(&url, &["verify", "--expect-head", &anchored]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("anchored head {anchored} NOT FOUND")), "{out}");
    assert!(!out.contains("anchor this head"), "a failed verify offers no head to anchor: {out}");
    let (code, out) = berth_audit(&url, &["verify", "--expect-head-file", file_arg]);
    assert_eq!(code, 1, "{out}");

    // A head that is not a hash is an error, not a verdict.
    let (code, _) = berth_audit(&url, &["verify", "--expect-head", "not-a-hash"]);
    assert_eq!(code, 2);
    let _ = std::fs::remove_file(&file);
}
