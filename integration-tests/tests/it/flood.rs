//! An unauthenticated flood of PgBouncer (issue 21, hole 7). Anyone who reaches its port can
//! open sockets and send nothing; each holds one of PgBouncer's client slots
//! (`max_client_conn`, global) until `client_login_timeout`. With 1,000 slots and the default
//! 60 s, 1,100 silent sockets locked every tenant out. Now the guard on PgBouncer's port holds
//! them (10,000 slots, an open-file limit to match) and closes each after a 5 s login timeout;
//! none of them reaches PgBouncer, which has 10,000 slots of its own behind it.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use integration_tests::{admin_incidents, app, bouncer_admin, connect, connect_from, eventually, unique_name, Api};
use ops::local::{CLIENT_LOGIN_TIMEOUT, MAX_CLIENT_CONN, MAX_PER_SOURCE};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_postgres::SimpleQueryMessage;

/// More than the 1,000 slots PgBouncer had.
const FLOOD: usize = 1_100;

/// `column` of the admin console's rows of `command` whose first column is `key`.
async fn admin_value(command: &str, key_column: &str, key: &str, column: &str) -> Option<String> {
    let rows = bouncer_admin().await.simple_query(command).await.expect(command);
    rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) if r.get(key_column) == Some(key) => r.get(column).map(str::to_owned),
        _ => None,
    })
}

/// The soft open-file limit of process `pid`.
fn open_files_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("an open-files line");
    let soft = line["Max open files".len()..].split_whitespace().next().expect("a soft limit");
    if soft == "unlimited" {
        u64::MAX
    } else {
        soft.parse().expect("a number")
    }
}

/// Reads until PgBouncer closes the socket (it may send an error first); when that happened.
async fn closed_at(mut socket: TcpStream) -> Instant {
    let mut buf = [0u8; 512];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn silent_sockets_cannot_lock_tenants_out_of_pgbouncer_and_are_closed_after_the_login_timeout() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("flooded")).await;
    let url = d["connection_string"].as_str().expect("url").to_owned();
    let bouncer = &app().platform.host.bouncer;

    // What the running PgBouncer has, not only what its ini says, and the descriptors for it.
    let max_client = admin_value("SHOW CONFIG", "key", "max_client_conn", "value").await;
    assert_eq!(max_client, Some(MAX_CLIENT_CONN.to_string()));
    let login_timeout = admin_value("SHOW CONFIG", "key", "client_login_timeout", "value").await;
    assert_eq!(login_timeout, Some(CLIENT_LOGIN_TIMEOUT.as_secs().to_string()));
    let pid = bouncer.pid().expect("pgbouncer runs");
    assert!(open_files_limit(pid) > MAX_CLIENT_CONN, "pgbouncer's open-file limit: {}", open_files_limit(pid));
    // This process needs a descriptor per socket too.
    let ours = ops::local::raise_open_files(None, FLOOD as u64 + 1_024).expect("raising our open-file limit");
    assert!(ours > FLOOD as u64 + 256, "the test's open-file limit ({ours}) is too low for the flood");

    // The flood: connect and say nothing. Loopback only, bounded in count and time.
    let target: SocketAddr = format!("{}:{}", bouncer.host(), bouncer.port()).parse().expect("address");
    let mut flood = Vec::with_capacity(FLOOD);
    tokio::time::timeout(Duration::from_secs(30), async {
        for _ in 0..FLOOD {
            flood.push((Instant::now(), TcpStream::connect(target).await.expect("a TCP connection to PgBouncer")));
        }
    })
    .await
    .expect("the flood opens within 30 s");
    let first = flood[0].0;
    let opened_in = first.elapsed();
    // The guard holds them (accepted, not waiting in the kernel's backlog); PgBouncer does not.
    eventually("the guard to hold every flood socket", Duration::from_secs(10), || async {
        (bouncer.guarded_clients() >= FLOOD).then_some(())
    })
    .await;
    let used = admin_value("SHOW LISTS", "list", "used_clients", "items").await;
    let used: usize = used.and_then(|v| v.parse().ok()).expect("used_clients");
    assert!(used < FLOOD, "{used} of PgBouncer's client slots are held: the flood reached it");

    // Meanwhile another tenant logs in through PgBouncer and runs a query, promptly.
    let started = Instant::now();
    let client = tokio::time::timeout(Duration::from_secs(3), connect(&url))
        .await
        .expect("the login answers within 3 s")
        .expect("the tenant logs in while the flood is held");
    let rows = client.simple_query("select 1").await.expect("the tenant's query runs");
    assert!(!rows.is_empty());
    let login_took = started.elapsed();
    assert!(login_took < Duration::from_secs(3), "login and query took {login_took:?}");
    assert!(first.elapsed() < CLIENT_LOGIN_TIMEOUT, "the login was not checked while the whole flood was held");

    // The guard closes every silent socket once its login time is up, not before.
    let bound = CLIENT_LOGIN_TIMEOUT + Duration::from_secs(15);
    let closes = tokio::time::timeout(
        bound,
        futures::future::join_all(flood.into_iter().map(|(at, s)| async move { (at, closed_at(s).await) })),
    )
    .await
    .unwrap_or_else(|_| panic!("some flood sockets were still open {bound:?} after they were opened"));
    let early = CLIENT_LOGIN_TIMEOUT - Duration::from_secs(1);
    let lives: Vec<Duration> = closes.iter().map(|(open, closed)| closed.duration_since(*open)).collect();
    let (shortest, longest) = (lives.iter().min().expect("sockets"), lives.iter().max().expect("sockets"));
    assert!(*shortest >= early, "a flood socket was closed after {shortest:?}, before its login timeout");
    assert!(*longest <= CLIENT_LOGIN_TIMEOUT + Duration::from_secs(10), "one lived {longest:?}");
    eprintln!(
        "flood: {FLOOD} sockets opened in {:?}; a tenant's login and query took {:?} while they were held; \
         the guard closed them {shortest:?}..{longest:?} after each opened",
        opened_in, login_took,
    );
    // The tenant who logged in is not affected.
    client.simple_query("select 1").await.expect("the tenant's session outlives the flood");
}

