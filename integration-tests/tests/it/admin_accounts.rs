//! Platform admins list accounts with their plan, owner and what each holds; nobody else does.

use std::collections::HashSet;

use domain::Plan;
use integration_tests::{app, unique_name, Api};
use serde_json::{json, Value};

fn admin() -> Api {
    Api::new(Some(&app().admin_key))
}

/// The accounts an admin sees for `query` (one page).
async fn page(query: &str) -> (Vec<Value>, Option<String>) {
    let r = admin().get(&format!("/admin/accounts?{query}")).await;
    r.expect(200);
    let next = r.body["next_cursor"].as_str().map(str::to_owned);
    (r.body["data"].as_array().expect("array").clone(), next)
}

#[tokio::test]
async fn an_admin_sees_a_new_account_with_its_plan_and_what_it_holds() {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let user = app().new_user_on(&format!("acc{tag}"), Plan::Pro).await.expect("a user");
    let api = Api::new(Some(&user.key));
    let email = api.email().await;
    let created = api.create_database(&unique_name("acc")).await;
    assert!(matches!(created.status, 201 | 202), "{}", created.body);
    api.create_key(json!({ "label": "second" })).await;
    let keys = api.get("/api-keys").await.data().as_array().expect("keys").len();

    // Substring of the email, in another case.
    let (found, next) = page(&format!("email={}", tag.to_uppercase())).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(next, None);
    let a = &found[0];
    assert_eq!(a["id"], user.account_id.to_string());
    assert_eq!(a["plan"], "pro");
    assert_eq!(a["owner_email"], email.as_str());
    assert_eq!(a["anonymous"], false);
    assert_eq!(a["databases"], 1);
    assert_eq!(a["api_keys"], keys as i64);
    assert!(a["storage_mb"].is_number() && a["created_at"].is_string(), "{a}");

    // The plan filter, before and after an admin changes the plan.
    assert_eq!(page(&format!("email={tag}&plan=pro")).await.0.len(), 1);
    assert!(page(&format!("email={tag}&plan=business")).await.0.is_empty());
    admin().patch(&format!("/admin/accounts/{}", user.account_id), json!({ "plan": "business" })).await.expect(200);
    let (found, _) = page(&format!("email={tag}&plan=business")).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["plan"], "business");
    let (all_business, _) = page("plan=business&limit=20").await;
    assert!(all_business.iter().all(|a| a["plan"] == "business"), "{all_business:?}");
    assert!(page("email=nobody-has-this-address-ever").await.0.is_empty());
}

#[tokio::test]
async fn pages_follow_the_cursor_newest_first_without_gaps_or_repeats() {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(app().new_user_on(&format!("pg{tag}"), Plan::Free).await.expect("a user").account_id.to_string());
    }
    let (first, cursor) = page(&format!("email={tag}&limit=2")).await;
    assert_eq!(first.len(), 2);
    let cursor = cursor.expect("a next page");
    let (second, end) = page(&format!("email={tag}&limit=2&cursor={cursor}")).await;
    assert_eq!(second.len(), 1);
    assert_eq!(end, None, "the last page has no cursor");
    let seen: Vec<String> = first.iter().chain(&second).map(|a| a["id"].as_str().expect("id").to_owned()).collect();
    made.reverse();
    assert_eq!(seen, made, "newest first, each once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 3);
}

#[tokio::test]
async fn an_anonymous_account_is_listed_without_an_owner_email() {
    let anon = Api::from_source(None, "127.0.0.31".parse().expect("address")).post("/auth/anonymous", json!({})).await;
    anon.expect(201);
    let id = anon.data()["account_id"].as_str().expect("id").to_owned();
    let (found, _) = page("limit=200").await;
    let a = found.iter().find(|a| a["id"] == id.as_str()).expect("the new anonymous account is among the newest");
    assert_eq!(a["anonymous"], true);
    assert!(a["owner_email"].is_null(), "{a}");
    assert_eq!(a["databases"], 0);
}

#[tokio::test]
async fn only_full_admin_credentials_list_accounts_and_filters_are_checked() {
    let user = Api::new_user().await;
    user.get("/admin/accounts").await.expect_error(403, "FORBIDDEN");
    Api::new(None).get("/admin/accounts").await.expect_error(401, "UNAUTHENTICATED");
    // An admin's key limited to selected databases is refused as on the other admin routes.
    let db = admin().create_database(&unique_name("adm-sel")).await;
    assert!(matches!(db.status, 201 | 202), "{}", db.body);
    let (_, key) =
        admin().create_key(json!({ "label": "sel", "scope": "selected", "database_ids": [db.data()["id"]] })).await;
    let selected = Api::new(Some(&key));
    selected.get("/admin/accounts").await.expect_error(403, "KEY_SCOPE_DENIED");
    selected.get("/admin/incidents").await.expect_error(403, "KEY_SCOPE_DENIED");
    let resolve = selected.post("/admin/incidents/inc_01J00000000000000000000000/resolve", json!(null)).await;
    resolve.expect_error(403, "KEY_SCOPE_DENIED");
    let patch = selected.patch("/admin/accounts/acct_01J00000000000000000000000", json!({ "plan": "pro" })).await;
    patch.expect_error(403, "KEY_SCOPE_DENIED");
    for bad in [
        "plan=platinum",
        "limit=0",
        "limit=201",
        "cursor=db_01J00000000000000000000000",
        "email=a%00b",
        "email=a%0Ab",
        "sort=id",
    ] {
        admin().get(&format!("/admin/accounts?{bad}")).await.expect_error(400, "INVALID_REQUEST");
    }
}
