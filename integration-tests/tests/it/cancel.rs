//! A tenant's cancel requests through the pooler cannot take it down for everyone. Debian 12's
//! PgBouncer (1.18) dies when the client of a cancel request hangs up before PgBouncer has
//! forwarded it (pgbouncer#801, `disconnect_client(): bad client state: 0`) — tokio-postgres's
//! `cancel_query` writes the key and closes at once — or sends anything after the key
//! (pgbouncer#904, as Go's pgx does with a Terminate). Every session on the host then ended and
//! every login failed until it was started again. Berth's guard in front of PgBouncer's port
//! (`ops::local::guard`) takes cancel requests itself and hands them on as libpq sends them.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use integration_tests::{app, connect, eventually, host_superuser, unique_name, Api};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

const ROUNDS: usize = 6;

/// A TCP stream that keeps the first bytes the server sends, to read the cancel key from.
struct Recorded {
    inner: TcpStream,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Recorded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let mut seen = self.seen.lock().expect("recorder lock");
        if seen.len() < 64 * 1024 {
            seen.extend_from_slice(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Recorded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The process id and secret of the first BackendKeyData ('K') message in `bytes`, a server's
/// messages after the startup packet.
fn cancel_key(bytes: &[u8]) -> Option<[u8; 8]> {
    let mut at = 0;
    while at + 5 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at + 1..at + 5].try_into().ok()?) as usize;
        if bytes[at] == b'K' && len == 12 {
            return bytes.get(at + 5..at + 13)?.try_into().ok();
        }
        at += 1 + len;
    }
    None
}

fn bouncer_addr() -> String {
    let bouncer = &app().platform.host.bouncer;
    format!("{}:{}", bouncer.host(), bouncer.port())
}

/// A session through the pooler with its cancel key.
async fn session(url: &str) -> (Arc<tokio_postgres::Client>, [u8; 8]) {
    let config: tokio_postgres::Config = url.parse().expect("url");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let inner = TcpStream::connect(bouncer_addr()).await.expect("tcp to the pooler");
    let stream = Recorded { inner, seen: seen.clone() };
    let (client, conn) = config.connect_raw(stream, tokio_postgres::NoTls).await.expect("login through the pooler");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let key = cancel_key(&seen.lock().expect("recorder lock")).expect("the pooler sent a cancel key");
    (Arc::new(client), key)
}

/// Waits until a query of `db`'s runs `pg_sleep`.
async fn sleeping(db: &str) {
    let su = host_superuser().await;
    eventually("the tenant's sleep to be running", Duration::from_secs(10), || async {
        let n: i64 = su
            .query_one(
                "select count(*) from pg_stat_activity where datname = $1 and state = 'active' \
                 and query like 'select pg_sleep(%'",
                &[&db],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        (n > 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_tenants_cancel_requests_cannot_take_the_pooler_down() {
    let victim_api = Api::new_user().await;
    let victim = victim_api.create_running(&unique_name("cancel-victim")).await;
    let victim_url = victim["connection_string"].as_str().expect("url").to_owned();
    let victim_session = connect(&victim_url).await.expect("the victim logs in");
    let hostile_api = Api::new_user().await;
    let name = unique_name("canceller");
    let hostile = hostile_api.create_running(&name).await;
    let url = hostile["connection_string"].as_str().expect("url").to_owned();
    let pooler = app().platform.host.bouncer.pid().expect("pgbouncer runs");

    // One session cancelled by tokio-postgres, one (whose key we read) by hand.
    let driven = Arc::new(connect(&url).await.expect("the tenant logs in"));
    let (by_hand, key) = session(&url).await;
    for round in 0..ROUNDS {
        let client = if round % 2 == 0 { &driven } else { &by_hand };
        let sleeper = client.clone();
        let query = tokio::spawn(async move { sleeper.simple_query("select pg_sleep(30)").await });
        sleeping(&name).await;
        if round % 2 == 0 {
            // tokio-postgres: the key, then the socket closed at once.
            client.cancel_token().cancel_query(tokio_postgres::NoTls).await.expect("the cancel request is sent");
        } else {
            // The key, then a Terminate after it, then gone.
            let mut raw = TcpStream::connect(bouncer_addr()).await.expect("tcp to the pooler");
            let mut packet = vec![0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e];
            packet.extend_from_slice(&key);
            packet.extend_from_slice(&[b'X', 0, 0, 0, 4]);
            raw.write_all(&packet).await.expect("the cancel request is sent");
        }
        let ended = tokio::time::timeout(Duration::from_secs(10), query)
            .await
            .unwrap_or_else(|_| panic!("round {round}: the cancelled query still ran after 10 s"))
            .expect("the query task");
        let err = ended.expect_err("the query was cancelled");
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
            "round {round}: the query ended without being cancelled: {err}"
        );
        // The hostile session itself is still usable: only its query was cancelled.
        client.simple_query("select 1").await.expect("the canceller's session goes on");
    }

    assert_eq!(app().platform.host.bouncer.pid(), Some(pooler), "PgBouncer was started again: it had died");
    victim_session.simple_query("select 1").await.expect("the victim's session lived through the cancels");
    let fresh = connect(&victim_url).await.expect("the victim logs in again");
    fresh.simple_query("select 1").await.expect("and runs a query");
}
