//! The API over HTTPS (`--tls-cert/--tls-key`, here through the same `FileCert` the flags
//! load): a client trusting the certificate's CA gets answers, plain HTTP on the port does
//! not; the dashboard's cookie is Secure; replaced certificate files are served from the next
//! handshake on while a connection already open keeps working.

use std::time::Duration;

use ops::api_tls::FileCert;
use ops::tls::{Ca, SERVING_VALIDITY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn write_pair(dir: &std::path::Path, ca: &Ca) {
    let issued = ca.issue(&["127.0.0.1".into()], time::OffsetDateTime::now_utc(), SERVING_VALIDITY).expect("issued");
    // As an ACME client renews: new files renamed over the old.
    for (name, text) in [("api.pem", &issued.cert_pem), ("api.key", &issued.key_pem)] {
        std::fs::write(dir.join(format!("{name}.new")), text).expect("write");
        std::fs::rename(dir.join(format!("{name}.new")), dir.join(name)).expect("rename");
    }
}

/// One raw HTTPS connection, kept open across requests.
struct Conn {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr, ca: &Ca) -> Conn {
        let config = ops::tls::client_trusting(ca.pem()).expect("a client configuration");
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let tls = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.expect("a handshake");
        Conn { tls }
    }

    fn certificate(&self) -> Vec<u8> {
        self.tls.get_ref().1.peer_certificates().expect("a certificate")[0].as_ref().to_vec()
    }

    /// `GET /healthz` on this connection; the status line.
    async fn healthz(&mut self) -> String {
        self.tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").await.expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        // The body is `{"data":{"status":"ok"}}`: read until it is all there.
        while !got.ends_with(b"}}") {
            let n = tokio::time::timeout(Duration::from_secs(5), self.tls.read(&mut buf))
                .await
                .expect("an answer within 5 s")
                .expect("read");
            assert!(n > 0, "the connection closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).lines().next().unwrap_or_default().to_owned()
    }
}

#[test]
fn the_api_serves_https_with_a_secure_cookie_and_picks_up_renewed_files() {
    let h = crate::platform();
    let key = crate::new_user("api-tls");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let ca = Ca::load_or_create(&dir.path().join("ca")).expect("a CA");
        write_pair(dir.path(), &ca);
        let cert = FileCert::load(&dir.path().join("api.pem"), &dir.path().join("api.key")).expect("loads");
        let config = api::ApiConfig { tls: Some(cert.server_config()), workers: 1, ..api::ApiConfig::default() };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(api::server(h.store(), config, listener).await.expect("an API"));

        let trusted = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("the CA"))
            .build()
            .expect("a client");
        let ready = trusted.get(format!("https://{addr}/readyz")).send().await.expect("an HTTPS answer");
        assert_eq!(ready.status(), 200);
        let plain = reqwest::get(format!("http://{addr}/readyz")).await;
        assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200), "plain HTTP is not served");

        // The dashboard's session cookie is Secure over HTTPS.
        let signed = trusted
            .post(format!("https://{addr}/api/v1/auth/cookie"))
            .json(&serde_json::json!({ "api_key": key }))
            .send()
            .await
            .expect("sign-in");
        assert_eq!(signed.status(), 200);
        let cookies: Vec<String> =
            signed.headers().get_all("set-cookie").iter().map(|v| v.to_str().expect("text").to_owned()).collect();
        assert!(!cookies.is_empty() && cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");

        // Renewed files: served from the next handshake on; an open connection goes on.
        let mut open = Conn::open(addr, &ca).await;
        assert!(open.healthz().await.contains("200"));
        let before = open.certificate();
        write_pair(dir.path(), &ca);
        assert!(cert.reload_if_changed().expect("the new pair loads"), "the change is seen");
        assert!(open.healthz().await.contains("200"), "the connection opened before the renewal works");
        let mut fresh = Conn::open(addr, &ca).await;
        assert_ne!(fresh.certificate(), before, "the renewed certificate is served");
        assert!(fresh.healthz().await.contains("200"));

        // A broken replacement keeps the good certificate in service.
        std::fs::write(dir.path().join("api.key"), "not a key").expect("write");
        assert!(cert.reload_if_changed().is_err());
        let mut still = Conn::open(addr, &ca).await;
        assert!(still.healthz().await.contains("200"));
    });
}
