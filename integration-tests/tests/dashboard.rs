//! The web dashboard in a real headless Chromium (Debian's, driven over WebDriver through its
//! chromedriver by fantoccini), against this binary's one in-process platform: what a user
//! does through the pages reaches the real API, PostgreSQL and PgBouncer. The HTTP-level
//! security checks are in `dashboard/http.rs`. Screenshots go to target/dashboard-screenshots/.

#[path = "dashboard/admin.rs"]
mod admin;
#[path = "dashboard/browser.rs"]
mod browser;
#[path = "dashboard/http.rs"]
mod http;
#[path = "dashboard/roles.rs"]
mod roles;

use std::time::Duration;

use browser::Browser;
use integration_tests::{app, unique_name, Api};
use serde_json::{json, Value};

/// The whole browser scenario is bounded: a hung page fails the test instead of the run.
const BUDGET: Duration = Duration::from_secs(180);

#[tokio::test]
async fn a_user_works_through_the_dashboard_in_chromium() {
    tokio::time::timeout(BUDGET, scenario()).await.expect("the browser scenario finishes within its budget");
}

async fn scenario() {
    let owner = app().new_user("dash-owner").await.expect("owner");
    let viewer = app().new_user("dash-viewer").await.expect("viewer");
    let viewer_email = Api::new(Some(&viewer.key)).email().await;
    let b = Browser::start(&app().api_url).await;

    // First load: the sign-in page, and what it cost to transfer.
    b.goto("/").await;
    b.find("[data-test=signin-form]").await;
    let sizes = b
        .eval(
            "const n = performance.getEntriesByType('navigation')[0];
             const r = performance.getEntriesByType('resource').filter(e => e.name.includes('/ui/'));
             return { page: n.transferSize, assets: r.reduce((s, e) => s + e.transferSize, 0),
                      decoded: n.decodedBodySize + r.reduce((s, e) => s + e.decodedBodySize, 0), files: r.length };",
        )
        .await;
    let first_load = sizes["page"].as_u64().unwrap_or(0) + sizes["assets"].as_u64().unwrap_or(0);
    eprintln!("dashboard first load: {first_load} bytes transferred ({sizes})");
    assert!(first_load > 0 && first_load < 200 * 1024, "first load {first_load} bytes: {sizes}");
    b.screenshot("01-sign-in").await;

    // A wrong key is refused on the page.
    b.type_in("input[name=api_key]", "brth_nothing_wrong").await;
    b.click("form[data-test=signin-form] button[type=submit]").await;
    b.until("the sign-in error", "return document.querySelector('[data-test=signin-error]').textContent.length > 0")
        .await;

    b.sign_in(&owner.key).await;
    // The keyboard's first stop skips the navigation.
    let first = b.eval("document.activeElement.blur(); return document.querySelector('#top a').textContent;").await;
    assert_eq!(first, json!("Skip to content"));
    b.find("[data-test=db-table], main .muted").await;

    // Create a database; watch it reach running; copy the connection string off the page.
    let name = unique_name("dash");
    b.type_in("[data-test=new-db-name]", &name).await;
    b.click("form[aria-label='Create a database'] button[type=submit]").await;
    b.find("[data-test=create-progress][data-state=running]").await;
    let conn = b.text("[data-test=secrets] [data-test=connection-string]").await;
    assert!(conn.starts_with(&format!("postgresql://{name}:")), "a connection string for {name}");
    psql(&conn, &name).await;
    b.find(&format!("tr[data-name='{name}'][data-state=running]")).await;
    b.route("#/databases/x").await; // leave and come back: the secret is gone from the page
    b.route("#/databases").await;
    b.find(&format!("tr[data-name='{name}']")).await;
    assert_eq!(b.count("[data-test=secrets]").await, 0, "the password is shown once");
    b.screenshot("02-databases").await;
    let storage = b.eval("return JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage});").await;
    assert_eq!(storage, json!("{}{}"), "nothing is kept in browser storage");

    let api = Api::new(Some(&owner.key));
    let id = api
        .get("/databases")
        .await
        .data()
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["name"] == name.as_str())
        .expect("listed")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    b.click(&format!("tr[data-name='{name}'] a")).await;
    b.find("[data-test=tab-overview] [data-test=lifecycle]").await;
    // The page links the CA that the pooler's TLS certificate chains to.
    let ca = b.eval("return fetch(document.querySelector('[data-test=ca-link]').href).then(r => r.text());").await;
    let ca = ca.as_str().expect("the CA certificate's text");
    assert!(
        ca.starts_with("-----BEGIN CERTIFICATE-----") && ca == app().platform.host.ca.as_ref().expect("a CA").pem()
    );
    b.screenshot("03-database").await;
    // Stop and start from the page; the state badge follows without a reload.
    let start_off = b.eval("return document.querySelector('[data-test=do-start]').disabled;").await;
    assert_eq!(start_off, json!(true), "a running database offers no Start");
    b.click("[data-test=do-stop]").await;
    b.find("[data-test=db-state] .s-stopped").await;
    assert_eq!(api.get(&format!("/databases/{id}")).await.data()["state"], "stopped");
    b.click("[data-test=do-start]").await;
    b.find("[data-test=db-state] .s-running").await;
    // A new password, shown once: the old one stops working, the new one works.
    b.click("[data-test=reset-password]").await;
    let conn = {
        let old = conn;
        b.until("a new connection string", &format!("const c = document.querySelector('[data-test=secrets] [data-test=connection-string]'); return !!c && c.textContent !== {};", json!(old))).await;
        let new = b.text("[data-test=secrets] [data-test=connection-string]").await;
        psql(&new, &name).await;
        new
    };

    roles::people(&b, &api, &id, &viewer_email).await;
    allowlist(&b, &api, &id).await;
    let restored = backup_and_restore(&b, &api, &id).await;
    // Its page shows the restore reach running without a reload.
    b.click("[data-test=new-db-link]").await;
    b.find("[data-test=db-state] .s-running").await;
    api.wait_state(&restored, "running").await;

    b.route(&format!("#/databases/{id}/metrics")).await;
    // The history is the worker's samples (every second in tests): charts at once, no
    // waiting for the page to collect them; the summary and the tenant's statements beside.
    b.until("two metrics samples", "const p = document.querySelector('[data-test=charts] svg path.line'); return !!p && p.getAttribute('d').includes('L');").await;
    b.until("the observability summary", "const s = document.querySelector('[data-test=observe-summary]'); return !!s && s.textContent.includes('Storage') && s.textContent.includes('Transactions');").await;
    b.find("[data-test=observe-statements] table").await;
    b.screenshot("06-metrics").await;
    b.route(&format!("#/databases/{id}/activity")).await;
    b.find("[data-test=tab-activity] table").await;
    b.screenshot("07-activity").await;
    b.route(&format!("#/databases/{id}/schema")).await;
    b.find("[data-test=tab-schema] h2").await;
    sql_editor(&b, &api, &id).await;
    data_api(&b, &api, &id).await;

    api_keys(&b, &api, &id).await;
    mariadb_database(&b).await;

    // The owner deletes the restored copy; the list follows it until it is gone.
    b.route(&format!("#/databases/{restored}")).await;
    b.click("[data-test=delete]").await; // asks again
    b.click("[data-test=delete]").await;
    b.find("[data-test=db-table]").await;
    b.until(
        "the deleted database gone from the list",
        &format!("return !document.querySelector(\"a[href='#/databases/{restored}']\");"),
    )
    .await;
    api.wait_state(&restored, "deleted").await;

    b.route("#/account").await;
    b.find("[data-test=plan]").await;
    b.screenshot("09-account").await;
    b.client.set_window_size(375, 812).await.expect("phone width");
    b.route("#/databases").await;
    b.find(&format!("tr[data-name='{name}']")).await;
    b.screenshot("10-databases-375px").await;
    let overflow = b.eval("return document.documentElement.scrollWidth <= window.innerWidth + 1;").await;
    assert_eq!(overflow, json!(true), "no sideways scrolling of the page at 375px");
    b.client.set_window_size(1280, 900).await.expect("desktop width");

    // The session cookie is not readable by the page's script; sign-out ends it.
    let session = b.client.get_named_cookie("berth_session").await.expect("cookie").value().to_owned();
    assert_eq!(b.eval("return document.cookie.includes('berth_session');").await, json!(false));
    b.sign_out().await;
    let (status, _) = http::with_cookie(reqwest::Method::GET, "/me", &session, None, None).await;
    assert_eq!(status, 401, "signed out: the old session cookie no longer works");

    roles::viewer_sees_no_secrets(&b, &api, &viewer.key, &id, &conn).await;
    admin::resolves_an_incident(&b).await;
    admin::cordons_a_host_from_the_hosts_list(&b).await;
    admin::moves_a_database_from_the_hosts_page(&b).await;
    admin::changes_a_plan_from_the_accounts_list(&b).await;
    admin::pages_through_accounts(&b).await;
    thousand_databases(&b).await;
    oidc_sign_in(&b).await;
    try_it_anonymously(&b).await;
    let blocked = b.eval("return document.documentElement.dataset.cspViolations || '0';").await;
    assert_eq!(blocked, json!("0"), "nothing the page does is blocked by its CSP");
    b.close().await;
}

