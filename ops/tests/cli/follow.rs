//! `berth activity --follow`: new events appear while it runs.

use std::io::BufRead;
use std::process::Stdio;
use std::time::Duration;

use crate::{new_user, User};

#[test]
fn activity_follow_prints_new_events_as_they_happen() {
    let key = new_user("cli-follow");
    let user = User::new();
    user.login(&key);
    // An event before the follower starts: it is on the first page.
    let before = user.run(&["keys", "create", "--label", "before"]).ok().field("id");
    let mut child = user
        .command(&["activity", "--follow", "--json", "--interval", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("berth activity --follow runs");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |key_id: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(line)) => {
                    let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object per line");
                    seen.push(line);
                    if v["action"] == "api_key.create" && v["resource"]["id"] == key_id {
                        return true;
                    }
                }
                _ => return false,
            }
        }
    };
    let first = wait_for(&before);
    // Then one that happens while it follows.
    let after = if first { Some(user.run(&["keys", "create", "--label", "after"]).ok().field("id")) } else { None };
    let followed = after.as_deref().is_some_and(&mut wait_for);
    let _ = child.kill();
    let _ = child.wait();
    assert!(first, "the earlier event was not printed; saw {seen:?}");
    assert!(followed, "the new event was not printed within 30 s; saw {seen:?}");
    assert_eq!(seen.iter().filter(|l| l.contains(&before)).count(), 1, "each event once: {seen:?}");
}
