//! A `kill -9` of `berth up` in the middle of moving a database to another host: after the
//! restart the move ends (finished, or failed and undone), the database is served from
//! exactly one host, every row committed before the move is there through the connection
//! string its owner had, and the host it is not served from keeps no copy.

use std::path::Path;
use std::time::{Duration, Instant};

use domain::{HostId, TenantHost};
use ops::chaos::node::Node;
use ops::harness::wait::eventually;
use ops::local::{ClusterOptions, LocalHost, LocalHostOptions, PgCluster};
use rand::Rng;
use serde_json::{json, Value};

/// Enough rows that the move takes a few seconds here (its copy is most of it).
const ROWS: i64 = 1_000_000;

struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}/api/v1{path}", self.base)).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }
}

/// Whether host `host`'s cluster has a database named `name`, asked as its superuser with
/// the credential the platform keeps in its vault.
async fn has_database(store: &eventstore::Store, host: &TenantHost, name: &str) -> bool {
    let secret = store.get_secret(&hostctl::host::superuser_secret_id(host.id)).await.expect("the host's credential");
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&host.pg_host)
        .port(host.pg_port)
        .user(&host.superuser)
        .password(secret)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(5));
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.expect("the host's superuser logs in");
    tokio::spawn(conn);
    let n: i64 =
        client.query_one("select count(*) from pg_database where datname = $1", &[&name]).await.expect("asks").get(0);
    n == 1
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_interrupted_by_kill_9_ends_with_one_working_copy() {
    let scratch = ops::local::testing::scratch_dir("move-crash").expect("a dir");
    let data = scratch.join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
    let exe = Path::new(env!("CARGO_BIN_EXE_berth"));
    let (mut node, key) = Node::boot(exe, &data, &format!("127.0.0.1:{port}")).await.expect("berth up");
    let api = Api { http: reqwest::Client::new(), base: node.api.clone(), key: key.expect("an admin key") };
    // The node's control plane, as an operator's tools reach it (its cluster is adopted).
    let cluster = PgCluster::start(&data.join("control"), &ClusterOptions::default()).await.expect("adopted");
    let (_, url) = ops::platform::control_database(&cluster).await.expect("the control database");
    let store = ops::platform::open_store_with_key_file(&url, &data.join("master.key"), 2).await.expect("a store");
    // A second host, run by this test: the kill does not touch it.
    let second = LocalHost::start(&scratch.join("second"), &LocalHostOptions::for_tests()).await.expect("a host");
    let second_id: HostId =
        ops::platform::register_local_host_in(&store, "second", ("default", 10), &second).await.expect("registered");

    let (status, created) =
        api.send(reqwest::Method::POST, "/databases", Some(json!({ "name": "crash-moving" }))).await;
    assert!(status == 201 || status == 202, "{status} {created}");
    let id = created["data"]["id"].as_str().expect("id").to_owned();
    let owner_url = created["data"]["connection_string"].as_str().expect("url").to_owned();
    eventually("the database to run", Duration::from_secs(60), || async {
        let (_, db) = api.send(reqwest::Method::GET, &format!("/databases/{id}"), None).await;
        (db["data"]["state"] == "running").then_some(())
    })
    .await;
    let owner = connect(&owner_url).await.expect("the owner logs in");
    owner
        .batch_execute(&format!(
            "create table t (n bigint primary key, h text);
             insert into t select g, md5(g::text) from generate_series(1, {ROWS}) g;"
        ))
        .await
        .expect("rows to move");
    drop(owner);

    let (status, moving) = api
        .send(
            reqwest::Method::POST,
            &format!("/admin/databases/{id}/move"),
            Some(json!({ "host_id": second_id.to_string() })),
        )
        .await;
    assert_eq!(status, 202, "{moving}");
    let operation = moving["data"]["operation_id"].as_str().expect("an operation").to_owned();
    eventually("the move to start", Duration::from_secs(60), || async {
        let (_, op) = api.send(reqwest::Method::GET, &format!("/operations/{operation}"), None).await;
        (op["data"]["state"] == "running").then_some(())
    })
    .await;
    let after = rand::thread_rng().gen_range(0..800);
    tokio::time::sleep(Duration::from_millis(after)).await;
    node.kill9().await.expect("kill -9");
    let killed = Instant::now();
    node.restart().await.expect("berth up again");

    // The move ends, one way or the other (the stuck-operation reconciler requeues it).
    let op = eventually("the move to end", Duration::from_secs(180), || async {
        let (_, op) = api.send(reqwest::Method::GET, &format!("/operations/{operation}"), None).await;
        let state = op["data"]["state"].as_str().unwrap_or_default().to_owned();
        (state == "succeeded" || state == "failed").then_some(op["data"].clone())
    })
    .await;
    let killed_at = chrono::Utc::now() - chrono::Duration::from_std(killed.elapsed()).unwrap_or_default();
    eprintln!("killed {after} ms into the move, at {killed_at}; {:.1} s later: {op}", killed.elapsed().as_secs_f64());
    // The kill landed in the move, not after it (else this test would prove nothing).
    let finished: chrono::DateTime<chrono::Utc> =
        op["finished_at"].as_str().expect("finished").parse().expect("a time");
    assert!(finished > killed_at, "the move ended before the kill: {op}");
    let hosts = store.hosts().await.expect("hosts");
    let local = hosts.iter().find(|h| h.name == "local").expect("the local host").clone();
    let second_spec = hosts.iter().find(|h| h.id == second_id).expect("the second host").clone();
    let (serving, other) = if op["state"] == "succeeded" { (&second_spec, &local) } else { (&local, &second_spec) };
    eventually("one copy, where the database is served, with every row", Duration::from_secs(60), || async {
        let db = store.database(domain::DatabaseId::parse(&id).expect("an id")).await.map_err(|e| e.to_string())?;
        if db.host_id != serving.id || db.operation_id.is_some() {
            return Err(format!("served by {} with operation {:?}", db.host_id, db.operation_id));
        }
        if has_database(&store, other, "crash-moving").await {
            return Err(format!("a copy is left on {}", other.name));
        }
        let c = connect(&owner_url).await?;
        let row = c.query_one("select count(*), sum(n)::bigint from t", &[]).await.map_err(|e| e.to_string())?;
        let (n, sum): (i64, i64) = (row.get(0), row.get(1));
        if (n, sum) != (ROWS, ROWS * (ROWS + 1) / 2) {
            return Err(format!("{n} rows, sum {sum}"));
        }
        Ok::<_, String>(())
    })
    .await;
    let c = connect(&owner_url).await.expect("the owner's connection string");
    c.execute("insert into t values (0, 'after')", &[]).await.expect("takes writes");
    assert!(has_database(&store, serving, "crash-moving").await);
    node.stop().await.expect("stops");
    second.stop().expect("stops");
}
