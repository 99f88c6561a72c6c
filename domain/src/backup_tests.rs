//! Given events, when a command, then events or an error.

use super::*;

fn requested(trigger: BackupTrigger) -> (BackupId, DatabaseId, BackupEvent) {
    let (b, d) = (BackupId::new(), DatabaseId::new());
    let e = BackupEvent::BackupRequested {
        backup_id: b,
        database_id: d,
        operation_id: OperationId::new(),
        trigger,
        label: None,
        scheduled_for: None,
    };
    (b, d, e)
}

fn started(b: BackupId, d: DatabaseId, key: &str) -> BackupEvent {
    BackupEvent::BackupStarted { backup_id: b, database_id: d, attempt: 1, object_key: key.into() }
}

fn succeeded(b: BackupId, d: DatabaseId, key: &str) -> BackupEvent {
    BackupEvent::BackupSucceeded {
        backup_id: b,
        database_id: d,
        object_key: key.into(),
        size_bytes: 10,
        sha256: "ab".into(),
        tables: vec![],
    }
}

fn given(events: &[BackupEvent]) -> Backup {
    Backup::replay(events)
}

#[test]
fn a_request_on_an_empty_stream_is_pending_and_logged_as_backup_create() {
    let (b, d, _) = requested(BackupTrigger::Manual);
    let cmd = BackupCommand::Request {
        backup_id: b,
        database_id: d,
        operation_id: OperationId::new(),
        trigger: BackupTrigger::Manual,
        label: Some("before migration".into()),
        scheduled_for: None,
    };
    let events = given(&[]).decide(&cmd).expect("decides");
    assert_eq!(given(&events).state, Some(BackupState::Pending));
    assert_eq!(events[0].activity().map(|a| a.action), Some("backup.create"));
}

#[test]
fn a_second_request_for_the_same_backup_is_refused() {
    // Scheduled backups derive their id from (database, day): this is what makes two
    // schedulers produce one backup.
    let (b, d, e) = requested(BackupTrigger::Scheduled);
    let cmd = BackupCommand::Request {
        backup_id: b,
        database_id: d,
        operation_id: OperationId::new(),
        trigger: BackupTrigger::Scheduled,
        label: None,
        scheduled_for: None,
    };
    assert_eq!(given(&[e]).decide(&cmd), Err(BackupError::AlreadyExists));
}

#[test]
fn a_retry_may_start_a_running_backup_again_with_a_new_object() {
    let (b, d, e) = requested(BackupTrigger::Manual);
    let state = given(&[e, started(b, d, "db/1.sql.gz")]);
    let events = state.decide(&BackupCommand::Start { attempt: 2, object_key: "db/2.sql.gz".into() }).expect("ok");
    let mut state = state;
    state.apply(&events[0]);
    assert_eq!(state.object_key.as_deref(), Some("db/2.sql.gz"));
}

#[test]
fn only_a_running_backup_can_succeed() {
    let (b, d, e) = requested(BackupTrigger::Manual);
    let succeed = BackupCommand::Succeed { object_key: "k".into(), size_bytes: 1, sha256: "x".into(), tables: vec![] };
    assert!(matches!(given(std::slice::from_ref(&e)).decide(&succeed), Err(BackupError::WrongState { .. })));
    let state = given(&[e, started(b, d, "k")]);
    assert!(matches!(&state.decide(&succeed).expect("ok")[..], [BackupEvent::BackupSucceeded { .. }]));
}

#[test]
fn a_finished_backup_cannot_fail_or_start_again() {
    let (b, d, e) = requested(BackupTrigger::Manual);
    let state = given(&[e, started(b, d, "k"), succeeded(b, d, "k")]);
    assert!(state.decide(&BackupCommand::Fail { error: "x".into() }).is_err());
    assert!(state.decide(&BackupCommand::Start { attempt: 3, object_key: "k2".into() }).is_err());
}

#[test]
fn deleting_names_the_object_to_remove_and_is_logged() {
    let (b, d, e) = requested(BackupTrigger::Manual);
    let state = given(&[e, started(b, d, "k"), succeeded(b, d, "k")]);
    let events = state.decide(&BackupCommand::Delete { reason: DeletionReason::Retention }).expect("ok");
    assert!(matches!(&events[..], [BackupEvent::BackupDeleted { object_key: Some(k), .. }] if k == "k"));
    assert_eq!(events[0].activity().map(|a| a.action), Some("backup.delete"));
    let deleted = given(&[events[0].clone()]);
    assert!(deleted.decide(&BackupCommand::Delete { reason: DeletionReason::User }).is_err());
}

#[test]
fn a_running_backup_cannot_be_deleted() {
    let (b, d, e) = requested(BackupTrigger::Manual);
    let state = given(&[e, started(b, d, "k")]);
    assert!(matches!(
        state.decide(&BackupCommand::Delete { reason: DeletionReason::User }),
        Err(BackupError::WrongState { state: BackupState::Running, .. })
    ));
}

#[test]
fn only_a_succeeded_backup_is_verified() {
    let (b, d, e) = requested(BackupTrigger::Manual);
    let verify = BackupCommand::RecordVerification { operation_id: None, ok: true, details: serde_json::json!({}) };
    assert!(given(std::slice::from_ref(&e)).decide(&verify).is_err());
    let state = given(&[e, started(b, d, "k"), succeeded(b, d, "k")]);
    assert!(matches!(&state.decide(&verify).expect("ok")[..], [BackupEvent::BackupVerified { ok: true, .. }]));
    let request = BackupCommand::RequestVerification { operation_id: OperationId::new() };
    assert!(matches!(&state.decide(&request).expect("ok")[..], [BackupEvent::BackupVerificationRequested { .. }]));
}

#[test]
fn backup_states_and_triggers_round_trip_and_unknown_ones_are_refused() {
    let spelled = BackupState::ALL.map(BackupState::as_str);
    assert_eq!(spelled, ["pending", "running", "succeeded", "failed", "deleted"]);
    for s in BackupState::ALL {
        assert_eq!(BackupState::parse(s.as_str()), Some(s));
        assert_eq!(serde_json::to_value(s).expect("serializes"), s.as_str());
    }
    assert_eq!(BackupTrigger::ALL.map(BackupTrigger::as_str), ["manual", "scheduled"]);
    for t in BackupTrigger::ALL {
        assert_eq!(BackupTrigger::parse(t.as_str()), Some(t));
        assert_eq!(serde_json::to_value(t).expect("serializes"), t.as_str());
    }
    for unknown in ["verified", "Succeeded", ""] {
        assert_eq!(BackupState::parse(unknown), None, "{unknown:?}");
    }
    for unknown in ["auto", "Manual", ""] {
        assert_eq!(BackupTrigger::parse(unknown), None, "{unknown:?}");
    }
}
