use std::time::Instant;

use domain::{AccountId, ApiKeyId, UserId};
use eventstore::queries::ApiKeyRow;
use eventstore::AppendSignal;

use super::{KeyCache, Lookup};

fn row(account: AccountId) -> ApiKeyRow {
    ApiKeyRow {
        id: ApiKeyId::new(),
        account_id: account,
        user_id: UserId(uuid::Uuid::new_v4()),
        hash: "00".repeat(32),
        revoked: false,
        platform_role: domain::PlatformRole::User,
        selected: None,
        read_only: vec![],
    }
}

fn live() -> KeyCache {
    let c = KeyCache::default();
    c.observe(AppendSignal::Alive(Instant::now()));
    c
}

/// Looks `prefix` up and, on a miss, stores `r` as if read from the store.
fn fill(c: &KeyCache, prefix: &str, r: ApiKeyRow) {
    match c.lookup(prefix) {
        Lookup::Miss(Some(f)) => {
            c.fill(f, prefix, r);
        }
        _ => panic!("expected a miss that may fill"),
    }
}

fn hit(c: &KeyCache, prefix: &str) -> bool {
    matches!(c.lookup(prefix), Lookup::Hit(_))
}

#[test]
fn nothing_is_served_before_the_listener_answers_or_after_it_is_lost() {
    let c = KeyCache::default();
    assert!(matches!(c.lookup("aaaaaaaa"), Lookup::Miss(None)), "off until the listener is up");
    c.observe(AppendSignal::Alive(Instant::now()));
    fill(&c, "aaaaaaaa", row(AccountId::new()));
    assert!(hit(&c, "aaaaaaaa"));
    c.observe(AppendSignal::Lost);
    assert!(matches!(c.lookup("aaaaaaaa"), Lookup::Miss(None)));
    c.observe(AppendSignal::Alive(Instant::now()));
    assert!(!hit(&c, "aaaaaaaa"), "what was cached before the loss is gone");
}

#[test]
fn an_expired_heartbeat_turns_the_cache_off_and_a_late_one_starts_empty() {
    let c = KeyCache::default();
    let long_ago = Instant::now() - super::LIVE_FOR - std::time::Duration::from_millis(1);
    c.observe(AppendSignal::Alive(long_ago));
    assert!(matches!(c.lookup("aaaaaaaa"), Lookup::Miss(None)));
    let c = live();
    fill(&c, "aaaaaaaa", row(AccountId::new()));
    c.rows.expire_now();
    assert!(matches!(c.lookup("aaaaaaaa"), Lookup::Miss(None)));
    c.observe(AppendSignal::Alive(Instant::now()));
    assert!(!hit(&c, "aaaaaaaa"));
}

#[test]
fn an_account_append_forgets_that_account_only() {
    let c = live();
    let (a, b) = (AccountId::new(), AccountId::new());
    fill(&c, "aaaaaaaa", row(a));
    fill(&c, "bbbbbbbb", row(b));
    c.observe(AppendSignal::Append(domain::StreamId::account(a).as_str()));
    assert!(!hit(&c, "aaaaaaaa"));
    assert!(hit(&c, "bbbbbbbb"));
    c.forget_account(b);
    assert!(!hit(&c, "bbbbbbbb"));
}

#[test]
fn unrelated_streams_keep_the_cache_and_unknown_payloads_flush_it() {
    let c = live();
    fill(&c, "aaaaaaaa", row(AccountId::new()));
    for stream in ["database-0190f3a0-0000-7000-8000-000000000000", "backup-x", "access-y", "host-z"] {
        c.observe(AppendSignal::Append(stream));
        assert!(hit(&c, "aaaaaaaa"), "{stream}");
    }
    for payload in ["", "something", "account-not-a-uuid", "newkind-1"] {
        c.forget_all();
        fill(&c, "aaaaaaaa", row(AccountId::new()));
        assert!(hit(&c, "aaaaaaaa"));
        c.observe(AppendSignal::Append(payload));
        assert!(!hit(&c, "aaaaaaaa"), "{payload:?}");
    }
}

#[test]
fn a_row_read_before_an_invalidation_is_not_kept() {
    let c = live();
    let a = AccountId::new();
    let Lookup::Miss(Some(ticket)) = c.lookup("aaaaaaaa") else { panic!("miss") };
    // The revoke commits and is reported while the (now stale) row is in flight.
    c.forget_account(a);
    c.fill(ticket, "aaaaaaaa", row(a));
    assert!(!hit(&c, "aaaaaaaa"));
    let Lookup::Miss(Some(ticket)) = c.lookup("aaaaaaaa") else { panic!("miss") };
    c.observe(AppendSignal::Lost);
    c.observe(AppendSignal::Alive(Instant::now()));
    c.fill(ticket, "aaaaaaaa", row(a));
    assert!(!hit(&c, "aaaaaaaa"), "a loss in between also voids the read");
}

#[test]
fn the_cache_is_bounded() {
    let c = KeyCache::with_capacity(3);
    c.observe(AppendSignal::Alive(Instant::now()));
    for i in 0..10 {
        fill(&c, &format!("{i:08}"), row(AccountId::new()));
    }
    assert_eq!(c.len(), 3);
    assert!(hit(&c, "00000009"), "the newest row is kept");
}
