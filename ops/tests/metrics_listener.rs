//! `metrics_listen`: metrics on a listener of their own, apart from the API.

#[tokio::test]
async fn metrics_can_be_served_on_a_listener_of_their_own() {
    let addr = ops::metrics::serve_separately(Some("127.0.0.1:0")).expect("binds").expect("an address");
    metrics::counter!("berth_test_separate_listener_total").increment(3);
    let body = reqwest::get(format!("http://{addr}/metrics")).await.expect("answers").text().await.expect("text");
    assert!(body.contains("berth_test_separate_listener_total 3"), "{body}");
    let other = reqwest::get(format!("http://{addr}/api/v1/databases")).await.expect("answers");
    assert_eq!(other.status().as_u16(), 404, "only metrics live there");
}