/// One address may hold `MAX_PER_SOURCE` of the guard's slots at once: the next is closed on
/// arrival while a login from another address goes on, and the operator is told with a
/// `pooler_saturated` incident, resolved once nobody has been turned away for a while.
#[tokio::test]
async fn one_address_cannot_take_every_slot_and_the_operator_hears_of_it() {
    let api = Api::new_user().await;
    let d = api.create_running(&unique_name("shared-port")).await;
    let url = d["connection_string"].as_str().expect("url").to_owned();
    let bouncer = &app().platform.host.bouncer;
    let ours = ops::local::raise_open_files(None, 16_384).expect("raising our open-file limit");
    assert!(ours > 3 * MAX_PER_SOURCE as u64, "the test's open-file limit ({ours}) is too low");
    let target: SocketAddr = format!("{}:{}", bouncer.host(), bouncer.port()).parse().expect("address");
    let greedy: IpAddr = "127.0.0.9".parse().expect("ip");
    let from_greedy = || async move {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.bind(SocketAddr::new(greedy, 0)).expect("bind 127.0.0.9");
        socket.connect(target).await.expect("a TCP connection to the guard")
    };

    // The guard holds silent sockets for 5 s: the share, the one too many and the other
    // address's login must all happen within that, or the round says nothing; try again.
    let mut refused_in = None;
    for _ in 0..3 {
        let opened = Instant::now();
        let mut held = Vec::with_capacity(MAX_PER_SOURCE);
        for _ in 0..MAX_PER_SOURCE {
            held.push(from_greedy().await);
        }
        eventually("the guard to hold the address's share", Duration::from_secs(5), || async {
            (bouncer.guarded_clients() >= MAX_PER_SOURCE).then_some(())
        })
        .await;
        let one_more = Instant::now();
        let closed = closed_at(from_greedy().await).await;
        let other = connect_from("127.0.0.10".parse().expect("ip"), &url).await;
        if opened.elapsed() >= CLIENT_LOGIN_TIMEOUT - Duration::from_millis(500) {
            eprintln!("round too slow ({:?}): the share was no longer held throughout", opened.elapsed());
            continue;
        }
        other.expect("another address logs in while one holds its whole share");
        refused_in = Some(closed.duration_since(one_more));
        drop(held);
        break;
    }
    let refused_in = refused_in.expect("a round within the guard's 5 s hold");
    assert!(refused_in < Duration::from_secs(2), "the one too many was held {refused_in:?}, not closed on arrival");

    let resource = ops::pooler_watch::RESOURCE;
    eventually("the saturation incident to open", Duration::from_secs(10), || async {
        let open = admin_incidents(ops::pooler_watch::POOLER_SATURATED, resource, "open").await;
        (!open.is_empty()).then_some(())
    })
    .await;
    eventually("the saturation incident to be resolved", Duration::from_secs(20), || async {
        admin_incidents(ops::pooler_watch::POOLER_SATURATED, resource, "open").await.is_empty().then_some(())
    })
    .await;
}
