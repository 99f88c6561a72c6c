//! Given events, when a command, then events or an error.

use super::*;

fn ids() -> (DatabaseId, OperationId) {
    (DatabaseId::new(), OperationId::new())
}

fn created(id: DatabaseId, op: OperationId) -> DatabaseEvent {
    DatabaseEvent::DatabaseCreationRequested {
        database_id: id,
        name: DatabaseName::parse("shop").expect("valid"),
        account_id: AccountId::new(),
        host_id: HostId::new(),
        operation_id: op,
        engine: "postgres".into(),
        source: None,
    }
}

fn given(events: &[DatabaseEvent]) -> Database {
    Database::replay(events)
}

#[test]
fn create_on_an_empty_stream_requests_provisioning() {
    let (id, op) = ids();
    let name = DatabaseName::parse("shop").expect("valid");
    let cmd = DatabaseCommand::Create {
        id,
        name,
        account_id: AccountId::new(),
        host_id: HostId::new(),
        operation_id: op,
        source: None,
        engine: Engine::Postgres,
    };
    let events = given(&[]).decide(&cmd).expect("decides");
    assert!(
        matches!(&events[..], [DatabaseEvent::DatabaseCreationRequested { database_id, .. }] if *database_id == id)
    );
    assert_eq!(given(&events).state, Some(DatabaseState::Provisioning));
}

#[test]
fn create_twice_is_refused() {
    let (id, op) = ids();
    let state = given(&[created(id, op)]);
    let cmd = DatabaseCommand::Create {
        id,
        name: DatabaseName::parse("shop").expect("valid"),
        account_id: AccountId::new(),
        host_id: HostId::new(),
        operation_id: OperationId::new(),
        source: None,
        engine: Engine::Postgres,
    };
    assert_eq!(state.decide(&cmd), Err(DatabaseError::AlreadyExists));
}

#[test]
fn provisioned_moves_to_running_only_for_the_current_operation() {
    let (id, op) = ids();
    let state = given(&[created(id, op)]);
    let stale = DatabaseCommand::MarkProvisioned { operation_id: OperationId::new() };
    assert_eq!(state.decide(&stale), Err(DatabaseError::StaleOperation));
    let events = state.decide(&DatabaseCommand::MarkProvisioned { operation_id: op }).expect("decides");
    let mut after = state.clone();
    events.iter().for_each(|e| after.apply(e));
    assert_eq!(after.state, Some(DatabaseState::Running));
    // A second completion of the same operation is stale: the job is idempotent on top of this.
    assert_eq!(
        after.decide(&DatabaseCommand::MarkProvisioned { operation_id: op }),
        Err(DatabaseError::StaleOperation)
    );
}

#[test]
fn delete_is_refused_while_provisioning_and_allowed_when_running_or_failed() {
    let (id, op) = ids();
    let provisioning = given(&[created(id, op)]);
    let del = DatabaseCommand::RequestDeletion { operation_id: OperationId::new() };
    assert!(matches!(
        provisioning.decide(&del),
        Err(DatabaseError::WrongState { state: DatabaseState::Provisioning, .. })
    ));

    let running = given(&[created(id, op), DatabaseEvent::DatabaseProvisioned { database_id: id, operation_id: op }]);
    assert!(running.decide(&del).is_ok());

    let failed = given(&[
        created(id, op),
        DatabaseEvent::OperationFailed {
            database_id: id,
            operation_id: op,
            kind: OperationKind::Provision,
            error: "x".into(),
        },
    ]);
    assert!(failed.decide(&del).is_ok());
}

