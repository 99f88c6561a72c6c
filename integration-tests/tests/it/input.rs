//! Bad input gets API.md's error code and creates nothing.

use integration_tests::{host_objects, unique_name, Api};
use serde_json::json;

async fn nothing_created(api: &Api) {
    let list = api.get("/databases").await;
    list.expect(200);
    assert!(list.body["data"].as_array().expect("array").is_empty(), "something was created: {}", list.body);
}

#[tokio::test]
async fn names_outside_the_grammar_or_reserved_are_invalid_names() {
    let api = Api::new_user().await;
    let long = "a".repeat(64);
    let bad = [
        "ab",
        long.as_str(),
        "1shop",
        "-shop",
        "Shop",
        "sh_op",
        "shop!",
        "sh op",
        "shop'",
        "shop\"",
        "x\"; drop database postgres; --",
        "robert'); drop table students;--",
        "caf\u{e9}",
        "",
        "postgres",
        "template0",
        "template1",
        "pgbouncer",
        "berth",
        "berth-control",
    ];
    for name in bad {
        let r = api.create_database(name).await;
        r.expect_error(400, "INVALID_NAME");
        // Names that exist on the host by design (postgres, berth, template*) are left alone;
        // every other bad name must have created nothing there.
        if !["postgres", "berth", "template0", "template1"].contains(&name) {
            assert_eq!(host_objects(name).await, (0, 0), "{name:?} reached the host");
        }
    }
    nothing_created(&api).await;
}

#[tokio::test]
async fn malformed_bodies_are_invalid_requests_naming_the_field() {
    let api = Api::new_user().await;
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown field", json!({"name": unique_name("x"), "colour": "red"}).to_string(), "colour"),
        ("wrong type", json!({"name": 42}).to_string(), "name"),
        ("missing name", json!({}).to_string(), "name"),
        ("engine wrong type", json!({"name": unique_name("x"), "engine": 5}).to_string(), "engine"),
        ("not an object", "[1,2]".to_string(), ""),
        ("not json", "name=shop".to_string(), "JSON"),
        ("truncated", "{\"name\": \"sh".to_string(), "JSON"),
        ("empty", String::new(), "empty"),
        ("null", "null".to_string(), ""),
    ];
    for (what, body, mentions) in cases {
        let r = api.post_raw("/databases", body).await;
        r.expect_error(400, "INVALID_REQUEST");
        let msg = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(mentions), "{what}: message should mention {mentions:?}: {msg}");
    }
    nothing_created(&api).await;
}

#[tokio::test]
async fn an_unknown_engine_is_disabled() {
    let api = Api::new_user().await;
    // MongoDB because no server can be installed here (README, "Engines").
    for (engine, says) in [("mysql", "engines: postgres"), ("mongodb", "no MongoDB server")] {
        let r = api.post("/databases", json!({"name": unique_name("eng"), "engine": engine})).await;
        r.expect_error(400, "ENGINE_DISABLED");
        let msg = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{engine}: {msg}");
    }
    nothing_created(&api).await;
}

/// A deployment enables MariaDB by registering a MariaDB host (`berth up` does when its
/// configuration asks): an API over a control plane with none answers `ENGINE_DISABLED`.
#[tokio::test]
async fn mariadb_is_disabled_where_no_mariadb_host_is_registered() {
    let (store, _) = integration_tests::fresh_control_store("nomaria").await;
    let user =
        ops::accounts::bootstrap_user(&store, "solo@berth.test", domain::PlatformRole::User).await.expect("a user");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let config = api::ApiConfig { workers: 1, ..api::ApiConfig::default() };
    tokio::spawn(api::server(store, config, listener).await.expect("an API"));
    let api = Api::new(Some(&user.key)).at(&base);
    let r = api.post("/databases", json!({"name": unique_name("eng"), "engine": "mariadb"})).await;
    r.expect_error(400, "ENGINE_DISABLED");
    let msg = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("'mariadb'"), "{msg}");
    nothing_created(&api).await;
}

#[tokio::test]
async fn a_huge_body_is_refused_with_413() {
    let api = Api::new_user().await;
    // 6 MB: more than the socket buffers hold, so the client is still sending when the
    // answer is ready; it gets the 413, not a broken pipe (the server reads the rest first).
    let huge = format!("{{\"name\": \"{}\"}}", "a".repeat(6 << 20));
    api.post_raw("/databases", huge).await.expect_error(413, "PAYLOAD_TOO_LARGE");
    // Also when the client streams it without a length up front.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..96).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    api.post_raw("/databases", body).await.expect_error(413, "PAYLOAD_TOO_LARGE");
    nothing_created(&api).await;
}

/// A client still sending an oversized body when the 413 is ready must get to read it. A
/// server that answered and closed at once made the client's next write reset the
/// connection, and the reset threw away the unread answer (seen once in a full run as a
/// "broken pipe" instead of the 413). Here the client pauses mid-body so the answer is
/// surely ready first, then sends the rest.
#[tokio::test]
async fn a_client_still_sending_an_oversized_body_reads_the_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = Api::new_user().await;
    let key = api.key.clone().expect("a key");
    let addr = api.base.trim_start_matches("http://").to_owned();
    let body = vec![b' '; 6 << 20];
    let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connects");
    let head = format!(
        "POST /api/v1/databases HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.expect("sends the head");
    conn.write_all(&body[..64 * 1024]).await.expect("sends the start");
    // The stall is the scenario, not a wait for a condition: the server reads (drains) the
    // rest before it answers, so nothing reaches the client that says it has decided.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    conn.write_all(&body[64 * 1024..]).await.expect("the server still reads the body");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = conn.read(&mut buf).await {
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("PAYLOAD_TOO_LARGE"), "{text}");
    nothing_created(&api).await;
}

#[tokio::test]
async fn two_concurrent_creates_of_one_name_one_wins_the_other_conflicts() {
    let (a, b) = (Api::new_user().await, Api::new_user().await);
    let name = unique_name("race");
    let (ra, rb) = tokio::join!(a.create_database(&name), b.create_database(&name));
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert!(statuses == [201, 409] || statuses == [202, 409], "{ra:?} {rb:?}");
    let loser = if ra.status == 409 { &ra } else { &rb };
    loser.expect_error(409, "CONFLICT");
    // Exactly one database exists, on the host too, once it is provisioned.
    let winner = if ra.status == 409 { &b } else { &a };
    let id = if ra.status == 409 { rb.data()["id"].clone() } else { ra.data()["id"].clone() };
    winner.wait_state(id.as_str().expect("id"), "running").await;
    assert_eq!(host_objects(&name).await, (1, 1));
    // A later create of the same name conflicts too.
    a.create_database(&name).await.expect_error(409, "CONFLICT");
}

#[tokio::test]
async fn unknown_routes_and_bad_ids_use_the_envelope() {
    let api = Api::new_user().await;
    api.get("/nope").await.expect_error(404, "NOT_FOUND");
    api.get("/databases/not-an-id").await.expect_error(404, "DATABASE_NOT_FOUND");
    api.get("/databases/key_01J00000000000000000000000").await.expect_error(404, "DATABASE_NOT_FOUND");
    api.get("/activity?since=yesterday").await.expect_error(400, "INVALID_REQUEST");
}
