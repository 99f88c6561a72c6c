use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::data_api_rules::identifier;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).single().expect("a time")
}

fn create(db: DatabaseId, id: DataKeyId, kind: DataKeyKind, spec: KeySpec) -> DataApiCommand {
    DataApiCommand::CreateKey {
        database_id: db,
        key_id: id,
        kind,
        name: " web ".into(),
        prefix: "abcdefgh".into(),
        hash: "00".into(),
        spec,
        expires_at: Some(t(100)),
        max_keys: 2,
        now: t(0),
    }
}

fn config() -> AuthConfig {
    AuthConfig {
        jwks_url: Some("https://idp.example.com/.well-known/jwks.json".into()),
        jwks: None,
        issuer: "https://idp.example.com".into(),
        audience: "app".into(),
        subject_claim: "sub".into(),
        claims_allowlist: vec!["sub".into(), "email".into(), "sub".into()],
        claims_max_bytes: 4096,
    }
}

#[test]
fn a_key_is_created_with_its_spec_normalized_and_its_hash_never_its_secret() {
    let (db, id) = (DatabaseId::new(), DataKeyId::new());
    let spec = KeySpec {
        allowed_origins: vec!["HTTPS://App.Example.com".into(), "https://app.example.com".into()],
        exposed_schemas: vec![],
        exposed_tables: vec!["items".into(), "public.orders".into()],
        rate_limit: Some(KeyRateLimit { rps: 5.0, burst: 10.0 }),
    };
    let events = DataApi::default().decide(&create(db, id, DataKeyKind::Publishable, spec)).expect("creates");
    let [DataApiEvent::DataKeyCreated { name, spec, .. }] = &events[..] else { panic!("{events:?}") };
    assert_eq!(name, "web");
    assert_eq!(spec.allowed_origins, vec!["https://app.example.com"]);
    assert_eq!(spec.exposed_schemas, vec!["public"]);
    let activity = events[0].activity().expect("an activity");
    assert_eq!(activity.action, "publishable_key.create");
    assert!(activity.details.get("hash").is_none(), "{}", activity.details);
}

#[test]
fn a_bad_spec_is_refused_naming_the_field() {
    let db = DatabaseId::new();
    let cases = [
        (KeySpec { allowed_origins: vec!["https://a.com/path".into()], ..KeySpec::default() }, "allowed_origins"),
        (KeySpec { allowed_origins: vec!["ftp://a.com".into()], ..KeySpec::default() }, "allowed_origins"),
        (KeySpec { exposed_schemas: vec!["pg_catalog".into()], ..KeySpec::default() }, "exposed_schemas"),
        (KeySpec { exposed_schemas: vec!["a\"; drop".into()], ..KeySpec::default() }, "exposed_schemas"),
        (KeySpec { exposed_tables: vec!["other.t".into()], ..KeySpec::default() }, "exposed_tables"),
        (KeySpec { rate_limit: Some(KeyRateLimit { rps: 0.0, burst: 1.0 }), ..KeySpec::default() }, "rate_limit"),
        (KeySpec { rate_limit: Some(KeyRateLimit { rps: f64::NAN, burst: 1.0 }), ..KeySpec::default() }, "rate_limit"),
    ];
    for (spec, field) in cases {
        let err = DataApi::default().decide(&create(db, DataKeyId::new(), DataKeyKind::Publishable, spec));
        let err = err.expect_err("refused").to_string();
        assert!(err.contains(field), "{err}");
    }
}

