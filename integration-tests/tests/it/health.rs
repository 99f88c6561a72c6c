use integration_tests::Api;

#[tokio::test]
async fn health_and_readiness_answer_without_credentials() {
    let api = Api::new(None);
    api.get("/healthz").await.expect(200);
    let ready = api.get("/readyz").await;
    ready.expect(200);
    assert_eq!(ready.data()["status"], "ready");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let doc = Api::new(None).get("/api/v1/openapi.json").await;
    doc.expect(200);
    assert!(doc.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc.body["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/api/v1/databases", "post"),
        ("/api/v1/databases", "get"),
        ("/api/v1/databases/{id}", "get"),
        ("/api/v1/databases/{id}", "delete"),
        ("/api/v1/databases/{id}/activity", "get"),
        ("/api/v1/databases/{id}/stop", "post"),
        ("/api/v1/databases/{id}/start", "post"),
        ("/api/v1/databases/{id}/restart", "post"),
        ("/api/v1/databases/{id}/reset-password", "post"),
        ("/api/v1/databases/{id}/credentials", "get"),
        ("/api/v1/databases/{id}/allowlist", "get"),
        ("/api/v1/databases/{id}/allowlist", "post"),
        ("/api/v1/databases/{id}/allowlist/{rule_id}", "delete"),
        ("/api/v1/databases/{id}/users", "get"),
        ("/api/v1/databases/{id}/users", "post"),
        ("/api/v1/databases/{id}/users/{username}", "delete"),
        ("/api/v1/operations/{id}", "get"),
        ("/api/v1/activity", "get"),
        ("/api/v1/admin/incidents", "get"),
        ("/api/v1/admin/incidents/{id}/resolve", "post"),
        ("/api/v1/databases/{id}/metrics", "get"),
        ("/api/v1/databases/{id}/schema", "get"),
        ("/api/v1/databases/{id}/backups", "post"),
        ("/api/v1/databases/{id}/backups", "get"),
        ("/api/v1/databases/{id}/backups/{backup_id}", "get"),
        ("/api/v1/databases/{id}/backups/{backup_id}", "delete"),
        ("/api/v1/databases/{id}/backups/{backup_id}/download", "get"),
        ("/api/v1/databases/{id}/backups/{backup_id}/verify", "post"),
        ("/api/v1/databases/{id}/restore", "post"),
        ("/api/v1/databases/{id}/branch", "post"),
        ("/api/v1/auth/logout", "post"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not documented");
    }
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
}