/// The identity provider's answer coming back to the page: checked against the state and
/// nonce of the sign-in this browser started, exchanged for the cookie; a forged one is not.
async fn oidc_sign_in(b: &Browser) {
    b.client.delete_all_cookies().await.expect("cookies cleared");
    b.goto("/").await;
    b.find("[data-test=oidc]").await;
    let email = format!("oidc-{}@berth.test", uuid::Uuid::new_v4().simple());
    let token = integration_tests::fixtures::id_token(&email, &email, json!({ "nonce": "n-1" }));
    b.eval("sessionStorage.setItem('berth_oidc', JSON.stringify({ state: 's-1', nonce: 'n-2' })); return true;").await;
    b.goto(&format!("/#id_token={token}&state=s-1")).await;
    b.until(
        "the forged answer refused",
        "return document.getElementById('toast').textContent.includes('does not match');",
    )
    .await;
    assert_eq!(b.count("header nav").await, 0, "not signed in by an answer to another request");
    b.eval("sessionStorage.setItem('berth_oidc', JSON.stringify({ state: 's-1', nonce: 'n-1' })); return true;").await;
    b.goto(&format!("/#id_token={token}&state=s-1")).await;
    b.until(
        "signed in through OIDC",
        &format!("const w = document.querySelector('header .who'); return !!w && w.textContent === {};", json!(email)),
    )
    .await;
    assert_eq!(
        b.eval("return location.hash + sessionStorage.length;").await,
        json!("#/databases0"),
        "the token left the URL"
    );
}