#[test]
fn deletion_completes_and_a_deleted_database_cannot_be_deleted_again() {
    let (id, op) = ids();
    let del_op = OperationId::new();
    let state = given(&[
        created(id, op),
        DatabaseEvent::DatabaseProvisioned { database_id: id, operation_id: op },
        DatabaseEvent::DatabaseDeletionRequested { database_id: id, operation_id: del_op },
    ]);
    let events = state.decide(&DatabaseCommand::MarkDeleted { operation_id: del_op }).expect("decides");
    let mut after = state;
    events.iter().for_each(|e| after.apply(e));
    assert_eq!(after.state, Some(DatabaseState::Deleted));
    let again = DatabaseCommand::RequestDeletion { operation_id: OperationId::new() };
    assert!(matches!(after.decide(&again), Err(DatabaseError::WrongState { .. })));
}

#[test]
fn failure_records_the_operation_kind() {
    let (id, op) = ids();
    let state = given(&[created(id, op)]);
    let events =
        state.decide(&DatabaseCommand::MarkFailed { operation_id: op, error: "boom".into() }).expect("decides");
    assert!(matches!(&events[..], [DatabaseEvent::OperationFailed { kind: OperationKind::Provision, .. }]));
}

#[test]
fn events_serialise_with_their_type_tag() {
    let (id, op) = ids();
    let json = serde_json::to_value(created(id, op)).expect("serialises");
    assert_eq!(json["type"], "DatabaseCreationRequested");
    let back: DatabaseEvent = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, created_with(&back, id, op));
}

fn created_with(e: &DatabaseEvent, id: DatabaseId, op: OperationId) -> DatabaseEvent {
    match e {
        DatabaseEvent::DatabaseCreationRequested { account_id, host_id, .. } => {
            DatabaseEvent::DatabaseCreationRequested {
                database_id: id,
                name: DatabaseName::parse("shop").expect("valid"),
                account_id: *account_id,
                host_id: *host_id,
                operation_id: op,
                engine: "postgres".into(),
                source: None,
            }
        }
        other => other.clone(),
    }
}

fn running(id: DatabaseId, op: OperationId) -> Database {
    given(&[created(id, op), DatabaseEvent::DatabaseProvisioned { database_id: id, operation_id: op }])
}

fn after(state: &Database, events: &[DatabaseEvent]) -> Database {
    let mut s = state.clone();
    events.iter().for_each(|e| s.apply(e));
    s
}

fn maintenance(kind: OperationKind) -> (OperationId, DatabaseCommand) {
    let op = OperationId::new();
    (op, DatabaseCommand::RequestMaintenance { operation_id: op, kind })
}

#[test]
fn stop_keeps_running_until_the_job_reports_then_stopped() {
    let (id, op) = ids();
    let db = running(id, op);
    let (stop_op, stop) = maintenance(OperationKind::Stop);
    let events = db.decide(&stop).expect("decides");
    assert!(
        matches!(&events[..], [DatabaseEvent::DatabaseStopRequested { operation_id, .. }] if *operation_id == stop_op)
    );
    let stopping = after(&db, &events);
    assert_eq!(stopping.state, Some(DatabaseState::Running));
    let done = stopping.decide(&DatabaseCommand::CompleteMaintenance { operation_id: stop_op }).expect("decides");
    assert!(matches!(&done[..], [DatabaseEvent::DatabaseStopped { .. }]));
    assert_eq!(after(&stopping, &done).state, Some(DatabaseState::Stopped));
}

#[test]
fn start_is_refused_while_running_and_stop_while_stopped() {
    let (id, op) = ids();
    let db = running(id, op);
    let (_, start) = maintenance(OperationKind::Start);
    assert!(matches!(db.decide(&start), Err(DatabaseError::WrongState { state: DatabaseState::Running, .. })));
    let (stop_op, stop) = maintenance(OperationKind::Stop);
    let stopped = after(
        &db,
        &[
            DatabaseEvent::DatabaseStopRequested { database_id: id, operation_id: stop_op },
            DatabaseEvent::DatabaseStopped { database_id: id, operation_id: stop_op },
        ],
    );
    assert!(matches!(stopped.decide(&stop), Err(DatabaseError::WrongState { state: DatabaseState::Stopped, .. })));
    let (_, restart) = maintenance(OperationKind::Restart);
    assert!(matches!(stopped.decide(&restart), Err(DatabaseError::WrongState { .. })));
    let (start_op, start) = maintenance(OperationKind::Start);
    let started = after(&stopped, &stopped.decide(&start).expect("decides"));
    let done = started.decide(&DatabaseCommand::CompleteMaintenance { operation_id: start_op }).expect("decides");
    assert_eq!(after(&started, &done).state, Some(DatabaseState::Running));
}

