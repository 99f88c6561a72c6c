//! Signing in with OIDC, anonymous accounts, and claiming them.

use integration_tests::fixtures::{id_token, ISSUER};
use integration_tests::{unique_name, Api};
use serde_json::json;

fn email() -> String {
    format!("person-{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn session(token: String) -> integration_tests::Resp {
    Api::new(None).post("/auth/session", json!({ "id_token": token })).await
}

#[tokio::test]
async fn a_verified_id_token_gives_a_session_and_one_email_is_one_account() {
    let email = email();
    let r = session(id_token("sub-1", &email, json!({}))).await;
    r.expect(200);
    let user = r.data()["user"].clone();
    assert_eq!(user["email"], email.as_str());
    assert!(r.data()["expires_at"].is_string());
    let api = Api::new(Some(r.data()["token"].as_str().expect("token")));
    let me = api.get("/me").await;
    me.expect(200);
    assert_eq!(me.data()["user_id"], user["user_id"]);
    assert_eq!(me.data()["plan"], "free");
    let db = api.create_running(&unique_name("mine")).await;

    // The same subject again, and a new subject for the same email: the same user and account.
    let again = session(id_token("sub-1", &email, json!({}))).await;
    assert_eq!(again.data()["user"]["user_id"], user["user_id"]);
    let reclaimed = session(id_token("sub-2-new-provider-account", &email.to_uppercase(), json!({}))).await;
    reclaimed.expect(200);
    assert_eq!(reclaimed.data()["user"]["user_id"], user["user_id"]);
    assert_eq!(reclaimed.data()["user"]["account_id"], user["account_id"]);
    let api2 = Api::new(Some(reclaimed.data()["token"].as_str().expect("token")));
    let list = api2.get("/databases").await;
    assert_eq!(list.body["data"][0]["id"], db["id"], "the reclaimed account keeps its databases");
}

#[tokio::test]
async fn bad_id_tokens_are_refused() {
    let e = email();
    let now = chrono::Utc::now().timestamp();
    let cases = [
        ("unverified email", id_token("s", &e, json!({ "email_verified": false }))),
        ("no email", id_token("s", &e, json!({ "email": null }))),
        ("wrong audience", id_token("s", &e, json!({ "aud": "someone-else" }))),
        ("wrong issuer", id_token("s", &e, json!({ "iss": "https://evil.example" }))),
        ("expired", id_token("s", &e, json!({ "exp": now - 120, "iat": now - 600 }))),
        ("not a jwt", "definitely-not-a-token".to_owned()),
    ];
    for (what, token) in cases {
        let r = session(token).await;
        assert_eq!((r.status, r.code()), (401, "UNAUTHENTICATED"), "{what}: {}", r.body);
    }
    // A token signed with the right key but edited afterwards.
    let good = id_token("s", &e, json!({}));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value = serde_json::from_slice(&b64.decode(&parts[1]).expect("b64")).expect("json");
    claims["email"] = json!("admin@berth.test");
    parts[1] = b64.encode(claims.to_string());
    session(parts.join(".")).await.expect_error(401, "UNAUTHENTICATED");
    assert!(ISSUER.starts_with("https://"));
}

#[tokio::test]
async fn a_tampered_or_foreign_session_token_is_unauthenticated() {
    let api = Api::sign_in(&email(), "sub-x").await;
    let token = api.key.clone().expect("token");
    let mut bad = token.clone();
    bad.replace_range(bad.len() - 3.., "abc");
    Api::new(Some(&bad)).get("/me").await.expect_error(401, "UNAUTHENTICATED");
    Api::new(Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")).get("/me").await.expect_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_anonymous_account_creates_databases_refreshes_and_is_claimed_once() {
    let anon = Api::new(None).post("/auth/anonymous", json!({})).await;
    anon.expect(201);
    let account_id = anon.data()["account_id"].as_str().expect("account").to_owned();
    let secret = anon.data()["anonymous_secret"].as_str().expect("secret").to_owned();
    let a = Api::new(Some(anon.data()["token"].as_str().expect("token")));
    let db = a.create_running(&unique_name("anon")).await;
    a.post("/api-keys", json!({ "label": "x" })).await.expect_error(403, "PLAN_REQUIRED");

    let creds = json!({ "account_id": account_id, "anonymous_secret": secret });
    let refreshed = Api::new(None).post("/auth/anonymous/refresh", creds.clone()).await;
    refreshed.expect(200);
    Api::new(Some(refreshed.data()["token"].as_str().expect("token"))).get("/databases").await.expect(200);
    let wrong = json!({ "account_id": account_id, "anonymous_secret": "anon_0000" });
    Api::new(None).post("/auth/anonymous/refresh", wrong.clone()).await.expect_error(401, "UNAUTHENTICATED");

    let user = Api::sign_in(&email(), "claimer").await;
    user.post("/auth/claim", wrong).await.expect_error(401, "UNAUTHENTICATED");
    let first = user.post("/auth/claim", creds.clone()).await;
    first.expect(200);
    assert_eq!(first.data()["database_ids"], json!([db["id"]]));
    let second = user.post("/auth/claim", creds.clone()).await;
    second.expect(200);
    assert_eq!(second.body, first.body, "a retried claim reports the same result");
    let listed = user.get("/databases").await;
    let mine: Vec<&serde_json::Value> = listed.body["data"].as_array().expect("array").iter().collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], db["id"]);
    assert_eq!(mine[0]["role"], "owner");
    // The anonymous session ended with the claim, and the account cannot be refreshed.
    a.get(&format!("/databases/{}", db["id"].as_str().expect("id"))).await.expect_error(401, "UNAUTHENTICATED");
    Api::new(None).post("/auth/anonymous/refresh", creds.clone()).await.expect_error(401, "UNAUTHENTICATED");
    // Another user cannot claim it again.
    let other = Api::sign_in(&email(), "other").await;
    other.post("/auth/claim", creds.clone()).await.expect_error(409, "CONFLICT");
    // API keys and anonymous sessions cannot claim.
    Api::new_user().await.post("/auth/claim", creds).await.expect_error(403, "FORBIDDEN");
    let claims = user.wait_activity("/activity?action=account.claim", |e| !e.is_empty()).await;
    assert_eq!(claims.body["data"].as_array().expect("array").len(), 1, "claimed once: {}", claims.body);
}