/// "Try it": an anonymous account, its claim secret shown once, then the dashboard.
async fn try_it_anonymously(b: &Browser) {
    b.client.delete_all_cookies().await.expect("cookies cleared");
    b.goto("/").await;
    b.click("[data-test=try-it]").await;
    let secret = b.text("[data-test=anon-secret]").await;
    assert!(!secret.is_empty(), "the anonymous secret is shown once");
    b.click("[data-test=secrets] > button:last-child").await;
    b.find("[data-test=db-table]").await;
    assert_eq!(b.text("header .who").await, "anonymous");
}

/// A MariaDB database from the same form: its own kind of connection string, which Debian's
/// `mariadb` client opens; its page offers none of PostgreSQL's tabs, and says so if one is
/// asked for by its address.
async fn mariadb_database(b: &Browser) {
    b.route("#/account").await;
    b.find("[data-test=plan]").await;
    b.route("#/databases").await;
    let name = unique_name("dash-maria");
    b.type_in("[data-test=new-db-name]", &name).await;
    b.click("[data-test=new-db-engine] option[value=mariadb]").await;
    b.click("form[aria-label='Create a database'] button[type=submit]").await;
    b.find("[data-test=create-progress][data-state=running]").await;
    let conn = b.text("[data-test=secrets] [data-test=connection-string]").await;
    assert!(conn.starts_with(&format!("mysql://{name}:")), "a MariaDB connection string for {name}");
    let url = integration_tests::maria::MysqlUrl::parse(&conn);
    let got = integration_tests::maria::query(&url, "SELECT DATABASE()").await;
    assert_eq!(got.as_deref(), Ok(name.as_str()), "the mariadb client opens it");
    let row = format!("tr[data-name='{name}'][data-state=running]");
    b.find(&row).await;
    assert_eq!(b.text(&format!("{row} td.hide-sm")).await, "mariadb");
    b.screenshot("08m-mariadb").await;
    b.click(&format!("{row} a")).await;
    b.find("[data-test=tab-overview] [data-test=lifecycle]").await;
    assert_eq!(b.count("[data-test=tls-hint]").await, 0, "MariaDB logins are not through the pooler");
    let tabs = b.eval("return [...document.querySelectorAll('nav.tabs a')].map(a => a.textContent);").await;
    let tabs: Vec<&str> = tabs.as_array().expect("tab names").iter().filter_map(Value::as_str).collect();
    assert!(tabs.contains(&"Backups") && !tabs.contains(&"SQL") && !tabs.contains(&"Data API"), "{tabs:?}");
    let here = b.eval("return location.hash;").await;
    b.route(&format!("{}/sql", here.as_str().expect("hash"))).await;
    let said = b.text("[data-test=tab-sql] [data-test=not-offered]").await;
    assert!(said.contains("PostgreSQL"), "{said}");
}