#[test]
fn a_second_operation_waits_for_the_first() {
    let (id, op) = ids();
    let db = running(id, op);
    let (_, stop) = maintenance(OperationKind::Stop);
    let stopping = after(&db, &db.decide(&stop).expect("decides"));
    let (_, again) = maintenance(OperationKind::Stop);
    assert_eq!(stopping.decide(&again), Err(DatabaseError::Busy(OperationKind::Stop)));
    let (_, reset) = maintenance(OperationKind::ResetPassword);
    assert_eq!(stopping.decide(&reset), Err(DatabaseError::Busy(OperationKind::Stop)));
}

#[test]
fn maintenance_is_refused_on_provisioning_failed_and_deleted_databases() {
    let (id, op) = ids();
    let provisioning = given(&[created(id, op)]);
    let failed = after(
        &provisioning,
        &[DatabaseEvent::OperationFailed {
            database_id: id,
            operation_id: op,
            kind: OperationKind::Provision,
            error: "x".into(),
        }],
    );
    for kind in [OperationKind::Stop, OperationKind::Restart, OperationKind::ResetPassword, OperationKind::Start] {
        let (_, cmd) = maintenance(kind);
        assert!(matches!(provisioning.decide(&cmd), Err(DatabaseError::WrongState { .. })), "{kind:?}");
        assert!(matches!(failed.decide(&cmd), Err(DatabaseError::WrongState { .. })), "{kind:?}");
        assert_eq!(given(&[]).decide(&cmd), Err(DatabaseError::NotFound));
    }
}

#[test]
fn a_failed_maintenance_operation_keeps_the_state_and_frees_the_database() {
    let (id, op) = ids();
    let db = running(id, op);
    let (stop_op, stop) = maintenance(OperationKind::Stop);
    let stopping = after(&db, &db.decide(&stop).expect("decides"));
    let failed = stopping
        .decide(&DatabaseCommand::MarkFailed { operation_id: stop_op, error: "host down".into() })
        .expect("decides");
    assert!(matches!(&failed[..], [DatabaseEvent::OperationFailed { kind: OperationKind::Stop, .. }]));
    let now = after(&stopping, &failed);
    assert_eq!(now.state, Some(DatabaseState::Running));
    assert!(now.decide(&maintenance(OperationKind::Stop).1).is_ok(), "asking again is allowed");
}

#[test]
fn reset_password_completes_without_changing_state_and_is_an_activity() {
    let (id, op) = ids();
    let db = running(id, op);
    let (reset_op, reset) = maintenance(OperationKind::ResetPassword);
    let events = db.decide(&reset).expect("decides");
    assert_eq!(events[0].activity().map(|a| a.action), Some("database.reset_password"));
    let resetting = after(&db, &events);
    let done = resetting.decide(&DatabaseCommand::CompleteMaintenance { operation_id: reset_op }).expect("decides");
    assert!(matches!(&done[..], [DatabaseEvent::PasswordReset { .. }]));
    let now = after(&resetting, &done);
    assert_eq!((now.state, now.operation), (Some(DatabaseState::Running), None));
    assert_eq!(
        resetting.decide(&DatabaseCommand::CompleteMaintenance { operation_id: OperationId::new() }),
        Err(DatabaseError::StaleOperation)
    );
}

