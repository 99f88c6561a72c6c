//! Sharing a database: a collaborator gets exactly their role.

use integration_tests::{unique_name, Api};
use serde_json::json;

#[tokio::test]
async fn sharing_gives_a_collaborator_exactly_their_role() {
    let owner = Api::new_user().await;
    let friend = Api::new_user().await;
    let db = owner.create_running(&unique_name("shared")).await;
    let id = db["id"].as_str().expect("id");
    friend.get(&format!("/databases/{id}")).await.expect_error(404, "DATABASE_NOT_FOUND");

    let email = friend.email().await;
    let r = owner.post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": "viewer" })).await;
    r.expect(201);
    let user_id = r.data()["user_id"].as_str().expect("user id").to_owned();
    assert_eq!(r.data()["role"], "viewer");
    owner
        .post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": "admin" }))
        .await
        .expect_error(409, "CONFLICT");
    owner
        .post(&format!("/databases/{id}/collaborators"), json!({ "email": "nobody@berth.test", "role": "viewer" }))
        .await
        .expect_error(404, "NOT_FOUND");
    owner
        .post(&format!("/databases/{id}/collaborators"), json!({ "email": email, "role": "owner" }))
        .await
        .expect_error(400, "INVALID_REQUEST");

    let listed = friend.get("/databases").await;
    let entry = listed.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["id"] == id)
        .cloned()
        .expect("shared db listed");
    assert_eq!(entry["role"], "viewer");
    friend.get(&format!("/databases/{id}")).await.expect(200);
    friend.delete(&format!("/databases/{id}")).await.expect_error(403, "FORBIDDEN");
    friend.get(&format!("/databases/{id}/collaborators")).await.expect_error(403, "FORBIDDEN");

    owner.patch(&format!("/databases/{id}/collaborators/{user_id}"), json!({ "role": "admin" })).await.expect(200);
    let collabs = friend.get(&format!("/databases/{id}/collaborators")).await;
    collabs.expect(200);
    assert_eq!(collabs.body["data"][0]["email"], email.as_str());
    friend.delete(&format!("/databases/{id}")).await.expect_error(403, "FORBIDDEN");

    owner.delete(&format!("/databases/{id}/collaborators/{user_id}")).await.expect(204);
    friend.get(&format!("/databases/{id}")).await.expect_error(404, "DATABASE_NOT_FOUND");
    owner.delete(&format!("/databases/{id}/collaborators/{user_id}")).await.expect_error(404, "NOT_FOUND");

    let listing = owner
        .wait_activity(&format!("/activity?database_id={id}"), |e| integration_tests::has_action(e, "database.unshare"))
        .await;
    let actions: Vec<String> = listing.body["data"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|a| a["action"].as_str().map(str::to_owned))
        .collect();
    assert!(actions.iter().filter(|a| *a == "database.share").count() >= 2, "{actions:?}");
    assert!(actions.contains(&"database.unshare".to_owned()), "{actions:?}");
}
