use super::*;

fn account(plan: Plan) -> (Account, AccountId) {
    let id = AccountId::new();
    let a = Account::replay(&[AccountEvent::AccountCreated { account_id: id, plan: plan.as_str().into() }]);
    (a, id)
}

fn create_key(scope: KeyScope) -> AccountCommand {
    AccountCommand::CreateKey {
        user_id: UserId::new(),
        api_key_id: ApiKeyId::new(),
        prefix: "abcdefgh".into(),
        hash: "h".into(),
        label: "ci".into(),
        scope,
        read_only: vec![],
        max_keys: 3,
    }
}

fn apply_all(a: &mut Account, events: Vec<AccountEvent>) {
    for e in events {
        a.apply(&e);
    }
}

#[test]
fn free_accounts_cannot_create_api_keys() {
    let (a, _) = account(Plan::Free);
    assert_eq!(a.decide(&create_key(KeyScope::All)), Err(AccountError::PlanRequired("free")));
    let (a, _) = account(Plan::Pro);
    assert!(a.decide(&create_key(KeyScope::All)).is_ok());
}

#[test]
fn a_selected_key_needs_databases_and_a_label() {
    let (a, _) = account(Plan::Pro);
    assert_eq!(a.decide(&create_key(KeyScope::Selected(vec![]))), Err(AccountError::EmptySelection));
    let mut bad = create_key(KeyScope::All);
    if let AccountCommand::CreateKey { label, .. } = &mut bad {
        *label = "  ".into();
    }
    assert_eq!(a.decide(&bad), Err(AccountError::BadLabel));
}

#[test]
fn revoked_keys_cannot_be_replaced_or_revoked_again() {
    let (mut a, _) = account(Plan::Business);
    let cmd = create_key(KeyScope::All);
    let AccountCommand::CreateKey { api_key_id, .. } = cmd.clone() else { unreachable!() };
    let events = a.decide(&cmd).expect("creates");
    apply_all(&mut a, events);
    let replace = AccountCommand::ReplaceKey { api_key_id, prefix: "zzzzzzzz".into(), hash: "h2".into() };
    assert!(a.decide(&replace).is_ok());
    let events = a.decide(&AccountCommand::RevokeKey { api_key_id }).expect("revokes");
    apply_all(&mut a, events);
    assert_eq!(a.decide(&AccountCommand::RevokeKey { api_key_id }), Err(AccountError::KeyNotFound));
    assert_eq!(a.decide(&replace), Err(AccountError::KeyNotFound));
}

#[test]
fn a_claim_is_idempotent_for_the_same_user_and_refused_for_another() {
    let anon = AccountId::new();
    let mut a = Account::replay(&[AccountEvent::AnonymousAccountCreated {
        account_id: anon,
        user_id: UserId::new(),
        secret_hash: "h".into(),
        signup_source: None,
    }]);
    let (by, to) = (UserId::new(), AccountId::new());
    let claim = AccountCommand::Claim { by_user_id: by, to_account_id: to, database_ids: vec![DatabaseId::new()] };
    let events = a.decide(&claim).expect("claims");
    assert_eq!(events.len(), 1);
    apply_all(&mut a, events);
    assert_eq!(a.decide(&claim), Ok(vec![]), "a retried claim changes nothing");
    let other =
        AccountCommand::Claim { by_user_id: UserId::new(), to_account_id: AccountId::new(), database_ids: vec![] };
    assert_eq!(a.decide(&other), Err(AccountError::ClaimedByOther));
    let (verified, _) = account(Plan::Free);
    assert_eq!(verified.decide(&claim), Err(AccountError::NotAnonymous));
}

fn key_created(scope: KeyScope, read_only: Vec<DatabaseId>) -> AccountEvent {
    AccountEvent::ApiKeyCreated {
        account_id: AccountId::new(),
        user_id: UserId::new(),
        api_key_id: ApiKeyId::new(),
        prefix: "abcdefgh".into(),
        hash: "h".into(),
        label: "l".into(),
        scope,
        read_only,
    }
}

#[test]
fn key_events_round_trip_with_their_scope() {
    let e = key_created(KeyScope::Selected(vec![DatabaseId::new()]), vec![]);
    let json = serde_json::to_value(&e).expect("serialises");
    assert_eq!(json["scope"]["scope"], "selected");
    assert_eq!(serde_json::from_value::<AccountEvent>(json).expect("parses"), e);
    // Keys created before scopes existed read as full-account keys.
    let mut old = serde_json::to_value(&e).expect("serialises");
    old.as_object_mut().expect("object").remove("scope");
    let AccountEvent::ApiKeyCreated { scope, .. } = serde_json::from_value(old).expect("parses") else {
        unreachable!()
    };
    assert_eq!(scope, KeyScope::All);
}