#[test]
fn creation_events_written_before_sources_existed_still_decode_as_empty_databases() {
    let mut json = serde_json::to_value(created(DatabaseId::new(), OperationId::new())).expect("json");
    json.as_object_mut().expect("object").remove("source");
    let back: DatabaseEvent = serde_json::from_value(json).expect("old shape decodes");
    assert!(matches!(back, DatabaseEvent::DatabaseCreationRequested { source: None, .. }));
}

#[test]
fn restores_and_branches_are_logged_as_such() {
    let (id, op) = ids();
    let with = |source| match created(id, op) {
        DatabaseEvent::DatabaseCreationRequested {
            database_id,
            name,
            account_id,
            host_id,
            operation_id,
            engine,
            ..
        } => DatabaseEvent::DatabaseCreationRequested {
            database_id,
            name,
            account_id,
            host_id,
            operation_id,
            engine,
            source: Some(source),
        },
        other => other,
    };
    let restore = with(DatabaseSource::Backup { backup_id: crate::BackupId::new() });
    let branch = with(DatabaseSource::Branch { database_id: DatabaseId::new() });
    assert_eq!(restore.activity().map(|a| a.action), Some("database.restore"));
    assert_eq!(branch.activity().map(|a| a.action), Some("database.branch"));
    assert_eq!(created(id, op).activity().map(|a| a.action), Some("database.create"));
}

#[test]
fn a_deletion_settles_the_maintenance_operation_it_overtakes() {
    let (id, op) = ids();
    let db = running(id, op);
    let (stop_op, stop) = maintenance(OperationKind::Stop);
    let stopping = after(&db, &db.decide(&stop).expect("decides"));
    let delete_op = OperationId::new();
    let events = stopping.decide(&DatabaseCommand::RequestDeletion { operation_id: delete_op }).expect("decides");
    assert_eq!(
        events,
        vec![
            DatabaseEvent::OperationFailed {
                database_id: id,
                operation_id: stop_op,
                kind: OperationKind::Stop,
                error: crate::database::SUPERSEDED_BY_DELETION.into(),
            },
            DatabaseEvent::DatabaseDeletionRequested { database_id: id, operation_id: delete_op },
        ]
    );
    let deleting = after(&stopping, &events);
    assert_eq!(deleting.state, Some(DatabaseState::Deleting));
    // The overtaken job finds its operation is not the database's any more.
    let late = deleting.decide(&DatabaseCommand::CompleteMaintenance { operation_id: stop_op });
    assert_eq!(late, Err(DatabaseError::StaleOperation));
    // Without an operation under way, a deletion is the one event it always was.
    let plain = db.decide(&DatabaseCommand::RequestDeletion { operation_id: delete_op }).expect("decides");
    assert!(matches!(&plain[..], [DatabaseEvent::DatabaseDeletionRequested { .. }]));
}

#[test]
fn an_operation_no_longer_current_can_be_abandoned_and_changes_nothing_else() {
    let (id, op) = ids();
    let overtaken = OperationId::new();
    let state = given(&[created(id, op), DatabaseEvent::DatabaseProvisioned { database_id: id, operation_id: op }]);
    let reason = "the operation did not finish in time".to_owned();
    let cmd = DatabaseCommand::AbandonOperation { operation_id: overtaken, reason: reason.clone() };
    let events = state.decide(&cmd).expect("decides");
    assert_eq!(events, vec![DatabaseEvent::OperationAbandoned { database_id: id, operation_id: overtaken, reason }]);
    let mut after = state.clone();
    events.iter().for_each(|e| after.apply(e));
    assert_eq!(after, state, "the database's state, operation and lock stay as they were");
}