#[test]
fn live_keys_are_capped_and_revoked_or_expired_ones_do_not_count() {
    let db = DatabaseId::new();
    let (a, b) = (DataKeyId::new(), DataKeyId::new());
    let mut events = DataApi::default().decide(&create(db, a, DataKeyKind::Service, KeySpec::default())).expect("a");
    events
        .extend(DataApi::replay(&events).decide(&create(db, b, DataKeyKind::Service, KeySpec::default())).expect("b"));
    let third = create(db, DataKeyId::new(), DataKeyKind::Publishable, KeySpec::default());
    assert_eq!(DataApi::replay(&events).decide(&third), Err(DataApiError::TooManyKeys(2)));
    let revoked = DataApi::replay(&events).decide(&DataApiCommand::RevokeKey { key_id: a }).expect("revokes");
    assert!(matches!(&revoked[..], [DataApiEvent::DataKeyRevoked { kind: DataKeyKind::Service, .. }]));
    assert_eq!(revoked[0].activity().expect("activity").action, "service_key.revoke");
    events.extend(revoked);
    assert!(DataApi::replay(&events).decide(&third).is_ok());
    // Both created keys expire at t(100): past it, neither counts.
    let mut later = third.clone();
    if let DataApiCommand::CreateKey { now, .. } = &mut later {
        *now = t(200);
    }
    events.extend(DataApi::replay(&events).decide(&third).expect("third"));
    assert!(DataApi::replay(&events).decide(&later).is_ok());
}

#[test]
fn a_key_is_revoked_once_and_an_unknown_key_is_not_found() {
    let (db, id) = (DatabaseId::new(), DataKeyId::new());
    let mut events = DataApi::default().decide(&create(db, id, DataKeyKind::Service, KeySpec::default())).expect("c");
    let revoke = DataApiCommand::RevokeKey { key_id: id };
    events.extend(DataApi::replay(&events).decide(&revoke).expect("revokes"));
    assert_eq!(DataApi::replay(&events).decide(&revoke), Err(DataApiError::KeyNotFound));
    let other = DataApiCommand::RevokeKey { key_id: DataKeyId::new() };
    assert_eq!(DataApi::replay(&events).decide(&other), Err(DataApiError::KeyNotFound));
}

#[test]
fn an_auth_config_is_recorded_once_and_an_unchanged_one_appends_nothing() {
    let db = DatabaseId::new();
    let cmd = DataApiCommand::Configure { database_id: db, config: config() };
    let events = DataApi::default().decide(&cmd).expect("configures");
    let [DataApiEvent::AuthConfigChanged { config: stored, .. }] = &events[..] else { panic!("{events:?}") };
    assert_eq!(stored.claims_allowlist, vec!["sub", "email"], "duplicates dropped");
    assert_eq!(events[0].activity().expect("activity").action, "auth_config.update");
    assert_eq!(DataApi::replay(&events).decide(&cmd), Ok(vec![]));
}

#[test]
fn an_auth_config_is_refused_naming_what_is_wrong() {
    let both = AuthConfig { jwks: Some(json!({"keys": []})), ..config() };
    let neither = AuthConfig { jwks_url: None, ..config() };
    let ftp = AuthConfig { jwks_url: Some("ftp://idp/jwks".into()), ..config() };
    let userinfo = AuthConfig { jwks_url: Some("https://u:p@idp/jwks".into()), ..config() };
    let private = AuthConfig {
        jwks_url: None,
        jwks: Some(json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "secret"}]})),
        ..config()
    };
    let symmetric = AuthConfig { jwks_url: None, jwks: Some(json!({"keys": [{"kty": "oct"}]})), ..config() };
    let not_a_set = AuthConfig { jwks_url: None, jwks: Some(json!([1])), ..config() };
    let no_issuer = AuthConfig { issuer: " ".into(), ..config() };
    let tiny = AuthConfig { claims_max_bytes: 1, ..config() };
    for (c, says) in [
        (both, "exactly one"),
        (neither, "exactly one"),
        (ftp, "jwks_url"),
        (userinfo, "user information"),
        (private, "private key material"),
        (symmetric, "kty"),
        (not_a_set, "JWK Set"),
        (no_issuer, "issuer"),
        (tiny, "claims_max_bytes"),
    ] {
        let err = c.validated().expect_err("refused").to_string();
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn identifiers_are_what_the_data_api_can_quote() {
    for ok in ["public", "_x", "Items", "a$1"] {
        assert!(identifier(ok), "{ok}");
    }
    for bad in ["", "1a", "a b", "a.b", "a\"b", &"x".repeat(64)] {
        assert!(!identifier(bad), "{bad}");
    }
}
