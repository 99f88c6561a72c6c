//! The dashboard's security seen by a plain HTTP client: the cookies sign-in sets, CSRF on
//! every write made with the cookie, cross-site sign-in refused, sign-out ending the session,
//! and the headers and caching of the page and its assets.

use integration_tests::{app, unique_name, Api};
use serde_json::{json, Value};

pub struct Signed {
    pub session: String,
    pub csrf: String,
    pub set_cookies: Vec<String>,
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client")
}

fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| c.strip_prefix(&format!("{name}="))?.split(';').next().map(str::to_owned))
}

/// Signs in with `body` as a same-origin page would; the status and the cookies set.
pub async fn sign_in(body: Value, headers: &[(&str, &str)]) -> (u16, Option<Signed>, Value) {
    let base = &app().api_url;
    let mut req = http().post(format!("{base}/api/v1/auth/cookie")).json(&body);
    if !headers.iter().any(|(k, _)| *k == "origin") {
        req = req.header("origin", base.as_str());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("answers");
    let status = res.status().as_u16();
    let set_cookies: Vec<String> =
        res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let signed = match (cookie_value(&set_cookies, "berth_session"), cookie_value(&set_cookies, "berth_csrf")) {
        (Some(session), Some(csrf)) => Some(Signed { session, csrf, set_cookies }),
        _ => None,
    };
    (status, signed, body)
}

/// A request authenticated by the session cookie only, with `csrf` in the header if given.
pub async fn with_cookie(
    method: reqwest::Method,
    path: &str,
    session: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let base = &app().api_url;
    let mut req =
        http().request(method, format!("{base}/api/v1{path}")).header("cookie", format!("berth_session={session}"));
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("answers");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_cookie_session_refuses_writes_without_its_csrf_token() {
    let user = app().new_user("dash-csrf").await.expect("user");
    let (status, signed, body) = sign_in(json!({ "api_key": user.key }), &[]).await;
    assert_eq!(status, 200, "{body}");
    let s = signed.expect("both cookies set");
    let session_cookie = s.set_cookies.iter().find(|c| c.starts_with("berth_session=")).expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_cookie.contains(attr), "{attr} missing");
    }
    assert!(!session_cookie.contains("Secure"), "plain HTTP here: not Secure");
    let csrf_cookie = s.set_cookies.iter().find(|c| c.starts_with("berth_csrf=")).expect("csrf cookie");
    assert!(!csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));
    assert_ne!(s.session, user.key, "the cookie holds a session, not the key");
    // Behind a TLS-terminating proxy that says so, the cookies are Secure.
    let (_, behind_tls, _) = sign_in(json!({ "api_key": user.key }), &[("x-forwarded-proto", "https")]).await;
    let behind_tls = behind_tls.expect("cookies");
    assert!(behind_tls.set_cookies.iter().all(|c| c.contains("; Secure")), "{:?}", behind_tls.set_cookies.len());

    // Reads work with the cookie alone.
    let (status, me) = with_cookie(reqwest::Method::GET, "/me", &s.session, None, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["user_id"], user.user_id.to_string());

    // A cross-site POST carries the cookie but cannot know the token: refused, nothing made.
    let name = unique_name("csrf");
    let create = || Some(json!({ "name": name }));
    for token in [None, Some("0".repeat(64)), Some(s.csrf[..63].to_owned())] {
        let (status, body) =
            with_cookie(reqwest::Method::POST, "/databases", &s.session, token.as_deref(), create()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
    }
    let (status, body) = with_cookie(reqwest::Method::DELETE, "/api-keys/key_x", &s.session, None, None).await;
    assert_eq!(status, 403, "{body}");
    let owner = Api::new(Some(&user.key));
    let listed = owner.get("/databases").await;
    assert!(!listed.body.to_string().contains(&name), "the refused request created nothing");

    // With the token, the same session writes.
    let (status, body) = with_cookie(
        reqwest::Method::POST,
        "/api-keys",
        &s.session,
        Some(&s.csrf),
        Some(json!({ "label": "via-cookie" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // The same actor as through the API with that key: the user and the key signed in with.
    let prefix = user.key.split('_').nth(1).expect("a prefix");
    let keys = owner.get("/api-keys").await;
    let key_id =
        keys.data().as_array().expect("keys").iter().find(|k| k["prefix"] == prefix).expect("the key")["id"].clone();
    let logged = owner.wait_activity("/activity?action=api_key.create", |e| e.len() >= 2).await;
    let actor = &logged.data()[0]["actor"];
    assert_eq!((&actor["user_id"], &actor["api_key_id"]), (&json!(user.user_id.to_string()), &key_id), "{actor}");

    // Sign-out ends the session server-side and clears the cookies.
    let base = &app().api_url;
    let res = http()
        .post(format!("{base}/api/v1/auth/logout"))
        .header("cookie", format!("berth_session={}; berth_csrf={}", s.session, s.csrf))
        .header("x-csrf-token", &s.csrf)
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status().as_u16(), 204);
    let cleared: Vec<_> = res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    assert!(cleared.iter().any(|c| c.starts_with("berth_session=;") && c.contains("Max-Age=0")), "{cleared:?}");
    let (status, _) = with_cookie(reqwest::Method::GET, "/me", &s.session, None, None).await;
    assert_eq!(status, 401, "the ended session no longer works");
}

#[tokio::test]
async fn revoking_the_key_ends_the_dashboard_session_signed_in_with_it() {
    let user = app().new_user("dash-revoke").await.expect("user");
    let owner = Api::new(Some(&user.key));
    let (key_id, key) = owner.create_key(json!({ "label": "for the dashboard" })).await;
    let (status, signed, _) = sign_in(json!({ "api_key": key }), &[]).await;
    assert_eq!(status, 200);
    let s = signed.expect("cookies");
    assert_eq!(with_cookie(reqwest::Method::GET, "/me", &s.session, None, None).await.0, 200);
    owner.delete(&format!("/api-keys/{key_id}")).await.expect(204);
    assert_eq!(with_cookie(reqwest::Method::GET, "/me", &s.session, None, None).await.0, 401, "ended with its key");
}

#[tokio::test]
async fn sign_in_refuses_other_sites_wrong_keys_and_narrow_keys() {
    let user = app().new_user("dash-refuse").await.expect("user");
    let (status, signed, _) = sign_in(json!({ "api_key": user.key }), &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(status, 403);
    assert!(signed.is_none());
    let (status, signed, _) = sign_in(json!({ "api_key": user.key }), &[("origin", "https://evil.example")]).await;
    assert!(status == 403 && signed.is_none(), "another origin: {status}");
    let mut wrong = user.key.clone();
    wrong.pop();
    wrong.push(if user.key.ends_with('0') { '1' } else { '0' });
    let (status, signed, body) = sign_in(json!({ "api_key": wrong }), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("UNAUTHENTICATED")));
    assert!(signed.is_none());
    let owner = Api::new(Some(&user.key));
    let db = owner.create_database(&unique_name("narrow")).await;
    let db = db.data()["id"].as_str().expect("a database").to_owned();
    let (_, narrow) = owner.create_key(json!({ "label": "narrow", "scope": "selected", "database_ids": [db] })).await;
    let (status, _, body) = sign_in(json!({ "api_key": narrow }), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("KEY_SCOPE_DENIED")), "{body}");
}

#[tokio::test]
async fn the_page_has_strict_headers_and_versioned_cacheable_assets() {
    let base = &app().api_url;
    let res = http().get(format!("{base}/")).send().await.expect("answers");
    assert_eq!(res.status().as_u16(), 200);
    let header = |n: &str| res.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let csp = header("content-security-policy");
    for part in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("cache-control"), "no-cache");
    let html = res.text().await.expect("html");
    let start = html.find("/ui/").expect("assets under /ui/");
    let version = html[start + 4..].split('/').next().expect("a version").to_owned();
    assert!(version.len() >= 8 && version.chars().all(|c| c.is_ascii_hexdigit()), "{version}");
    let asset = http().get(format!("{base}/ui/{version}/app.js")).send().await.expect("answers");
    assert_eq!(asset.status().as_u16(), 200);
    let cache = asset.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(cache.contains("immutable") && cache.contains("max-age=31536000"), "{cache}");
    assert!(asset
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/javascript")));
    let doc: Value =
        http().get(format!("{base}/api/v1/openapi.json")).send().await.expect("doc").json().await.expect("json");
    for (path, method) in [("/api/v1/auth/cookie", "post"), ("/api/v1/auth/methods", "get")] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} documented");
        assert_eq!(op["security"], json!([]), "{path} is public");
    }
    let stale = http().get(format!("{base}/ui/0000000000000000/app.js")).send().await.expect("answers");
    assert_eq!(stale.status().as_u16(), 404, "another version's assets are not served as this one's");
}
