//! TLS at the pooler's guard: the handshake with the platform CA's certificate, TLS required
//! beyond loopback, and a renewed certificate served without dropping sessions.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tests::{guard_with, startup, within, OPEN};
use super::GuardTls;
use crate::tls::{Ca, ServingCert};

/// A client that trusts only `ca`.
fn client_trusting(ca: &Ca) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(crate::tls::client_trusting(ca.pem()).expect("a client configuration"))
}

/// Connects, asks for SSL as libpq does, and completes a verified handshake.
async fn tls_login(
    addr: std::net::SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await?;
    assert_eq!(&answer, b"S", "the guard accepts the SSL request");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("a name");
    connector.connect(name, tcp).await
}

fn serial_of(stream: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    let certs = stream.get_ref().1.peer_certificates().expect("the server's certificate");
    certs[0].as_ref().to_vec()
}

#[tokio::test]
async fn tls_is_offered_and_required_beyond_loopback_and_a_renewal_drops_no_session() {
    let dir = tempfile::tempdir().expect("dir");
    let pgbouncer = tokio::net::UnixListener::bind(dir.path().join("pgb.sock")).expect("unix listener");
    let ca = Ca::load_or_create(&dir.path().join("tls")).expect("a CA");
    let serving = ServingCert::issue(&ca, vec!["127.0.0.1".into()]).expect("a certificate");
    let tls = GuardTls { acceptor: tokio_rustls::TlsAcceptor::from(serving.server_config()), required: true };
    let (_guard, addr) = guard_with(dir.path(), OPEN, 10, Some(tls));

    // In the clear: refused, saying how to connect instead; PgBouncer hears nothing of it.
    let mut plain = TcpStream::connect(addr).await.expect("connect");
    plain.write_all(&startup(&[("user", "app"), ("database", "shop")])).await.expect("write");
    let mut answer = Vec::new();
    within("the refusal", plain.read_to_end(&mut answer)).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.contains("28000") && text.contains("requires TLS") && text.contains("/api/v1/ca.pem"), "{text}");

    // A client that trusts another CA does not get through the handshake.
    let other = Ca::load_or_create(&dir.path().join("other")).expect("another CA");
    assert!(within("a mistrusted handshake", tls_login(addr, &client_trusting(&other))).await.is_err());

    // Through TLS, verified against the platform's CA: the startup packet reaches PgBouncer
    // and the session carries both ways.
    let connector = client_trusting(&ca);
    let mut session = within("a TLS login", tls_login(addr, &connector)).await.expect("a verified handshake");
    let before = serial_of(&session);
    let packet = startup(&[("user", "app"), ("database", "shop")]);
    session.write_all(&packet).await.expect("write");
    let (mut server, _) = within("the login reaching PgBouncer", pgbouncer.accept()).await.expect("accept");
    let mut got = vec![0u8; packet.len()];
    within("the startup packet", server.read_exact(&mut got)).await.expect("read");
    assert_eq!(got, packet, "what PgBouncer gets is the client's packet, decrypted");

    // Renewed (as `keep_fresh` does once less than its window is left; here the window is
    // wider than the whole validity): new handshakes get the new certificate, the session
    // already open goes on.
    let window = crate::tls::SERVING_VALIDITY + Duration::from_secs(3600);
    assert!(serving.renew_if_due(&ca, time::OffsetDateTime::now_utc(), window).expect("renewed"));
    let fresh = within("a TLS login after renewal", tls_login(addr, &connector)).await.expect("handshake");
    assert_ne!(serial_of(&fresh), before, "a new certificate is served");
    server.write_all(b"R-after-renewal").await.expect("write");
    let mut reply = [0u8; 15];
    within("the old session's reply", session.read_exact(&mut reply)).await.expect("the session survived");
    assert_eq!(&reply, b"R-after-renewal");
}

#[test]
fn tls_is_required_only_where_the_pooler_listens_beyond_loopback() {
    use crate::local::bouncer::tls_required;
    let addrs = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert!(!tls_required(&addrs(&["127.0.0.1"])));
    assert!(!tls_required(&addrs(&["127.0.0.1", "::1", "localhost"])));
    assert!(tls_required(&addrs(&["127.0.0.1", "10.0.0.5"])));
    assert!(tls_required(&addrs(&["0.0.0.0"])));
    assert!(tls_required(&addrs(&["*"])));
    assert!(tls_required(&addrs(&["db.example.com"])));
}