#[test]
fn only_the_current_operation_is_requeued_and_nothing_else_changes() {
    let (id, op) = ids();
    let state = given(&[created(id, op)]);
    let cmd = DatabaseCommand::RequeueOperation { operation_id: op, requeue: 1 };
    let events = state.decide(&cmd).expect("decides");
    assert_eq!(events, vec![DatabaseEvent::OperationRequeued { database_id: id, operation_id: op, requeue: 1 }]);
    let mut after = state.clone();
    events.iter().for_each(|e| after.apply(e));
    assert_eq!(after, state);
    let cmd = DatabaseCommand::RequeueOperation { operation_id: OperationId::new(), requeue: 1 };
    assert_eq!(state.decide(&cmd), Err(DatabaseError::StaleOperation));
}

#[test]
fn the_current_operation_cannot_be_abandoned() {
    let (id, op) = ids();
    let state = given(&[created(id, op)]);
    let cmd = DatabaseCommand::AbandonOperation { operation_id: op, reason: "late".into() };
    assert_eq!(state.decide(&cmd), Err(DatabaseError::Busy(OperationKind::Provision)));
    let cmd = DatabaseCommand::AbandonOperation { operation_id: op, reason: "late".into() };
    assert_eq!(given(&[]).decide(&cmd), Err(DatabaseError::NotFound));
}

// The spellings below are stored in read-model columns and published by the API.

#[test]
fn database_states_round_trip_and_unknown_ones_are_refused() {
    let spelled = DatabaseState::ALL.map(DatabaseState::as_str);
    assert_eq!(spelled, ["provisioning", "running", "stopped", "deleting", "deleted", "failed"]);
    for s in DatabaseState::ALL {
        assert_eq!(DatabaseState::parse(s.as_str()), Some(s));
        assert_eq!(serde_json::to_value(s).expect("serializes"), s.as_str());
    }
    // `locked` is what the API shows of a locked running database, never a stored state.
    for unknown in ["locked", "Running", "running ", ""] {
        assert_eq!(DatabaseState::parse(unknown), None, "{unknown:?}");
    }
}

#[test]
fn engines_round_trip_and_unknown_ones_are_refused() {
    assert_eq!(Engine::ALL.map(Engine::as_str), ["postgres", "mariadb", "mongodb"]);
    for e in Engine::ALL {
        assert_eq!(Engine::parse(e.as_str()), Some(e));
    }
    for unknown in ["mysql", "postgresql", "Postgres", ""] {
        assert_eq!(Engine::parse(unknown), None, "{unknown:?}");
    }
}

#[test]
fn operation_kinds_round_trip_and_unknown_ones_are_refused() {
    let spelled = OperationKind::ALL.map(OperationKind::as_str);
    let want = ["provision", "delete", "stop", "start", "restart", "reset_password", "backup", "verify_backup", "move"];
    assert_eq!(spelled, want);
    for k in OperationKind::ALL {
        assert_eq!(OperationKind::parse(k.as_str()), Some(k));
        assert_eq!(serde_json::to_value(k).expect("serializes"), k.as_str());
    }
    for unknown in ["maintenance", "reset-password", "Stop", ""] {
        assert_eq!(OperationKind::parse(unknown), None, "{unknown:?}");
    }
}

#[test]
fn operation_states_round_trip_and_unknown_ones_are_refused() {
    assert_eq!(OperationState::ALL.map(OperationState::as_str), ["pending", "running", "succeeded", "failed"]);
    for s in OperationState::ALL {
        assert_eq!(OperationState::parse(s.as_str()), Some(s));
    }
    assert!(OperationState::Succeeded.is_finished() && OperationState::Failed.is_finished());
    assert!(!OperationState::Pending.is_finished() && !OperationState::Running.is_finished());
    for unknown in ["done", "Pending", ""] {
        assert_eq!(OperationState::parse(unknown), None, "{unknown:?}");
    }
}

