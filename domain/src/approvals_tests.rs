use chrono::{TimeZone, Utc};

use super::*;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).single().expect("a time")
}

fn enabled(db: DatabaseId) -> Vec<ApprovalEvent> {
    let settings = SqlSettings { enabled: true, ttl_seconds: 600, ..SqlSettings::default() };
    Approvals::default().decide(&ApprovalCommand::Configure { database_id: db, settings }).expect("configures")
}

fn held(db: DatabaseId, id: ApprovalId, by: UserId) -> Vec<ApprovalEvent> {
    let mut events = enabled(db);
    let hold = ApprovalCommand::Hold {
        database_id: db,
        approval_id: id,
        statement: "DROP TABLE t".into(),
        kinds: vec![StatementKind::Drop],
        requested_by: by,
        now: t(0),
    };
    events.extend(Approvals::replay(&events).decide(&hold).expect("holds"));
    events
}

fn decide(id: ApprovalId, approve: bool, by: UserId, now: DateTime<Utc>) -> ApprovalCommand {
    ApprovalCommand::Decide { approval_id: id, approve, by, self_decision_allowed: false, now }
}

#[test]
fn a_statement_is_held_only_while_approvals_are_on() {
    let db = DatabaseId::new();
    let hold = ApprovalCommand::Hold {
        database_id: db,
        approval_id: ApprovalId::new(),
        statement: "DROP TABLE t".into(),
        kinds: vec![StatementKind::Drop],
        requested_by: UserId::new(),
        now: t(0),
    };
    assert_eq!(Approvals::default().decide(&hold), Err(ApprovalError::NotEnabled));
    let events = Approvals::replay(&enabled(db)).decide(&hold).expect("holds");
    assert!(matches!(&events[..], [ApprovalEvent::StatementHeld { expires_at, .. }] if *expires_at == t(600)));
}

#[test]
fn another_approver_approves_once_and_the_run_is_recorded_once() {
    let (db, id, requester, approver) = (DatabaseId::new(), ApprovalId::new(), UserId::new(), UserId::new());
    let mut events = held(db, id, requester);
    let approved = Approvals::replay(&events).decide(&decide(id, true, approver, t(10))).expect("approves");
    assert!(matches!(&approved[..], [ApprovalEvent::StatementApproved { decided_by, .. }] if *decided_by == approver));
    events.extend(approved);
    assert_eq!(
        Approvals::replay(&events).decide(&decide(id, true, approver, t(11))),
        Err(ApprovalError::Decided("approved")),
        "a second approval runs nothing"
    );
    let outcome = RunOutcome { command: Some("DROP TABLE".into()), row_count: None, error: None };
    let ran = ApprovalCommand::RecordRun { approval_id: id, outcome };
    events.extend(Approvals::replay(&events).decide(&ran).expect("records"));
    let state = Approvals::replay(&events);
    assert_eq!(state.held[0].state, ApprovalState::Executed);
    assert_eq!(state.decide(&ran), Err(ApprovalError::AlreadyRan));
}

#[test]
fn the_requester_cannot_decide_alone_unless_allowed() {
    let (db, id, requester) = (DatabaseId::new(), ApprovalId::new(), UserId::new());
    let state = Approvals::replay(&held(db, id, requester));
    assert_eq!(state.decide(&decide(id, true, requester, t(1))), Err(ApprovalError::OwnDecision));
    let sole = ApprovalCommand::Decide {
        approval_id: id,
        approve: true,
        by: requester,
        self_decision_allowed: true,
        now: t(1),
    };
    assert!(state.decide(&sole).is_ok());
}

#[test]
fn past_its_ttl_an_approval_expires_instead_of_running() {
    let (db, id) = (DatabaseId::new(), ApprovalId::new());
    let state = Approvals::replay(&held(db, id, UserId::new()));
    let events = state.decide(&decide(id, true, UserId::new(), t(600))).expect("decides");
    assert_eq!(events, vec![ApprovalEvent::ApprovalExpired { database_id: db, approval_id: id }]);
    let mut all = held(db, id, UserId::new());
    all.extend(events);
    assert_eq!(
        Approvals::replay(&all).decide(&decide(id, true, UserId::new(), t(1))),
        Err(ApprovalError::Decided("expired"))
    );
}

#[test]
fn a_rejected_statement_never_runs() {
    let (db, id) = (DatabaseId::new(), ApprovalId::new());
    let mut events = held(db, id, UserId::new());
    events.extend(Approvals::replay(&events).decide(&decide(id, false, UserId::new(), t(1))).expect("rejects"));
    let outcome = RunOutcome { command: None, row_count: None, error: None };
    assert_eq!(
        Approvals::replay(&events).decide(&ApprovalCommand::RecordRun { approval_id: id, outcome }),
        Err(ApprovalError::AlreadyRan)
    );
}

#[test]
fn settings_are_checked_and_unclassified_is_always_held() {
    let db = DatabaseId::new();
    let bad = SqlSettings { ttl_seconds: 5, ..SqlSettings::default() };
    assert_eq!(
        Approvals::default().decide(&ApprovalCommand::Configure { database_id: db, settings: bad }),
        Err(ApprovalError::BadTtl)
    );
    let only_drop = SqlSettings { enabled: true, kinds: vec![StatementKind::Drop], ..SqlSettings::default() };
    assert!(only_drop.holds(&[StatementKind::Drop]));
    assert!(!only_drop.holds(&[StatementKind::Truncate]));
    assert!(only_drop.holds(&[StatementKind::Unclassified]));
    assert!(!SqlSettings::default().holds(&[StatementKind::Drop]), "off by default");
}

#[test]
fn kinds_and_states_parse_as_they_are_spelled() {
    for k in StatementKind::ALL {
        assert_eq!(StatementKind::parse(k.as_str()), Some(k));
    }
    for s in ApprovalState::ALL {
        assert_eq!(ApprovalState::parse(s.as_str()), Some(s));
    }
}
