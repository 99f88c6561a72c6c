//! The data API's keys and auth config end to end: keys shown once and never again (lists,
//! activity), revocation and expiry refused by `authenticate` at once, a key bound to its
//! database, who may manage them, auth-config validation, and `verify_jwt` against the test
//! identity provider's key, served from a JWKS URL of the test's own.
//!
//! The test's `Control` stands for another API process: it hears of the API's changes by
//! the NOTIFY (`control::data_cache`), so a check right after a change waits for it with a
//! deadline ([`HEARD`]). The API process itself refuses a revoked key on the very next
//! request (`it::data_api`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use control::data_auth::{verify_jwt, JwtRejected};
use control::data_keys::{authenticate, DataKeyKind};
use domain::DatabaseId;
use integration_tests::{app, eventually, fixtures, unique_name, Api};
use serde_json::{json, Value};

/// How long another process may take to hear of a change (the NOTIFY; milliseconds).
const HEARD: Duration = Duration::from_secs(5);

fn control() -> control::Control {
    // The test's JWKS server listens on 127.0.0.1: private networks allowed, as in the platform.
    let settings = control::Settings { limits: fixtures::limits(), ..control::Settings::default() };
    control::Control::new(app().store(), settings).expect("a control context")
}

async fn database(owner: &Api, label: &str) -> (String, DatabaseId) {
    let created = owner.create_running(&unique_name(label)).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let parsed = DatabaseId::parse(&id).expect("a database id");
    (id, parsed)
}

async fn share(owner: &Api, id: &str, role: &str) -> Api {
    let user = Api::new_user().await;
    let email = user.email().await;
    owner.post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": role })).await.expect(201);
    user
}