/// A running database with its move to `to` requested.
fn moving(id: DatabaseId, op: OperationId, to: HostId) -> (Vec<DatabaseEvent>, HostId) {
    let created = created(id, op);
    let DatabaseEvent::DatabaseCreationRequested { host_id: from, .. } = created else { unreachable!() };
    let mv = OperationId::new();
    let events = vec![
        created,
        DatabaseEvent::DatabaseProvisioned { database_id: id, operation_id: op },
        DatabaseEvent::DatabaseMoveRequested { database_id: id, operation_id: mv, from_host_id: from, to_host_id: to },
    ];
    (events, from)
}

#[test]
fn a_move_switches_then_completes_and_refuses_what_would_break_it() {
    let (id, op) = ids();
    let to = HostId::new();
    let (mut events, from) = moving(id, op, to);
    let DatabaseEvent::DatabaseMoveRequested { operation_id: mv, .. } = events[2] else { unreachable!() };
    let db = given(&events);
    assert_eq!((db.host, db.moving), (Some(from), Some((from, to))));
    // While it moves: no second operation, no deletion (two hosts hold copies), no early end.
    let busy = Err(DatabaseError::Busy(OperationKind::Move));
    assert_eq!(db.decide(&DatabaseCommand::RequestMove { operation_id: OperationId::new(), to: HostId::new() }), busy);
    assert_eq!(db.decide(&DatabaseCommand::RequestDeletion { operation_id: OperationId::new() }), busy);
    assert_eq!(
        db.decide(&DatabaseCommand::RequestMaintenance { operation_id: OperationId::new(), kind: OperationKind::Stop }),
        busy
    );
    assert_eq!(db.decide(&DatabaseCommand::CompleteMove { operation_id: mv }), Err(DatabaseError::StaleOperation));
    let switched = db.decide(&DatabaseCommand::SwitchHost { operation_id: mv }).expect("switches");
    assert_eq!(
        switched,
        vec![DatabaseEvent::DatabaseHostSwitched {
            database_id: id,
            operation_id: mv,
            from_host_id: from,
            to_host_id: to
        }]
    );
    events.extend(switched);
    let db = given(&events);
    assert_eq!(db.host, Some(to));
    // A retry after the switch records nothing more; the completion ends the operation.
    assert_eq!(db.decide(&DatabaseCommand::SwitchHost { operation_id: mv }), Ok(vec![]));
    let done = db.decide(&DatabaseCommand::CompleteMove { operation_id: mv }).expect("completes");
    events.extend(done);
    let db = given(&events);
    assert_eq!((db.operation, db.moving, db.state), (None, None, Some(DatabaseState::Running)));
    // Back where it came from: a move of its own; onto the host it is on: refused.
    assert_eq!(
        db.decide(&DatabaseCommand::RequestMove { operation_id: OperationId::new(), to }),
        Err(DatabaseError::AlreadyThere)
    );
    assert!(db.decide(&DatabaseCommand::RequestMove { operation_id: OperationId::new(), to: from }).is_ok());
}

#[test]
fn a_failed_move_leaves_the_database_running_where_it_was() {
    let (id, op) = ids();
    let (mut events, from) = moving(id, op, HostId::new());
    let DatabaseEvent::DatabaseMoveRequested { operation_id: mv, .. } = events[2] else { unreachable!() };
    let failed = given(&events).decide(&DatabaseCommand::MarkFailed { operation_id: mv, error: "no".into() });
    events.extend(failed.expect("fails"));
    let db = given(&events);
    assert_eq!((db.state, db.host, db.operation, db.moving), (Some(DatabaseState::Running), Some(from), None, None));
    // Only a running database moves.
    let (id, op) = ids();
    let stopped = given(&[
        created(id, op),
        DatabaseEvent::DatabaseProvisioned { database_id: id, operation_id: op },
        DatabaseEvent::DatabaseStopped { database_id: id, operation_id: OperationId::new() },
    ]);
    assert!(matches!(
        stopped.decide(&DatabaseCommand::RequestMove { operation_id: OperationId::new(), to: HostId::new() }),
        Err(DatabaseError::WrongState { .. })
    ));
}