#[test]
fn read_only_grants_round_trip_and_old_events_read_as_rw() {
    let db = DatabaseId::new();
    let e = key_created(KeyScope::Selected(vec![db]), vec![db]);
    let json = serde_json::to_value(&e).expect("serialises");
    assert_eq!(serde_json::from_value::<AccountEvent>(json.clone()).expect("parses"), e);
    let mut old = json;
    old.as_object_mut().expect("object").remove("read_only");
    let AccountEvent::ApiKeyCreated { read_only, .. } = serde_json::from_value(old).expect("parses") else {
        unreachable!()
    };
    assert!(read_only.is_empty());
}

#[test]
fn read_only_databases_must_be_selected() {
    let (a, _) = account(Plan::Pro);
    let (db, other) = (DatabaseId::new(), DatabaseId::new());
    let mut cmd = create_key(KeyScope::Selected(vec![db]));
    if let AccountCommand::CreateKey { read_only, .. } = &mut cmd {
        *read_only = vec![other];
    }
    assert_eq!(a.decide(&cmd), Err(AccountError::ReadOnlyOutsideSelection));
    let mut all = create_key(KeyScope::All);
    if let AccountCommand::CreateKey { read_only, .. } = &mut all {
        *read_only = vec![db];
    }
    assert_eq!(a.decide(&all), Err(AccountError::ReadOnlyOutsideSelection));
    if let AccountCommand::CreateKey { read_only, .. } = &mut cmd {
        *read_only = vec![db];
    }
    let events = a.decide(&cmd).expect("decided");
    assert!(matches!(&events[..], [AccountEvent::ApiKeyCreated { read_only, .. }] if read_only == &vec![db]));
}

#[test]
fn live_keys_are_capped_and_revoked_ones_do_not_count() {
    let (mut a, _) = account(Plan::Pro);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let cmd = create_key(KeyScope::All);
        let AccountCommand::CreateKey { api_key_id, .. } = cmd.clone() else { unreachable!() };
        ids.push(api_key_id);
        let events = a.decide(&cmd).expect("under the cap");
        apply_all(&mut a, events);
    }
    assert_eq!(a.decide(&create_key(KeyScope::All)), Err(AccountError::TooManyKeys(3)));
    let events = a.decide(&AccountCommand::RevokeKey { api_key_id: ids[0] }).expect("revokes");
    apply_all(&mut a, events);
    assert!(a.decide(&create_key(KeyScope::All)).is_ok(), "a revoked key frees its place");
}

#[test]
fn a_session_ends_once() {
    let (mut a, _) = account(Plan::Free);
    let cmd = AccountCommand::EndSession {
        user_id: UserId::new(),
        session_id: uuid::Uuid::new_v4(),
        expires_at: chrono::Utc::now(),
    };
    let events = a.decide(&cmd).expect("ends");
    assert_eq!(events.len(), 1);
    apply_all(&mut a, events);
    assert_eq!(a.decide(&cmd), Ok(vec![]));
}

fn sign_up(identity: Option<Identity>) -> AccountCommand {
    AccountCommand::SignUp {
        account_id: AccountId::new(),
        user_id: UserId::new(),
        email: "ada@example.com".into(),
        plan: Plan::Free,
        platform_role: PlatformRole::User,
        identity,
    }
}

fn identity(subject: &str) -> Identity {
    Identity { issuer: "https://issuer.test".into(), subject: subject.into() }
}

/// An account made by `command`, and its user.
fn given(command: &AccountCommand) -> (Account, UserId) {
    let events = Account::default().decide(command).expect("creates");
    let user = match command {
        AccountCommand::SignUp { user_id, .. } | AccountCommand::CreateAnonymous { user_id, .. } => *user_id,
        _ => unreachable!(),
    };
    (Account::replay(&events), user)
}

#[test]
fn a_sign_up_creates_the_account_and_its_user_and_links_the_identity() {
    let cmd = sign_up(Some(identity("s1")));
    let AccountCommand::SignUp { account_id, user_id, .. } = cmd.clone() else { unreachable!() };
    let events = Account::default().decide(&cmd).expect("signs up");
    assert_eq!(
        events,
        vec![
            AccountEvent::AccountCreated { account_id, plan: "free".into() },
            AccountEvent::UserRegistered {
                account_id,
                user_id,
                email: "ada@example.com".into(),
                platform_role: PlatformRole::User
            },
            AccountEvent::IdentityLinked {
                account_id,
                user_id,
                issuer: "https://issuer.test".into(),
                subject: "s1".into()
            },
        ]
    );
    // An operator's bootstrap signs up with no identity: two events.
    assert_eq!(Account::default().decide(&sign_up(None)).expect("signs up").len(), 2);
}

