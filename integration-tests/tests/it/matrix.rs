//! The permission table of API.md, enforced on every route: each route × each role ×
//! each kind of credential, against the status and code the table implies. The routes are
//! the API's route table (`api::openapi::route_table`): a route without a row here fails
//! the test, by name, and so does a row for a route that is gone. The expected outcome is
//! computed from the table, not copied from the implementation.

use integration_tests::{unique_name, Api};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Owner,
    Admin,
    Developer,
    Viewer,
    Stranger,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cred {
    Session,
    FullKey,
    SelectedIn,
    /// A selected key with `ro` access to the targets: at most developer there.
    SelectedRo,
    SelectedOut,
    Revoked,
    ReplacedOld,
}

/// Which row of the permission table a route needs, or an account-level rule.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Needs {
    View,
    Credentials,
    Manage,
    OwnerOnly,
    /// The caller's own account; selected keys refused.
    FullAccount,
    /// The caller's own account; any valid credential.
    AnyAccount,
    /// Owner only, and a new database of the account: selected keys refused.
    OwnerOnlyFullAccount,
    /// Platform administrators only (every actor here is a plain user).
    PlatformAdmin,
    /// A session credential (logout, claim); an API key is refused.
    SessionOnly,
    /// Unauthenticated (API.md's list): the credential sent, even a dead one, is not looked
    /// at, so the answer is the same for every role and credential.
    Public,
}

/// (method, path template as the route table has it, the request's path, body, needs,
/// status and code when allowed). In paths, `{db}` is the target database (running),
/// `{stopped}` a stopped one shared alike, `{backup}` a succeeded backup of the target.
/// Allowed requests are built to stop after authorisation with a predictable answer
/// (unknown ids, invalid names, a state that refuses), so the matrix changes nothing but
/// the stopped database's password.
type Route = (&'static str, &'static str, &'static str, Value, Needs, (u16, &'static str));

