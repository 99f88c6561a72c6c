//! The permission table of API.md, enforced on every route: each route × each role ×
//! each kind of credential, against the status and code the table implies. A route added
//! later joins `ROUTES`; the expected outcome is computed from the table, not copied from
//! the implementation.

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
    /// A session credential (logout); an API key is told to use key revocation instead.
    SessionOnly,
}

/// (method, path template, body, needs, status and code when allowed).
/// `{db}` is the target database; allowed requests are built to stop after authorisation
/// with a predictable answer (unknown ids, invalid names), so the matrix changes nothing.
type Route = (&'static str, &'static str, Value, Needs, (u16, &'static str));

fn routes() -> Vec<Route> {
    vec![
        ("GET", "/databases/{db}", json!(null), Needs::View, (200, "")),
        ("GET", "/databases/{db}/activity", json!(null), Needs::View, (200, "")),
        ("GET", "/databases/{db}/collaborators", json!(null), Needs::Manage, (200, "")),
        (
            "POST",
            "/databases/{db}/collaborators",
            json!({"email": "nobody@nowhere.test", "role": "viewer"}),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "PATCH",
            "/databases/{db}/collaborators/usr_01J00000000000000000000000",
            json!({"role": "viewer"}),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        (
            "DELETE",
            "/databases/{db}/collaborators/usr_01J00000000000000000000000",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        ("GET", "/databases/{db}/credentials", json!(null), Needs::Credentials, (200, "")),
        ("POST", "/databases/{db}/start", json!({}), Needs::Manage, (409, "CONFLICT")),
        ("GET", "/databases/{db}/allowlist", json!(null), Needs::Manage, (200, "")),
        ("POST", "/databases/{db}/allowlist", json!({"cidr": "not-a-cidr"}), Needs::Manage, (400, "INVALID_REQUEST")),
        (
            "DELETE",
            "/databases/{db}/allowlist/rule_01J00000000000000000000000",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        ("GET", "/databases/{db}/users", json!(null), Needs::Manage, (200, "")),
        ("GET", "/databases/{db}/metrics", json!(null), Needs::View, (200, "")),
        ("GET", "/databases/{db}/schema", json!(null), Needs::View, (200, "")),
        ("GET", "/admin/incidents", json!(null), Needs::PlatformAdmin, (200, "")),
        ("GET", "/admin/accounts", json!(null), Needs::PlatformAdmin, (200, "")),
        (
            "PATCH",
            "/admin/accounts/acct_01J00000000000000000000000",
            json!({"plan": "pro"}),
            Needs::PlatformAdmin,
            (404, "NOT_FOUND"),
        ),
        ("GET", "/databases/{db}/backups", json!(null), Needs::Credentials, (200, "")),
        (
            "GET",
            "/databases/{db}/backups/bkp_01J00000000000000000000000",
            json!(null),
            Needs::Credentials,
            (404, "NOT_FOUND"),
        ),
        (
            "GET",
            "/databases/{db}/backups/bkp_01J00000000000000000000000/download",
            json!(null),
            Needs::Credentials,
            (404, "NOT_FOUND"),
        ),
        (
            "DELETE",
            "/databases/{db}/backups/bkp_01J00000000000000000000000",
            json!(null),
            Needs::Manage,
            (404, "NOT_FOUND"),
        ),
        ("POST", "/databases/{db}/branch", json!({"name": "X"}), Needs::OwnerOnlyFullAccount, (400, "INVALID_NAME")),
        ("GET", "/databases", json!(null), Needs::AnyAccount, (200, "")),
        ("POST", "/databases", json!({"name": "X"}), Needs::FullAccount, (400, "INVALID_NAME")),
        ("GET", "/activity", json!(null), Needs::AnyAccount, (200, "")),
        ("GET", "/me", json!(null), Needs::AnyAccount, (200, "")),
        ("GET", "/api-keys", json!(null), Needs::FullAccount, (200, "")),
        ("POST", "/api-keys", json!({"label": ""}), Needs::FullAccount, (400, "INVALID_REQUEST")),
        ("POST", "/api-keys/key_01J00000000000000000000000/replace", json!({}), Needs::FullAccount, (404, "NOT_FOUND")),
        ("DELETE", "/api-keys/key_01J00000000000000000000000", json!(null), Needs::FullAccount, (404, "NOT_FOUND")),
        // Last: it ends the session it is called with.
        ("POST", "/auth/logout", json!(null), Needs::SessionOnly, (204, "")),
    ]
}

fn least(needs: Needs) -> Option<Role> {
    match needs {
        Needs::View => Some(Role::Viewer),
        Needs::Credentials => Some(Role::Developer),
        Needs::Manage => Some(Role::Admin),
        Needs::OwnerOnly | Needs::OwnerOnlyFullAccount => Some(Role::Owner),
        Needs::FullAccount | Needs::AnyAccount | Needs::PlatformAdmin | Needs::SessionOnly => None,
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
    if matches!(cred, Cred::Revoked | Cred::ReplacedOld) {
        return (401, "UNAUTHENTICATED");
    }
    let selected = matches!(cred, Cred::SelectedIn | Cred::SelectedOut);
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

async fn actor(role: Role, owner: &Api, target: &str) -> Actor {
    let api = if role == Role::Owner { owner.clone() } else { Api::new_user().await };
    let email = api.email().await;
    if let Some(share) = match role {
        Role::Admin => Some("admin"),
        Role::Developer => Some("developer"),
        Role::Viewer => Some("viewer"),
        _ => None,
    } {
        owner
            .post(&format!("/databases/{target}/collaborators"), json!({"email": email, "role": share}))
            .await
            .expect(201);
    }
    // A database of the actor's own, for the out-of-scope key.
    let own = api.create_database(&unique_name("own")).await;
    let own_id = own.data()["id"].as_str().expect("id").to_owned();
    let session = Api::sign_in(&email, &format!("matrix-{email}")).await;
    let selected_in = if role == Role::Stranger { own_id.clone() } else { target.to_owned() };
    let (_, key_in) = api.create_key(json!({"label": "in", "scope": "selected", "database_ids": [selected_in]})).await;
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
    let mut actors = Vec::new();
    for role in [Role::Owner, Role::Admin, Role::Developer, Role::Viewer, Role::Stranger] {
        actors.push(actor(role, &owner, &db).await);
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, template, body, needs, allowed) in routes() {
        let path = template.replace("{db}", &db);
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
        let a = actor(role, &owner, &id).await;
        for (cred, api) in &a.creds {
            let want = expected(Needs::OwnerOnly, role, *cred, (202, ""));
            let r = api.delete(&format!("/databases/{id}")).await;
            assert_eq!((r.status, r.code()), want, "{role:?} {cred:?}: {}", r.body);
        }
    }
    let (_, key_in) = owner.create_key(json!({"label": "in", "scope": "selected", "database_ids": [id]})).await;
    Api::new(Some(&key_in)).delete(&format!("/databases/{id}")).await.expect(202);
}