/// The key with its last hex digit changed (never to the digit it already has).
fn other_last_digit(key: &str) -> String {
    let (head, last) = key.split_at(key.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

#[tokio::test]
async fn keys_are_shown_once_bound_to_their_database_and_revoked_at_once() {
    let owner = Api::new_user().await;
    let ctx = control();
    let (a, a_id) = database(&owner, "dka").await;
    let (_, b_id) = database(&owner, "dkb").await;

    let spec = json!({"name": "web", "allowed_origins": ["https://App.example.com"], "exposed_tables": ["items"],
        "rate_limit": {"rps": 5, "burst": 10}, "expires_in_days": 30});
    let created = owner.post(&format!("/databases/{a}/publishable-keys"), spec).await;
    created.expect(201);
    let pk = created.data()["publishable_key"].as_str().expect("the key").to_owned();
    let pk_id = created.data()["id"].as_str().expect("id").to_owned();
    assert!(pk.starts_with("brth_pk_"), "{pk}");
    let service = owner.post(&format!("/databases/{a}/service-keys"), json!({})).await;
    service.expect(201);
    let sk = service.data()["service_key"].as_str().expect("the key").to_owned();

    let grant = authenticate(&ctx, a_id, &pk).await.expect("the publishable key");
    assert_eq!(grant.kind, DataKeyKind::Publishable);
    assert_eq!(grant.key_id, pk_id);
    assert_eq!(grant.allowed_origins, vec!["https://app.example.com"]);
    assert_eq!(grant.exposed_schemas, vec!["public"]);
    assert_eq!(grant.exposed_tables, vec!["items"]);
    assert_eq!(grant.rate_limit.map(|r| (r.rps, r.burst)), Some((5.0, 10.0)));
    assert_eq!(authenticate(&ctx, a_id, &sk).await.expect("the service key").kind, DataKeyKind::Service);
    for wrong in [
        authenticate(&ctx, b_id, &pk).await.err(),
        authenticate(&ctx, a_id, &pk.replace("brth_pk_", "brth_sk_")).await.err(),
        authenticate(&ctx, a_id, &other_last_digit(&pk)).await.err(),
        authenticate(&ctx, a_id, "brth_pk_nothing").await.err(),
    ] {
        assert_eq!(wrong.map(|e| e.code()), Some("UNAUTHENTICATED"));
    }

    let listed = owner.get(&format!("/databases/{a}/publishable-keys")).await;
    listed.expect(200);
    let text = listed.body.to_string();
    assert!(text.contains(&pk_id) && !text.contains(&pk[8..]) && !text.contains("hash"), "{text}");
    assert!(!owner.get(&format!("/databases/{a}/service-keys")).await.body.to_string().contains(&sk[8..]));

    owner.delete(&format!("/databases/{a}/publishable-keys/{pk_id}")).await.expect(204);
    eventually("the revoked key refused by another process", HEARD, || async {
        authenticate(&ctx, a_id, &pk).await.is_err()
    })
    .await;
    owner.delete(&format!("/databases/{a}/publishable-keys/{pk_id}")).await.expect_error(404, "NOT_FOUND");
    let sk_id = service.data()["id"].as_str().expect("id");
    owner.delete(&format!("/databases/{a}/publishable-keys/{sk_id}")).await.expect_error(404, "NOT_FOUND");
    let listed = owner.get(&format!("/databases/{a}/publishable-keys")).await;
    assert_eq!(listed.data().as_array().map(Vec::len), Some(0));

    let activity = owner
        .wait_activity(&format!("/databases/{a}/activity"), |e| {
            ["publishable_key.create", "service_key.create", "publishable_key.revoke"]
                .iter()
                .all(|a| integration_tests::has_action(e, a))
        })
        .await;
    let text = activity.body.to_string();
    assert!(!text.contains(&pk[8..]) && !text.contains(&sk[8..]), "no secret in activity: {text}");
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let owner = Api::new_user().await;
    let ctx = control();
    let (a, a_id) = database(&owner, "dkexp").await;
    // A key that expired a second ago, made through the aggregate as the use case makes one.
    let secret = "ab".repeat(32);
    let hash = control::keys::hash_secret(&app().keyring.hash_key, &secret);
    let command = domain::DataApiCommand::CreateKey {
        database_id: a_id,
        key_id: domain::DataKeyId::new(),
        kind: DataKeyKind::Publishable,
        name: "old".into(),
        prefix: "exp00001".into(),
        hash,
        spec: domain::KeySpec::default(),
        expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
        max_keys: 50,
        now: chrono::Utc::now(),
    };
    let stream = domain::StreamId::data_api(a_id);
    let meta = eventstore::Metadata::default();
    app().store().execute::<domain::DataApi>(stream.as_str(), &command, &meta, &[]).await.expect("stored").expect("ok");
    let key = format!("brth_pk_exp00001_{secret}");
    assert!(authenticate(&ctx, a_id, &key).await.is_err(), "an expired key is refused");
    let listed = owner.get(&format!("/databases/{a}/publishable-keys")).await;
    assert!(listed.data()[0]["expires_at"].is_string(), "{}", listed.body);
    let bad = owner.post(&format!("/databases/{a}/service-keys"), json!({"expires_in_days": 0})).await;
    bad.expect_error(400, "INVALID_REQUEST");
}

#[tokio::test]
async fn only_owners_and_admins_manage_keys_and_auth_config() {
    let owner = Api::new_user().await;
    let (a, _) = database(&owner, "dkroles").await;
    let admin = share(&owner, &a, "admin").await;
    let developer = share(&owner, &a, "developer").await;
    let viewer = share(&owner, &a, "viewer").await;
    let config = json!({"auth_mode": "byo_jwt", "byo_jwt": {"jwks_url": "https://idp.example.com/jwks",
        "issuer": "https://idp.example.com", "audience": "app"}});
    for api in [&developer, &viewer] {
        let key = "dkey_01J00000000000000000000000";
        api.post(&format!("/databases/{a}/publishable-keys"), json!({})).await.expect_error(403, "FORBIDDEN");
        api.post(&format!("/databases/{a}/service-keys"), json!({})).await.expect_error(403, "FORBIDDEN");
        api.get(&format!("/databases/{a}/publishable-keys")).await.expect_error(403, "FORBIDDEN");
        api.get(&format!("/databases/{a}/service-keys")).await.expect_error(403, "FORBIDDEN");
        api.delete(&format!("/databases/{a}/publishable-keys/{key}")).await.expect_error(403, "FORBIDDEN");
        api.delete(&format!("/databases/{a}/service-keys/{key}")).await.expect_error(403, "FORBIDDEN");
        api.get(&format!("/databases/{a}/auth-config")).await.expect_error(403, "FORBIDDEN");
        api.put(&format!("/databases/{a}/auth-config"), config.clone()).await.expect_error(403, "FORBIDDEN");
    }
    admin.post(&format!("/databases/{a}/service-keys"), json!({"name": "ci"})).await.expect(201);
    admin.put(&format!("/databases/{a}/auth-config"), config).await.expect(200);
}

#[tokio::test]
async fn auth_configs_are_validated_and_defaults_filled_in() {
    let owner = Api::new_user().await;
    let (a, _) = database(&owner, "dkcfg").await;
    let path = format!("/databases/{a}/auth-config");
    owner.get(&path).await.expect_error(404, "NOT_FOUND");
    let with = |byo: Value| json!({"auth_mode": "byo_jwt", "byo_jwt": byo});
    let base = json!({"issuer": "https://idp.example.com", "audience": "app"});
    let merged = |extra: Value| {
        let mut b = base.clone();
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        with(b)
    };
    let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "k"});
    let cases = [
        (merged(json!({})), "exactly one"),
        (merged(json!({"jwks_url": "https://idp/jwks", "jwks": {"keys": [rsa]}})), "exactly one"),
        (merged(json!({"jwks_url": "ftp://idp/jwks"})), "jwks_url"),
        (merged(json!({"jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB"}]}})), "private"),
        (merged(json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})), "jwks"),
        (merged(json!({"jwks_url": "https://idp/jwks", "claims_max_bytes": 10})), "claims_max_bytes"),
        (merged(json!({"jwks_url": "https://idp/jwks", "issuer": ""})), "issuer"),
        (
            json!({"auth_mode": "magic", "byo_jwt": {"jwks_url": "https://idp/jwks", "issuer": "i", "audience": "a"}}),
            "auth_mode",
        ),
    ];
    for (body, says) in cases {
        let r = owner.put(&path, body.clone()).await;
        r.expect_error(400, "INVALID_REQUEST");
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains(says)), "{body} → {}", r.body);
    }
    let ok = owner.put(&path, merged(json!({"jwks_url": "https://idp.example.com/jwks"}))).await;
    ok.expect(200);
    let byo = &ok.data()["byo_jwt"];
    assert_eq!(byo["subject_claim"], "sub");
    assert_eq!(byo["claims_allowlist"], json!(["sub", "role", "email", "aud", "exp"]));
    assert_eq!(byo["claims_max_bytes"], 4096);
    assert_eq!(owner.get(&path).await.data()["byo_jwt"]["audience"], "app");
    owner
        .wait_activity(&format!("/databases/{a}/activity"), |e| integration_tests::has_action(e, "auth_config.update"))
        .await;
}