#[test]
fn a_sign_up_needs_a_new_stream_and_an_email() {
    let (a, _) = given(&sign_up(None));
    assert_eq!(a.decide(&sign_up(None)), Err(AccountError::AlreadyExists));
    let mut bad = sign_up(None);
    if let AccountCommand::SignUp { email, .. } = &mut bad {
        *email = "nobody".into();
    }
    assert_eq!(Account::default().decide(&bad), Err(AccountError::BadEmail));
}

#[test]
fn an_anonymous_account_is_created_once() {
    let cmd = AccountCommand::CreateAnonymous {
        account_id: AccountId::new(),
        user_id: UserId::new(),
        secret_hash: "h".into(),
        signup_source: Some("src".into()),
    };
    let AccountCommand::CreateAnonymous { account_id, user_id, .. } = cmd.clone() else { unreachable!() };
    let events = Account::default().decide(&cmd).expect("creates");
    assert_eq!(
        events,
        vec![AccountEvent::AnonymousAccountCreated {
            account_id,
            user_id,
            secret_hash: "h".into(),
            signup_source: Some("src".into())
        }]
    );
    let a = Account::replay(&events);
    assert!(a.anonymous);
    assert_eq!(a.decide(&cmd), Err(AccountError::AlreadyExists));
}

#[test]
fn other_commands_need_an_account() {
    let cmd = AccountCommand::LinkIdentity { user_id: UserId::new(), identity: identity("s") };
    assert_eq!(Account::default().decide(&cmd), Err(AccountError::NotFound));
    assert_eq!(Account::default().decide(&create_key(KeyScope::All)), Err(AccountError::NotFound));
}

#[test]
fn an_identity_links_to_a_user_of_the_account_once() {
    let (mut a, user) = given(&sign_up(Some(identity("s1"))));
    let link = AccountCommand::LinkIdentity { user_id: user, identity: identity("s2") };
    let events = a.decide(&link).expect("links");
    assert!(matches!(&events[..], [AccountEvent::IdentityLinked { subject, .. }] if subject == "s2"));
    apply_all(&mut a, events);
    assert_eq!(a.decide(&link), Ok(vec![]), "linking again changes nothing");
    let relink = AccountCommand::LinkIdentity { user_id: user, identity: identity("s1") };
    assert_eq!(a.decide(&relink), Ok(vec![]), "the sign-up's identity is linked already");
    let stranger = AccountCommand::LinkIdentity { user_id: UserId::new(), identity: identity("s3") };
    assert_eq!(a.decide(&stranger), Err(AccountError::UnknownUser));
}

fn operator_key(user_id: UserId, label: &str, max_keys: usize) -> AccountCommand {
    AccountCommand::IssueOperatorKey {
        user_id,
        api_key_id: ApiKeyId::new(),
        prefix: "abcdefgh".into(),
        hash: "h".into(),
        label: label.into(),
        max_keys,
    }
}

#[test]
fn an_operator_key_is_a_full_account_key_even_on_the_free_plan() {
    let (a, user) = given(&sign_up(None));
    let cmd = operator_key(user, "bootstrap", 3);
    let AccountCommand::IssueOperatorKey { api_key_id, .. } = cmd.clone() else { unreachable!() };
    let events = a.decide(&cmd).expect("issues");
    let [AccountEvent::ApiKeyCreated { api_key_id: id, user_id, label, scope, .. }] = &events[..] else {
        panic!("one ApiKeyCreated: {events:?}")
    };
    assert_eq!((*id, *user_id, label.as_str(), scope), (api_key_id, user, "bootstrap", &KeyScope::All));
}

#[test]
fn an_operator_key_needs_a_label_a_place_and_a_user_of_the_account() {
    let (mut a, user) = given(&sign_up(None));
    assert_eq!(a.decide(&operator_key(user, " ", 3)), Err(AccountError::BadLabel));
    assert_eq!(a.decide(&operator_key(UserId::new(), "bootstrap", 3)), Err(AccountError::UnknownUser));
    for _ in 0..2 {
        let events = a.decide(&operator_key(user, "bootstrap", 2)).expect("under the cap");
        apply_all(&mut a, events);
    }
    assert_eq!(a.decide(&operator_key(user, "bootstrap", 2)), Err(AccountError::TooManyKeys(2)));
}

#[test]
fn platform_roles_round_trip_and_unknown_ones_are_refused() {
    assert_eq!(PlatformRole::ALL.map(PlatformRole::as_str), ["user", "admin"]);
    for r in PlatformRole::ALL {
        assert_eq!(PlatformRole::parse(r.as_str()), Some(r));
        assert_eq!(serde_json::to_value(r).expect("serializes"), r.as_str());
    }
    for unknown in ["owner", "Admin", ""] {
        assert_eq!(PlatformRole::parse(unknown), None, "{unknown:?}");
    }
}