/// psql, with the connection string taken from the page (the password via PGPASSWORD, so it
/// is not in psql's arguments).
async fn psql(conn: &str, name: &str) {
    let rest = conn.strip_prefix("postgresql://").expect("a postgresql URL");
    let (userinfo, hostpart) = rest.split_once('@').expect("user@host");
    let (user, password) = userinfo.split_once(':').expect("user:password");
    let out = tokio::process::Command::new("psql")
        .args(["-X", "-A", "-t", "-d", &format!("postgresql://{user}@{hostpart}"), "-c", "select current_database()"])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .expect("psql runs");
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), name);
}

async fn allowlist(b: &Browser, api: &Api, id: &str) {
    b.route(&format!("#/databases/{id}/network")).await;
    b.type_in("[data-test=rule-cidr]", "127.0.0.1/32").await;
    b.type_in("[data-test=rule-label]", "from the dashboard").await;
    b.find("[data-test=rule-ttl]").await.select_by_value("3600").await.expect("a TTL");
    b.click("form[aria-label='Add an allowlist rule'] button[type=submit]").await;
    let left = b.text("[data-test=rule] .countdown").await;
    assert!(left.starts_with("expires in 59m") || left.starts_with("expires in 1h"), "countdown: {left}");
    let rules = api.get(&format!("/databases/{id}/allowlist")).await;
    let rule = &rules.data()[0];
    assert_eq!(rule["cidr"], "127.0.0.1/32");
    assert!(rule["expires_at"].is_string(), "the rule has a TTL: {rule}");
    b.screenshot("04-network").await;
}

/// The SQL editor's results grid, a statement held for approval, and its approval from the
/// queue (the sole owner confirms their own).
async fn sql_editor(b: &Browser, api: &Api, id: &str) {
    b.route(&format!("#/databases/{id}/sql")).await;
    b.type_in("[data-test=sql-text]", "select 41 + 1 as answer, 'x' as label").await;
    b.click("[data-test=sql-run]").await;
    b.find("[data-test=sql-row]").await;
    let row = b.text("[data-test=sql-row]").await;
    assert!(row.contains("42") && row.contains('x'), "the grid shows the row: {row}");
    b.find("[data-test=recent-queries] [data-test=query]").await; // the audit, refreshed
    b.screenshot("08-sql").await;
    let on =
        api.put(&format!("/databases/{id}/approval-settings"), json!({ "enabled": true, "kinds": ["drop"] })).await;
    on.expect(200);
    let clear = b.eval("document.querySelector('[data-test=sql-text]').value = ''; return true;").await;
    assert_eq!(clear, json!(true));
    b.type_in("[data-test=sql-text]", "create table doomed (a int); drop table doomed").await;
    b.click("[data-test=sql-run]").await;
    b.find("[data-test=sql-held]").await;
    b.route(&format!("#/databases/{id}/approvals")).await;
    b.find("[data-test=approval] [data-test=approve]").await;
    b.click("[data-test=approval] [data-test=approve]").await; // asks again
    b.click("[data-test=approval] [data-test=approve]").await;
    b.find("[data-test=approval] .s-executed").await;
    let queue = api.get(&format!("/databases/{id}/approvals")).await;
    assert_eq!(queue.data()[0]["state"], "executed", "{}", queue.body);
    api.put(&format!("/databases/{id}/approval-settings"), json!({ "enabled": false })).await.expect(200);
}