/// A JWKS URL of the test's own: serves `body` and counts requests.
struct JwksServer {
    url: String,
    body: Arc<parking_lot::Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

async fn jwks_server(body: String) -> JwksServer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("an address"));
    let body = Arc::new(parking_lot::Mutex::new(body));
    let hits = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (body.clone(), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            counted.fetch_add(1, Ordering::SeqCst);
            let text = served.lock().clone();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                text.len()
            );
            let _ = socket.write_all(format!("{head}{text}").as_bytes()).await;
        }
    });
    JwksServer { url, body, hits }
}

const ISSUER: &str = "https://users.example.test";
const AUDIENCE: &str = "shop-app";

/// A token signed with the test IdP's key, under `kid`; `claims` override the defaults.
fn token(kid: &str, claims: Value) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut body = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "user-7", "email": "u7@example.test",
        "role": "authenticated", "exp": now + 300, "iat": now, "private_note": "not for SQL"});
    for (k, v) in claims.as_object().expect("object") {
        body[k] = v.clone();
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&fixtures::idp().private_pem).expect("rsa key");
    jsonwebtoken::encode(&header, &body, &key).expect("signs")
}

/// The IdP's JWKS with its one key under `kid`.
fn jwks_with_kid(kid: &str) -> Value {
    let mut set: Value =
        serde_json::from_slice(&std::fs::read(&fixtures::idp().jwks_path).expect("the JWKS")).expect("JSON");
    set["keys"][0]["kid"] = kid.into();
    set
}