fn routes() -> Vec<Route> {
    vec![
        ("GET", "/healthz", "/healthz", json!(null), Needs::Public, (200, "")),
        ("GET", "/readyz", "/readyz", json!(null), Needs::Public, (200, "")),
        ("GET", "/api/v1/openapi.json", "/openapi.json", json!(null), Needs::Public, (200, "")),
        ("GET", "/api/v1/ca.pem", "/ca.pem", json!(null), Needs::Public, (200, "")),
        ("GET", "/api/v1/auth/methods", "/auth/methods", json!(null), Needs::Public, (200, "")),
        (
            "POST",
            "/api/v1/auth/session",
            "/auth/session",
            json!({"id_token": "not-a-jwt"}),
            Needs::Public,
            (401, "UNAUTHENTICATED"),
        ),
        (
            "POST",
            "/api/v1/auth/anonymous/refresh",
            "/auth/anonymous/refresh",
            json!({"account_id": "acct_01J00000000000000000000000", "anonymous_secret": "wrong"}),
            Needs::Public,
            (401, "UNAUTHENTICATED"),
        ),
        (
            "POST",
            "/api/v1/auth/cookie",
            "/auth/cookie",
            json!({"api_key": "brth_nonexist_wrong"}),
            Needs::Public,
            (401, "UNAUTHENTICATED"),
        ),
        ("GET", "/api/v1/databases/{id}", "/databases/{db}", json!(null), Needs::View, (200, "")),
        ("GET", "/api/v1/databases/{id}/activity", "/databases/{db}/activity", json!(null), Needs::View, (200, "")),
        (
            "GET",
            "/api/v1/databases/{id}/collaborators",
            "/databases/{db}/collaborators",
            json!(null),
            Needs::Manage,
            (200, ""),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/collaborators",
            "/databases/{db}/collaborators",
            json!({"email": "nobody@nowhere.test", "role": "viewer"}),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "PATCH",
            "/api/v1/databases/{id}/collaborators/{user_id}",
            "/databases/{db}/collaborators/usr_01J00000000000000000000000",
            json!({"role": "viewer"}),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "DELETE",
            "/api/v1/databases/{id}/collaborators/{user_id}",
            "/databases/{db}/collaborators/usr_01J00000000000000000000000",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/credentials",
            "/databases/{db}/credentials",
            json!(null),
            Needs::Credentials,
            (200, ""),
        ),
        ("POST", "/api/v1/databases/{id}/start", "/databases/{db}/start", json!({}), Needs::Manage, (409, "CONFLICT")),
        (
            "POST",
            "/api/v1/databases/{id}/stop",
            "/databases/{stopped}/stop",
            json!({}),
            Needs::Manage,
            (409, "CONFLICT"),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/restart",
            "/databases/{stopped}/restart",
            json!({}),
            Needs::Manage,
            (409, "CONFLICT"),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/reset-password",
            "/databases/{stopped}/reset-password",
            json!({}),
            Needs::Manage,
            // Allowed, it resets: the stopped database's password, which nothing here uses.
            (200, ""),
        ),
        ("GET", "/api/v1/databases/{id}/allowlist", "/databases/{db}/allowlist", json!(null), Needs::Manage, (200, "")),
        (
            "POST",
            "/api/v1/databases/{id}/allowlist",
            "/databases/{db}/allowlist",
            json!({"cidr": "not-a-cidr"}),
            Needs::Manage,
            (400, "INVALID_REQUEST"),
        ),
        (
            "DELETE",
            "/api/v1/databases/{id}/allowlist/{rule_id}",
            "/databases/{db}/allowlist/rule_01J00000000000000000000000",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        ("GET", "/api/v1/databases/{id}/users", "/databases/{db}/users", json!(null), Needs::Manage, (200, "")),
        (
            "POST",
            "/api/v1/databases/{id}/users",
            "/databases/{db}/users",
            json!({"username": "X"}),
            Needs::Manage,
            (400, "INVALID_NAME"),
        ),
        (
            "DELETE",
            "/api/v1/databases/{id}/users/{username}",
            "/databases/{db}/users/nobody_here",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        ("GET", "/api/v1/databases/{id}/metrics", "/databases/{db}/metrics", json!(null), Needs::View, (200, "")),
        ("GET", "/api/v1/databases/{id}/schema", "/databases/{db}/schema", json!(null), Needs::View, (200, "")),
        (
            "GET",
            "/api/v1/databases/{id}/observability",
            "/databases/{db}/observability",
            json!(null),
            Needs::View,
            (200, ""),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/sql",
            "/databases/{db}/sql",
            json!({"query": " "}),
            Needs::Credentials,
            (400, "INVALID_REQUEST"),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/queries",
            "/databases/{db}/queries",
            json!(null),
            Needs::Credentials,
            (200, ""),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/approval-settings",
            "/databases/{db}/approval-settings",
            json!(null),
            Needs::Manage,
            (200, ""),
        ),
        (
            "PUT",
            "/api/v1/databases/{id}/approval-settings",
            "/databases/{db}/approval-settings",
            json!({"ttl_seconds": 1}),
            Needs::OwnerOnly,
            (400, "INVALID_REQUEST"),
        ),
        ("GET", "/api/v1/databases/{id}/approvals", "/databases/{db}/approvals", json!(null), Needs::Manage, (200, "")),
        (
            "POST",
            "/api/v1/databases/{id}/publishable-keys",
            "/databases/{db}/publishable-keys",
            json!({"expires_in_days": 0}),
            Needs::Manage,
            (400, "INVALID_REQUEST"),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/publishable-keys",
            "/databases/{db}/publishable-keys",
            json!(null),
            Needs::Manage,
            (200, ""),
        ),
        (
            "DELETE",
            "/api/v1/databases/{id}/publishable-keys/{key_id}",
            "/databases/{db}/publishable-keys/dkey_01J00000000000000000000000",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/service-keys",
            "/databases/{db}/service-keys",
            json!({"expires_in_days": 0}),
            Needs::Manage,
            (400, "INVALID_REQUEST"),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/service-keys",
            "/databases/{db}/service-keys",
            json!(null),
            Needs::Manage,
            (200, ""),
        ),
        (
            "DELETE",
            "/api/v1/databases/{id}/service-keys/{key_id}",
            "/databases/{db}/service-keys/dkey_01J00000000000000000000000",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/auth-config",
            "/databases/{db}/auth-config",
            json!(null),
            Needs::Manage,
            // Allowed, and the matrix never sets one.
            (404, "NOT_FOUND"),
        ),
        (
            "PUT",
            "/api/v1/databases/{id}/auth-config",
            "/databases/{db}/auth-config",
            json!({"auth_mode": "magic", "byo_jwt": {"jwks_url": "https://idp.test/jwks", "issuer": "i", "audience": "a"}}),
            Needs::Manage,
            (400, "INVALID_REQUEST"),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/approvals/{approval_id}/approve",
            "/databases/{db}/approvals/apr_01J00000000000000000000000/approve",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/approvals/{approval_id}/reject",
            "/databases/{db}/approvals/apr_01J00000000000000000000000/reject",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/migrations",
            "/databases/{db}/migrations",
            json!(null),
            Needs::Credentials,
            (200, ""),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/migrations",
            "/databases/{db}/migrations",
            json!({"name": "", "sql": "select 1"}),
            Needs::Manage,
            (400, "INVALID_REQUEST"),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/dump",
            "/databases/{stopped}/dump",
            json!({}),
            Needs::Manage,
            (409, "CONFLICT"),
        ),
        ("GET", "/api/v1/admin/incidents", "/admin/incidents", json!(null), Needs::PlatformAdmin, (200, "")),
        (
            "POST",
            "/api/v1/admin/incidents/{id}/resolve",
            "/admin/incidents/inc_01J00000000000000000000000/resolve",
            json!(null),
            Needs::PlatformAdmin,
            (404, "NOT_FOUND"),
        ),
        ("GET", "/api/v1/admin/accounts", "/admin/accounts", json!(null), Needs::PlatformAdmin, (200, "")),
        ("GET", "/api/v1/admin/hosts", "/admin/hosts", json!(null), Needs::PlatformAdmin, (200, "")),
        (
            "POST",
            "/api/v1/admin/hosts/{id}/cordon",
            "/admin/hosts/host_01J00000000000000000000000/cordon",
            json!(null),
            Needs::PlatformAdmin,
            (404, "NOT_FOUND"),
        ),
        (
            "POST",
            "/api/v1/admin/hosts/{id}/uncordon",
            "/admin/hosts/host_01J00000000000000000000000/uncordon",
            json!(null),
            Needs::PlatformAdmin,
            (404, "NOT_FOUND"),
        ),
        (
            "POST",
            "/api/v1/admin/hosts/{id}/drain",
            "/admin/hosts/host_01J00000000000000000000000/drain",
            json!(null),
            Needs::PlatformAdmin,
            (404, "NOT_FOUND"),
        ),
        (
            "DELETE",
            "/api/v1/admin/hosts/{id}",
            "/admin/hosts/host_01J00000000000000000000000",
            json!(null),
            Needs::PlatformAdmin,
            (404, "NOT_FOUND"),
        ),
        (
            "POST",
            "/api/v1/admin/databases/{id}/move",
            "/admin/databases/{db}/move",
            json!({"host_id": "host_01J00000000000000000000000"}),
            Needs::PlatformAdmin,
            (404, "NOT_FOUND"),
        ),
        (
            "PATCH",
            "/api/v1/admin/accounts/{id}",
            "/admin/accounts/acct_01J00000000000000000000000",
            json!({"plan": "pro"}),
            Needs::PlatformAdmin,
            (404, "NOT_FOUND"),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/backups",
            "/databases/{db}/backups",
            json!(null),
            Needs::Credentials,
            (200, ""),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/backups",
            "/databases/{db}/backups",
            json!({"label": "x".repeat(201)}),
            Needs::Credentials,
            (400, "INVALID_REQUEST"),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/backups/{backup_id}",
            "/databases/{db}/backups/bkp_01J00000000000000000000000",
            json!(null),
            Needs::Credentials,
            (404, "NOT_FOUND"),
        ),
        (
            "GET",
            "/api/v1/databases/{id}/backups/{backup_id}/download",
            "/databases/{db}/backups/bkp_01J00000000000000000000000/download",
            json!(null),
            Needs::Credentials,
            (404, "NOT_FOUND"),
        ),
        (
            "DELETE",
            "/api/v1/databases/{id}/backups/{backup_id}",
            "/databases/{db}/backups/bkp_01J00000000000000000000000",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/backups/{backup_id}/verify",
            "/databases/{db}/backups/bkp_01J00000000000000000000000/verify",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/restore",
            "/databases/{db}/restore",
            json!({"backup_id": "{backup}", "target_name": "X"}),
            Needs::OwnerOnlyFullAccount,
            (400, "INVALID_NAME"),
        ),
        (
            "POST",
            "/api/v1/databases/{id}/branch",
            "/databases/{db}/branch",
            json!({"name": "X"}),
            Needs::OwnerOnlyFullAccount,
            (400, "INVALID_NAME"),
        ),
        ("GET", "/api/v1/databases", "/databases", json!(null), Needs::AnyAccount, (200, "")),
        ("POST", "/api/v1/databases", "/databases", json!({"name": "X"}), Needs::FullAccount, (400, "INVALID_NAME")),
        (
            "GET",
            "/api/v1/operations/{id}",
            "/operations/op_01J00000000000000000000000",
            json!(null),
            Needs::AnyAccount,
            (404, "NOT_FOUND"),
        ),
        ("GET", "/api/v1/activity", "/activity", json!(null), Needs::AnyAccount, (200, "")),
        ("GET", "/api/v1/me", "/me", json!(null), Needs::AnyAccount, (200, "")),
        ("GET", "/api/v1/api-keys", "/api-keys", json!(null), Needs::FullAccount, (200, "")),
        ("POST", "/api/v1/api-keys", "/api-keys", json!({"label": ""}), Needs::FullAccount, (400, "INVALID_REQUEST")),
        (
            "POST",
            "/api/v1/api-keys/{id}/replace",
            "/api-keys/key_01J00000000000000000000000/replace",
            json!({}),
            Needs::FullAccount,
            (404, "NOT_FOUND"),
        ),
        (
            "DELETE",
            "/api/v1/api-keys/{id}",
            "/api-keys/key_01J00000000000000000000000",
            json!(null),
            Needs::FullAccount,
            (404, "NOT_FOUND"),
        ),
        (
            "POST",
            "/api/v1/auth/claim",
            "/auth/claim",
            json!({"account_id": "acct_01J00000000000000000000000", "anonymous_secret": "wrong"}),
            Needs::SessionOnly,
            (401, "UNAUTHENTICATED"),
        ),
        // Last: it ends the session it is called with.
        ("POST", "/api/v1/auth/logout", "/auth/logout", json!(null), Needs::SessionOnly, (204, "")),
    ]
}

/// Routes of the table whose matrix row runs in a test of its own, and why: (method, path
/// template, the test). Their expected answers come from the same [`expected`].
const ELSEWHERE: [(&str, &str, &str); 2] = [
    // Allowed, it ends the target.
    ("DELETE", "/api/v1/databases/{id}", "matrix::only_the_owner_deletes_whatever_the_credential"),
    // Public; every call signs an account up, and sign-ups are capped per client address
    // (fixtures::limits): one sign-up per role and credential would spend the cap.
    ("POST", "/api/v1/auth/anonymous", "matrix::anonymous_sign_up_takes_no_credential"),
];

/// Whether `path` (with placeholders) fits `template`: the same segments, a `{…}` of the
/// template standing for any one.
fn fits(template: &str, path: &str) -> bool {
    let path = if path.starts_with("/healthz") || path.starts_with("/readyz") {
        path.to_owned()
    } else {
        format!("/api/v1{path}")
    };
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t == p || t.starts_with('{'))
}

#[test]
fn every_route_of_the_table_has_a_row_and_every_row_a_route() {
    let table: Vec<(String, String)> = api::openapi::route_table();
    assert!(table.len() > 40, "the route table: {table:?}");
    let rows: Vec<(String, String)> = routes()
        .iter()
        .map(|r| (r.0, r.1))
        .chain(ELSEWHERE.iter().map(|e| (e.0, e.1)))
        .map(|(m, t)| (m.to_owned(), t.to_owned()))
        .collect();
    let missing: Vec<String> = table.iter().filter(|r| !rows.contains(r)).map(|(m, t)| format!("{m} {t}")).collect();
    assert!(missing.is_empty(), "routes without a row in the permission matrix:\n{}", missing.join("\n"));
    let stale: Vec<String> = rows.iter().filter(|r| !table.contains(r)).map(|(m, t)| format!("{m} {t}")).collect();
    assert!(stale.is_empty(), "rows of the permission matrix for no route:\n{}", stale.join("\n"));
    let mut seen = rows.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), rows.len(), "a route has two rows");
    for (method, template, path, ..) in routes() {
        assert!(fits(template, path), "{method} {template}: the request goes to {path}");
    }
}