/// The Data API tab: a publishable key shown once and listed by its prefix only, revoked from
/// the page; the auth config saved from the form.
async fn data_api(b: &Browser, api: &Api, id: &str) {
    b.route(&format!("#/databases/{id}/dataapi")).await;
    let snippet = b.text("[data-test=data-api-snippet]").await;
    assert!(snippet.contains(&format!("/data/{id}'")) && snippet.contains("createClient("), "{snippet}");
    b.type_in("[data-test=pk-name]", "web").await;
    b.type_in("[data-test=pk-origins]", "https://app.example.com").await;
    b.click("[data-test=create-data-key]").await;
    let key = b.text("[data-test=data-key]").await;
    assert!(key.starts_with("brth_pk_"), "the new key is shown once: {key}");
    let listed = api.get(&format!("/databases/{id}/publishable-keys")).await;
    assert_eq!(listed.data()[0]["allowed_origins"], json!(["https://app.example.com"]), "{}", listed.body);
    b.screenshot("09-data-api").await;
    b.click("[data-test=publishable-key] [data-test=revoke-data-key]").await; // asks again
    b.click("[data-test=publishable-key] [data-test=revoke-data-key]").await;
    b.until("the revoked key's row to go", "return !document.querySelector('[data-test=publishable-key]');").await;
    b.type_in("[data-test=jwks-url]", "https://issuer.example.com/jwks.json").await;
    b.type_in("[data-test=jwt-issuer]", "https://issuer.example.com").await;
    b.type_in("[data-test=jwt-audience]", "shop").await;
    b.click("[data-test=auth-config-save]").await;
    b.until("the auth config to be set", "const s = document.querySelector('[data-test=auth-config-state]'); return !!s && s.textContent.startsWith('Set');").await;
    let config = api.get(&format!("/databases/{id}/auth-config")).await;
    assert_eq!(config.data()["byo_jwt"]["audience"], "shop", "{}", config.body);
}

/// Creates a backup on the page, waits for it, restores it into a new database; its id.
async fn backup_and_restore(b: &Browser, api: &Api, id: &str) -> String {
    b.route(&format!("#/databases/{id}/backups")).await;
    b.type_in("[data-test=backup-label]", "before-change").await;
    b.click("[data-test=create-backup]").await;
    b.find("tr[data-test=backup][data-state=succeeded] [data-test=restore]").await;
    b.screenshot("05-backups").await;
    let download = b
        .eval(
            "const a = document.querySelector('tr[data-test=backup][data-state=succeeded] a[download]');
             return fetch(a.href).then(r => r.arrayBuffer().then(b => r.status + ' ' + new Uint8Array(b).slice(0, 2).join(',')));",
        )
        .await;
    assert_eq!(download, json!("200 31,139"), "the download link serves the gzip with the session cookie");
    b.click("tr[data-test=backup][data-state=succeeded] [data-test=restore]").await;
    let target = unique_name("restored");
    b.type_in("[data-test=restore-name]", &target).await;
    b.click("[data-test=restore-go]").await;
    let link = b.find("[data-test=new-db-link]").await.attr("href").await.expect("href").expect("a link");
    let new_id = link.rsplit('/').next().expect("an id").to_owned();
    let backups = api.get(&format!("/databases/{id}/backups")).await;
    assert_eq!(backups.data()[0]["label"], "before-change");
    let made = api.get(&format!("/databases/{new_id}")).await;
    assert_eq!(made.data()["name"], target.as_str(), "{}", made.body);
    new_id
}