#[tokio::test]
async fn jwts_are_verified_against_the_database_auth_config() {
    let owner = Api::new_user().await;
    let ctx = control();
    let (a, a_id) = database(&owner, "dkjwt").await;
    assert_eq!(verify_jwt(&ctx, a_id, &token("test-key", json!({}))).await, Err(JwtRejected::NoAuthConfig));

    let server = jwks_server(jwks_with_kid("test-key").to_string()).await;
    let config = json!({"auth_mode": "byo_jwt", "byo_jwt": {"jwks_url": server.url, "issuer": ISSUER,
        "audience": AUDIENCE, "claims_max_bytes": 512}});
    owner.put(&format!("/databases/{a}/auth-config"), config).await.expect(200);

    let claims = eventually("the auth config heard of", HEARD, || async {
        verify_jwt(&ctx, a_id, &token("test-key", json!({}))).await.map_err(|e| e.to_string())
    })
    .await;
    let exp = claims["exp"].clone();
    assert_eq!(
        claims,
        json!({"sub": "user-7", "email": "u7@example.test", "role": "authenticated", "aud": AUDIENCE, "exp": exp}),
        "only the allowlisted claims"
    );
    let now = chrono::Utc::now().timestamp();
    let refused = [
        (token("test-key", json!({"aud": "another-app"})), JwtRejected::Audience),
        (token("test-key", json!({"iss": "https://evil.test"})), JwtRejected::Issuer),
        (token("test-key", json!({"exp": now - 600})), JwtRejected::Expired),
        (token("test-key", json!({"email": "x".repeat(600)})), JwtRejected::ClaimsTooLarge(512)),
        (token("test-key", json!({"sub": 7})), JwtRejected::MissingClaim("sub".into())),
    ];
    for (t, want) in refused {
        assert_eq!(verify_jwt(&ctx, a_id, &t).await, Err(want.clone()), "{want}");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "the keys are fetched once and kept");

    // An unknown kid fetches again at most once per few seconds…
    let rotated = token("rotated", json!({}));
    assert_eq!(verify_jwt(&ctx, a_id, &rotated).await, Err(JwtRejected::UnknownKey));
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "not within seconds of the last fetch");
    // …and finds a key the issuer rotated in.
    *server.body.lock() = jwks_with_kid("rotated").to_string();
    tokio::time::sleep(control::jwks::REFETCH_AFTER + Duration::from_millis(200)).await;
    assert!(verify_jwt(&ctx, a_id, &rotated).await.is_ok(), "refetched on the unknown kid");
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    assert_eq!(verify_jwt(&ctx, a_id, &rotated).await.map(|_| ()), Ok(()));

    // Inline keys work alike, and another database's config never verifies this one's tokens.
    let inline = json!({"auth_mode": "byo_jwt", "byo_jwt": {"jwks": jwks_with_kid("test-key"), "issuer": ISSUER,
        "audience": AUDIENCE}});
    owner.put(&format!("/databases/{a}/auth-config"), inline).await.expect(200);
    eventually("the inline keys heard of", HEARD, || async {
        verify_jwt(&ctx, a_id, &rotated).await == Err(JwtRejected::UnknownKey)
    })
    .await;
    assert!(verify_jwt(&ctx, a_id, &token("test-key", json!({}))).await.is_ok());
    let (_, b_id) = database(&owner, "dkjwtb").await;
    assert_eq!(verify_jwt(&ctx, b_id, &token("test-key", json!({}))).await, Err(JwtRejected::NoAuthConfig));
}