/// The `session.login` entries an account's client sees, newest first, once there are `n`.
async fn logins(api: &Api, n: usize) -> Vec<serde_json::Value> {
    let r = api.wait_activity("/activity?action=session.login", |e| e.len() >= n).await;
    r.body["data"].as_array().expect("array").clone()
}

/// Every sign-in is in the account's activity — how it was made, by whom, with which key —
/// and never its token.
#[tokio::test]
async fn every_sign_in_is_recorded_with_how_it_was_made() {
    // OIDC.
    let r = session(id_token("sub-logins", &email(), json!({}))).await;
    r.expect(200);
    let (token, user_id) = (r.data()["token"].as_str().expect("token"), r.data()["user"]["user_id"].clone());
    let entries = logins(&Api::new(Some(token)), 1).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["details"], json!({ "method": "oidc" }));
    assert_eq!(entries[0]["actor"]["user_id"], user_id);
    assert!(!serde_json::to_string(&entries).expect("json").contains(token), "no token in the log");

    // An anonymous sign-up, then a refresh with its secret.
    let anon = Api::from_source(None, "127.0.0.24".parse().expect("address")).post("/auth/anonymous", json!({})).await;
    anon.expect(201);
    let creds = json!({ "account_id": anon.data()["account_id"], "anonymous_secret": anon.data()["anonymous_secret"] });
    Api::new(None).post("/auth/anonymous/refresh", creds).await.expect(200);
    let a = Api::new(Some(anon.data()["token"].as_str().expect("token")));
    let methods: Vec<serde_json::Value> = logins(&a, 2).await.iter().map(|e| e["details"]["method"].clone()).collect();
    assert_eq!(methods, [json!("anonymous_refresh"), json!("anonymous_signup")]);

    // The dashboard's sign-in with an API key: the entry names the key.
    let keyed = Api::new_user().await;
    let key = keyed.key.clone().expect("a key");
    let base = integration_tests::app().api_url.clone();
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/cookie"))
        .header("origin", base.as_str())
        .json(&json!({ "api_key": key }))
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status().as_u16(), 200);
    let listed = keyed.get("/api-keys").await;
    listed.expect(200);
    let key_id = listed.body["data"][0]["id"].clone();
    let entries = logins(&keyed, 1).await;
    assert_eq!(entries[0]["details"], json!({ "method": "api_key" }));
    assert_eq!(entries[0]["actor"]["api_key_id"], key_id, "{entries:?}");
    assert!(!serde_json::to_string(&entries).expect("json").contains(&key), "no key in the log");
}