async fn api_keys(b: &Browser, api: &Api, db: &str) {
    b.route("#/keys").await;
    let label = unique_name("ui-key");
    b.type_in("[data-test=key-label]", &label).await;
    b.click("[data-test=create-key]").await;
    let key = b.text("[data-test=api-key]").await;
    assert!(key.starts_with("brth_"), "the new key is shown once");
    Api::new(Some(&key)).get("/me").await.expect(200);
    let row = format!("tr[data-label='{label}'] [data-test=revoke]");
    b.click(&row).await; // asks again
    b.click(&row).await;
    b.until("the revoked key's row to go", &format!("return !document.querySelector(\"tr[data-label='{label}']\");"))
        .await;
    Api::new(Some(&key)).get("/me").await.expect_error(401, "UNAUTHENTICATED");
    let keys = api.get("/api-keys").await;
    assert!(!keys.body.to_string().contains(&label), "revoked: no longer listed");
    // A key limited to one database, picked on the page.
    let narrow = unique_name("ui-narrow");
    b.type_in("[data-test=key-label]", &narrow).await;
    b.find("[data-test=key-scope]").await.select_by_value("selected").await.expect("scope");
    b.click(&format!("input[type=checkbox][value='{db}']")).await;
    b.find(&format!("select[data-test=key-access][data-db='{db}']")).await.select_by_value("ro").await.expect("access");
    b.click("[data-test=create-key]").await;
    b.find("[data-test=api-key]").await;
    let keys = api.get("/api-keys").await;
    let made =
        keys.data().as_array().expect("keys").iter().find(|k| k["label"] == narrow.as_str()).expect("listed").clone();
    assert_eq!((&made["scope"], &made["database_ids"]), (&json!("selected"), &json!([db])), "{made}");
    assert_eq!(made["databases"], json!([{"id": db, "access": "ro"}]), "{made}");
    b.route("#/account").await;
    b.route("#/keys").await;
    b.find(&format!("tr[data-label='{narrow}']")).await;
    b.screenshot("08-api-keys").await;
}

/// 1,000 databases in the list (served by a stub of `fetch` in the page, since a test account
/// may not hold that many real ones): time to render, and paging stays instant.
async fn thousand_databases(b: &Browser) {
    b.route("#/account").await;
    b.find("[data-test=plan]").await;
    b.eval(STUB_THOUSAND).await;
    b.route("#/databases").await;
    b.until("1,000 databases listed", "return (document.querySelector('[data-test=db-count]')||{}).textContent?.startsWith('1000 databases') === true").await;
    b.until("the render time", "return !!document.querySelector('#main [data-render-ms]');").await;
    let ms: Value = b.eval("return Number(document.querySelector('#main [data-render-ms]').dataset.renderMs);").await;
    let paging: Value = b
        .eval(
            "const t = performance.now(); document.querySelector('.pager button:last-child').click();
             return performance.now() - t;",
        )
        .await;
    eprintln!("dashboard: 1,000 databases fetched and rendered in {ms} ms; next page in {paging} ms");
    assert!(ms.as_f64().is_some_and(|m| m < 1000.0), "list of 1,000 took {ms} ms");
    assert_eq!(b.count("tr[data-test=db-row]").await, 50, "one page of rows in the DOM");
    b.screenshot("13-thousand-databases").await;
}

const STUB_THOUSAND: &str = "
  const real = window.fetch;
  const all = Array.from({ length: 1000 }, (_, i) => ({ id: 'db_stub' + i, name: 'db-' + String(i).padStart(4, '0'),
    engine: 'postgres', state: i % 97 ? 'running' : 'stopped', role: i % 3 ? 'owner' : 'viewer', host: '127.0.0.1',
    port: 6432, size_bytes: 8000000 + i * 1000, created_at: new Date().toISOString() }));
  window.fetch = (url, init) => {
    const u = new URL(url, location.href);
    if (u.pathname !== '/api/v1/databases' || (init && init.method !== 'GET')) return real(url, init);
    const from = Number(u.searchParams.get('cursor') || 0), n = Number(u.searchParams.get('limit') || 50);
    const data = all.slice(from, from + n);
    const next = from + n < all.length ? String(from + n) : null;
    return Promise.resolve(new Response(JSON.stringify({ data, next_cursor: next }), { headers: { 'content-type': 'application/json' } }));
  };
  return true;";