fn least(needs: Needs) -> Option<Role> {
    match needs {
        Needs::View => Some(Role::Viewer),
        Needs::Credentials => Some(Role::Developer),
        Needs::Manage => Some(Role::Admin),
        Needs::OwnerOnly | Needs::OwnerOnlyFullAccount => Some(Role::Owner),
        Needs::FullAccount | Needs::AnyAccount | Needs::PlatformAdmin | Needs::SessionOnly | Needs::Public => None,
    }
}

fn rank(r: Role) -> u8 {
    match r {
        Role::Owner => 4,
        Role::Admin => 3,
        Role::Developer => 2,
        Role::Viewer => 1,
        Role::Stranger => 0,
    }
}

/// What API.md says should happen.
fn expected(needs: Needs, role: Role, cred: Cred, allowed: (u16, &'static str)) -> (u16, &'static str) {
    if needs == Needs::Public {
        return allowed;
    }
    if matches!(cred, Cred::Revoked | Cred::ReplacedOld) {
        return (401, "UNAUTHENTICATED");
    }
    let selected = matches!(cred, Cred::SelectedIn | Cred::SelectedRo | Cred::SelectedOut);
    // An `ro` key gets only the read rows of its maker's role: at most developer.
    let role = if cred == Cred::SelectedRo && rank(role) > rank(Role::Developer) { Role::Developer } else { role };
    match least(needs) {
        None => {
            // Not a platform admin; a key where only a session may (logout).
            if needs == Needs::PlatformAdmin || (needs == Needs::SessionOnly && cred != Cred::Session) {
                (403, "FORBIDDEN")
            } else if needs == Needs::FullAccount && selected {
                (403, "KEY_SCOPE_DENIED")
            } else {
                allowed
            }
        }
        Some(min) => {
            if role == Role::Stranger || cred == Cred::SelectedOut {
                (404, "DATABASE_NOT_FOUND")
            } else if rank(role) < rank(min) {
                (403, "FORBIDDEN")
            } else if needs == Needs::OwnerOnlyFullAccount && selected {
                (403, "KEY_SCOPE_DENIED")
            } else {
                allowed
            }
        }
    }
}

struct Actor {
    role: Role,
    creds: Vec<(Cred, Api)>,
}

/// An actor with `role` on each of `targets` (databases of `owner`).
async fn actor(role: Role, owner: &Api, targets: &[&str]) -> Actor {
    let api = if role == Role::Owner { owner.clone() } else { Api::new_user().await };
    let email = api.email().await;
    if let Some(share) = match role {
        Role::Admin => Some("admin"),
        Role::Developer => Some("developer"),
        Role::Viewer => Some("viewer"),
        _ => None,
    } {
        for target in targets {
            owner
                .post(&format!("/databases/{target}/collaborators"), json!({"email": email, "role": share}))
                .await
                .expect(201);
        }
    }
    // A database of the actor's own, for the out-of-scope key.
    let own = api.create_database(&unique_name("own")).await;
    let own_id = own.data()["id"].as_str().expect("id").to_owned();
    let session = Api::sign_in(&email, &format!("matrix-{email}")).await;
    let selected_in: Vec<String> =
        if role == Role::Stranger { vec![own_id.clone()] } else { targets.iter().map(|t| (*t).to_owned()).collect() };
    let (_, key_in) = api.create_key(json!({"label": "in", "scope": "selected", "database_ids": selected_in})).await;
    let ro: Vec<Value> = selected_in.iter().map(|id| json!({"id": id, "access": "ro"})).collect();
    let (_, key_ro) = api.create_key(json!({"label": "ro", "scope": "selected", "databases": ro})).await;
    let (_, key_out) = api.create_key(json!({"label": "out", "scope": "selected", "database_ids": [own_id]})).await;
    let (revoked_id, revoked) = api.create_key(json!({"label": "revoked"})).await;
    api.delete(&format!("/api-keys/{revoked_id}")).await.expect(204);
    let (replaced_id, old) = api.create_key(json!({"label": "replaced"})).await;
    api.post(&format!("/api-keys/{replaced_id}/replace"), json!({})).await.expect(200);
    Actor {
        role,
        creds: vec![
            (Cred::Session, session),
            (Cred::FullKey, api),
            (Cred::SelectedIn, Api::new(Some(&key_in))),
            (Cred::SelectedRo, Api::new(Some(&key_ro))),
            (Cred::SelectedOut, Api::new(Some(&key_out))),
            (Cred::Revoked, Api::new(Some(&revoked))),
            (Cred::ReplacedOld, Api::new(Some(&old))),
        ],
    }
}

#[tokio::test]
async fn every_route_answers_every_role_and_credential_as_the_permission_table_says() {
    let owner = Api::new_user().await;
    let target = owner.create_running(&unique_name("matrix")).await;
    let db = target["id"].as_str().expect("id").to_owned();
    let stopped = owner.create_running(&unique_name("matrix-stopped")).await;
    let stopped = stopped["id"].as_str().expect("id").to_owned();
    owner.lifecycle(&stopped, "stop").await;
    let r = owner.post(&format!("/databases/{db}/backups"), json!({})).await;
    r.expect(202);
    let backup = r.data()["id"].as_str().expect("backup id").to_owned();
    integration_tests::eventually("the backup to succeed", std::time::Duration::from_secs(120), || async {
        let r = owner.get(&format!("/databases/{db}/backups/{backup}")).await;
        assert_ne!(r.data()["state"], "failed", "{}", r.body);
        (r.data()["state"] == "succeeded").then_some(())
    })
    .await;
    let mut actors = Vec::new();
    for role in [Role::Owner, Role::Admin, Role::Developer, Role::Viewer, Role::Stranger] {
        actors.push(actor(role, &owner, &[&db, &stopped]).await);
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, template, path, body, needs, allowed) in routes() {
        let path = path.replace("{db}", &db).replace("{stopped}", &stopped);
        let body: Value = serde_json::from_str(&body.to_string().replace("{backup}", &backup)).expect("JSON");
        for a in &actors {
            for (cred, api) in &a.creds {
                // A stranger's "in scope" key selects its own database; the target stays
                // invisible to them like any other foreign database.
                let want = expected(needs, a.role, *cred, allowed);
                let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                let body = (!body.is_null()).then(|| body.to_string().into());
                let r = api.send(method.clone(), &path, body).await;
                checked += 1;
                if (r.status, r.code()) != want {
                    failures.push(format!(
                        "{method} {template} as {:?} with {cred:?}: got {} {}, want {want:?}",
                        a.role,
                        r.status,
                        r.code()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cells differ:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn only_the_owner_deletes_whatever_the_credential() {
    let owner = Api::new_user().await;
    let db = owner.create_running(&unique_name("del-matrix")).await;
    let id = db["id"].as_str().expect("id").to_owned();
    for role in [Role::Admin, Role::Developer, Role::Viewer] {
        let a = actor(role, &owner, &[&id]).await;
        for (cred, api) in &a.creds {
            let want = expected(Needs::OwnerOnly, role, *cred, (202, ""));
            let r = api.delete(&format!("/databases/{id}")).await;
            assert_eq!((r.status, r.code()), want, "{role:?} {cred:?}: {}", r.body);
        }
    }
    let (_, key_in) = owner.create_key(json!({"label": "in", "scope": "selected", "database_ids": [id]})).await;
    Api::new(Some(&key_in)).delete(&format!("/databases/{id}")).await.expect(202);
}

#[tokio::test]
async fn anonymous_sign_up_takes_no_credential() {
    // An address of its own: sign-ups are capped per client address.
    let source: std::net::IpAddr = "127.0.0.23".parse().expect("an address");
    let owner = Api::new_user().await;
    let own = owner.create_database(&unique_name("anon-matrix")).await;
    let id = own.data()["id"].as_str().expect("id").to_owned();
    let a = actor(Role::Owner, &owner, &[&id]).await;
    for (cred, api) in &a.creds {
        let want = expected(Needs::Public, a.role, *cred, (201, ""));
        let r = Api::from_source(api.key.as_deref(), source).post("/auth/anonymous", json!({})).await;
        assert_eq!((r.status, r.code()), want, "{cred:?}: {}", r.body);
    }
}
