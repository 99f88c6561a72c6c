//! The guard on PgBouncer's port. PgBouncer itself listens only on its Unix socket; tenants'
//! clients reach it through here, where every connection's first packet is read before a
//! byte reaches PgBouncer:
//!
//! - a **cancel request** is handed on as libpq sends one: the 16-byte key, then nothing, and
//!   the connection to PgBouncer is held until PgBouncer closes it, whenever the client goes.
//!   Debian 12's PgBouncer (1.18) dies — taking every session and login on the host with it —
//!   when the client of a cancel request hangs up before PgBouncer has forwarded it
//!   (pgbouncer#801; tokio-postgres's `cancel_query` does) or sends anything after the key
//!   (pgbouncer#904; Go's pgx does). Any tenant could do either at will.
//! - a **startup packet** names its database; the host's allowlists (the HBA file the worker
//!   renders, which PgBouncer can no longer apply: it sees every client on its Unix socket)
//!   decide by the client's address, then the packet and everything after it are copied
//!   both ways. The password is still checked by PgBouncer (SCRAM).
//! - an **SSL request** is accepted (`S`) when the guard has a certificate (the platform CA's,
//!   [`crate::tls`]): the TLS session ends here, on the platform's side of the machine, and
//!   what is inside it is handled as below. With `required`, a startup packet outside TLS is
//!   refused (28000) — the default on a host listening beyond loopback; a cancel request is
//!   still taken in the clear (it carries only its key, and libpq before 17 sends it so). A
//!   GSS encryption request is declined (`N`), as is an SSL request inside TLS.
//! - a client that sends no complete first packet within the login timeout, or anything
//!   else, is closed without reaching PgBouncer; so a flood of silent sockets holds none of
//!   PgBouncer's client slots.
//! - one source address (an IPv6 /64) holds at most `max_per_source` connections at once;
//!   more are closed as they arrive, so one address cannot take every slot.
//!
//! It runs on a thread of its own (a single-threaded runtime: PgBouncer 1.18 is
//! single-threaded too and does more per message, so one thread keeps up with it; two were
//! measured no faster), so the API's load never delays tenants' traffic, and it outlives
//! PgBouncer's restarts: a client arriving while PgBouncer is down is told so.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// PostgreSQL's own bound on a startup packet (`MAX_STARTUP_PACKET_LENGTH`).
const MAX_STARTUP: usize = 10_000;
/// How long a cancel request may take PgBouncer. Hanging up on it before it answers is what
/// kills PgBouncer 1.18, so this is long: it only bounds a PgBouncer that has hung.
const CANCEL_WAIT: Duration = Duration::from_secs(60);
/// Connecting to PgBouncer's Unix socket: immediate unless its listen queue is full.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// What the guard serves.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// PgBouncer's Unix socket (`<dir>/.s.PGSQL.<port>`).
    pub socket: PathBuf,
    /// The HBA file the worker renders from the allowlists.
    pub hba: PathBuf,
    /// A client's first packet must arrive within this.
    pub login_timeout: Duration,
    /// Clients held at once (each is two descriptors); more are closed at once.
    pub max_clients: usize,
    /// Clients held at once from one address (IPv4) or /64 (IPv6).
    pub max_per_source: usize,
    /// TLS, when the guard offers it.
    pub tls: Option<GuardTls>,
}

/// TLS as the guard offers it.
#[derive(Clone)]
pub struct GuardTls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// Startup packets outside TLS are refused.
    pub required: bool,
}

impl std::fmt::Debug for GuardTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardTls").field("required", &self.required).finish_non_exhaustive()
    }
}

/// A running guard; [`Guard::stop`] (or dropping it) closes its listeners and connections.
pub struct Guard {
    stop: watch::Sender<bool>,
    slots: Arc<Semaphore>,
    max_clients: usize,
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("clients", &self.clients()).finish()
    }
}

impl Guard {
    /// Serves `listeners` (already bound: binding is how the port was taken) on a thread of
    /// its own until stopped.
    pub fn start(listeners: Vec<std::net::TcpListener>, config: GuardConfig) -> anyhow::Result<Guard> {
        for l in &listeners {
            l.set_nonblocking(true).context("a non-blocking listener for the guard")?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("a runtime for the pooler's guard")?;
        let (stop, stopped) = watch::channel(false);
        let max_clients = config.max_clients;
        let slots = Arc::new(Semaphore::new(max_clients));
        let shared = Arc::new(Shared {
            config,
            hba: Mutex::new(None),
            sources: Mutex::new(HashMap::new()),
            turned_away: AtomicU64::new(0),
        });
        let counted = shared.clone();
        let accepting = slots.clone();
        let thread = std::thread::Builder::new()
            .name("berth-guard".into())
            .spawn(move || {
                runtime.block_on(async move {
                    for listener in listeners {
                        match TcpListener::from_std(listener) {
                            Ok(l) => {
                                tokio::spawn(accept(l, shared.clone(), accepting.clone(), stopped.clone()));
                            }
                            Err(e) => tracing::error!(error = %e, "the guard cannot use a listener"),
                        }
                    }
                    let mut stopped = stopped;
                    while !*stopped.borrow() {
                        if stopped.changed().await.is_err() {
                            break;
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .context("a thread for the pooler's guard")?;
        Ok(Guard { stop, slots, max_clients, shared: counted, thread: Mutex::new(Some(thread)) })
    }

    /// Clients held now (logging in, in a session, or cancelling).
    pub fn clients(&self) -> usize {
        self.max_clients - self.slots.available_permits()
    }

    /// Connections closed on arrival since the start because every slot, or every one their
    /// source may hold, was taken.
    pub fn turned_away(&self) -> u64 {
        self.shared.turned_away.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.lock().expect("guard thread lock poisoned").take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Shared {
    config: GuardConfig,
    /// The HBA text, with what the file looked like when it was read.
    hba: Mutex<Option<(FileStamp, Arc<str>)>>,
    /// Connections held per source (see [`source_key`]).
    sources: Mutex<HashMap<u128, usize>>,
    /// See [`Guard::turned_away`].
    turned_away: AtomicU64,
}

/// A source's address as counted: an IPv4 address itself, an IPv6 address by its /64 (one
/// host usually has a whole /64).
fn source_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => ((u128::from(a) >> 64) << 64) | (1 << 32),
    }
}

/// One held connection of a source; dropping it gives the place back.
struct SourceSlot {
    shared: Arc<Shared>,
    key: u128,
}

impl SourceSlot {
    fn take(shared: &Arc<Shared>, ip: IpAddr) -> Option<SourceSlot> {
        let key = source_key(ip);
        let mut sources = shared.sources.lock().expect("sources lock poisoned");
        let held = sources.entry(key).or_insert(0);
        if *held >= shared.config.max_per_source {
            return None;
        }
        *held += 1;
        metrics::gauge!("berth_guard_clients").increment(1.0);
        Some(SourceSlot { shared: shared.clone(), key })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        metrics::gauge!("berth_guard_clients").decrement(1.0);
        let mut sources = self.shared.sources.lock().expect("sources lock poisoned");
        if let Some(held) = sources.get_mut(&self.key) {
            *held -= 1;
            if *held == 0 {
                sources.remove(&self.key);
            }
        }
    }
}

type FileStamp = (u64, Option<SystemTime>, u64);

impl Shared {
    /// The HBA file's text, read again whenever it was replaced (the worker writes it through
    /// a rename, so a new inode or time means a new file). `None` when it cannot be read:
    /// the caller refuses, since admitting would open restricted databases.
    fn hba(&self) -> Option<Arc<str>> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.config.hba).ok()?;
        let stamp = (meta.ino(), meta.modified().ok(), meta.len());
        let mut cached = self.hba.lock().expect("hba cache lock poisoned");
        if let Some((_, text)) = cached.as_ref().filter(|(at, _)| *at == stamp) {
            return Some(text.clone());
        }
        let text: Arc<str> = std::fs::read_to_string(&self.config.hba).ok()?.into();
        *cached = Some((stamp, text.clone()));
        Some(text)
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, slots: Arc<Semaphore>, mut stopped: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Every slot, or every one this source may hold, is taken: this connection is
                // closed at once rather than queued.
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    metrics::counter!("berth_guard_refused_total", "why" => "full").increment(1);
                    shared.turned_away.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let Some(source) = SourceSlot::take(&shared, peer.ip()) else {
                    metrics::counter!("berth_guard_refused_total", "why" => "per_source").increment(1);
                    shared.turned_away.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                tokio::spawn(serve(stream, peer, shared.clone(), (slot, source)));
            }
            Err(e) => {
                // Out of descriptors, most likely: pause rather than spin.
                tracing::warn!(error = %e, "the pooler's guard could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A client's first packet.
#[derive(Debug, PartialEq, Eq)]
enum First {
    /// An SSL request, accepted (`S` sent): a TLS handshake follows.
    Tls,
    /// The whole 16-byte cancel request.
    Cancel([u8; 16]),
    /// The whole startup packet and the database it names.
    Startup { packet: Vec<u8>, database: String },
}

async fn serve(
    mut client: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    _held: (OwnedSemaphorePermit, SourceSlot),
) {
    let _ = client.set_nodelay(true);
    let login = shared.config.login_timeout;
    let tls = shared.config.tls.clone();
    let first = match tokio::time::timeout(login, first_packet(&mut client, tls.is_some())).await {
        Ok(Ok(first)) => first,
        Ok(Err(_)) | Err(_) => return,
    };
    match (first, tls) {
        (First::Tls, Some(tls)) => {
            // The handshake and the packet inside it within the same login timeout.
            let inside = async {
                let mut stream = tls.acceptor.accept(client).await?;
                let first = first_packet(&mut stream, false).await?;
                Ok::<_, std::io::Error>((stream, first))
            };
            match tokio::time::timeout(login, inside).await {
                Ok(Ok((stream, first))) => handle(stream, first, peer, &shared, true).await,
                Ok(Err(e)) => tracing::debug!(error = %e, %peer, "a TLS login failed"),
                Err(_) => {}
            }
        }
        (first, _) => handle(client, first, peer, &shared, false).await,
    }
}

/// A client's first packet handled: a cancel handed on, a startup admitted by the HBA file
/// (and by TLS, when required) and joined to PgBouncer.
async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    first: First,
    peer: SocketAddr,
    shared: &Shared,
    encrypted: bool,
) {
    match first {
        First::Tls => {}
        First::Cancel(key) => cancel(shared, key).await,
        First::Startup { packet, database } => {
            if !encrypted && shared.config.tls.as_ref().is_some_and(|t| t.required) {
                let why = "this server requires TLS: connect with sslmode=verify-full (the platform's CA is at \
                           /api/v1/ca.pem) or sslmode=require";
                return refuse(&mut client, "28000", why).await;
            }
            let admitted = match shared.hba() {
                Some(hba) => hostctl::pgbouncer::hba_admits(&hba, &database, peer.ip()),
                None => {
                    tracing::error!(file = %shared.config.hba.display(), "the pooler's guard cannot read the HBA file");
                    false
                }
            };
            if !admitted {
                let why = format!("no allowlist rule of database \"{}\" admits {}", printable(&database), peer.ip());
                return refuse(&mut client, "28000", &why).await;
            }
            let server = tokio::time::timeout(CONNECT_WAIT, UnixStream::connect(&shared.config.socket)).await;
            let Ok(Ok(mut server)) = server else {
                return refuse(&mut client, "57P03", "the connection pooler is starting; try again in a moment").await;
            };
            if server.write_all(&packet).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        }
    }
}

/// Hands a cancel request to PgBouncer and waits for PgBouncer to close the connection (it
/// has then sent the cancel on). The client is not read again and may hang up any time.
async fn cancel(shared: &Shared, key: [u8; 16]) {
    let forwarded = async {
        let mut server = UnixStream::connect(&shared.config.socket).await?;
        server.write_all(&key).await?;
        let mut sink = [0u8; 64];
        while server.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    if tokio::time::timeout(CANCEL_WAIT, forwarded).await.is_err() {
        tracing::warn!("PgBouncer did not finish a cancel request within {CANCEL_WAIT:?}");
    }
}

/// Reads the first packet, declining SSL and GSS encryption requests (each once) before it;
/// with `offer_tls`, an SSL request is accepted instead ([`First::Tls`]).
async fn first_packet<S: AsyncRead + AsyncWrite + Unpin>(client: &mut S, offer_tls: bool) -> std::io::Result<First> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    let mut declined = (false, false);
    loop {
        let len = client.read_u32().await? as usize;
        if !(8..=MAX_STARTUP).contains(&len) {
            return Err(bad("a first packet of impossible length"));
        }
        let mut packet = vec![0u8; len];
        packet[..4].copy_from_slice(&(len as u32).to_be_bytes());
        client.read_exact(&mut packet[4..]).await?;
        let code = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        match code {
            SSL_REQUEST if len == 8 && offer_tls && !declined.0 => {
                client.write_all(b"S").await?;
                return Ok(First::Tls);
            }
            SSL_REQUEST if len == 8 && !declined.0 => declined.0 = true,
            GSSENC_REQUEST if len == 8 && !declined.1 => declined.1 = true,
            CANCEL_REQUEST if len == 16 => {
                let key: [u8; 16] = packet.as_slice().try_into().map_err(|_| bad("a cancel request"))?;
                return Ok(First::Cancel(key));
            }
            _ if code >> 16 == 3 => {
                let database = startup_database(&packet[8..]).ok_or_else(|| bad("a startup packet without a user"))?;
                return Ok(First::Startup { packet, database });
            }
            _ => return Err(bad("not a PostgreSQL protocol 3 client")),
        }
        client.write_all(b"N").await?;
    }
}

/// The database a startup packet's parameters name (`database`, else `user`, as PostgreSQL
/// and PgBouncer default it); `None` without a user.
fn startup_database(params: &[u8]) -> Option<String> {
    let mut fields = params.split(|b| *b == 0);
    let (mut user, mut database) = (None, None);
    while let (Some(key), Some(value)) = (fields.next(), fields.next()) {
        if key.is_empty() {
            break;
        }
        let value = String::from_utf8_lossy(value).into_owned();
        match key {
            b"user" => user = Some(value),
            b"database" => database = Some(value),
            _ => {}
        }
    }
    let user = user.filter(|u| !u.is_empty())?;
    Some(database.filter(|d| !d.is_empty()).unwrap_or(user))
}

/// A client-chosen name fit for an error message: control characters dropped, 63 bytes at
/// most (PostgreSQL's name length).
fn printable(name: &str) -> String {
    let mut out: String = name.chars().filter(|c| !c.is_control()).collect();
    while out.len() > 63 {
        out.pop();
    }
    out
}

/// Sends a FATAL ErrorResponse and closes.
async fn refuse<S: AsyncWrite + Unpin>(client: &mut S, code: &str, message: &str) {
    metrics::counter!("berth_guard_refused_total", "why" => code.to_owned()).increment(1);
    let _ = client.write_all(&error_response(code, message)).await;
    let _ = client.shutdown().await;
}

fn error_response(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', code), (b'M', message)] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn startup(params: &[(&str, &str)]) -> Vec<u8> {
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for (k, v) in params {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    async fn first_of(bytes: Vec<u8>) -> (std::io::Result<First>, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        client.write_all(&bytes).await.expect("write");
        drop(client.shutdown().await);
        let first = first_packet(&mut server, false).await;
        drop(server);
        let mut answered = Vec::new();
        client.read_to_end(&mut answered).await.expect("read");
        (first, answered)
    }

    #[tokio::test]
    async fn reads_a_startup_packet_after_declining_encryption() {
        let packet = startup(&[("user", "alice"), ("database", "shop"), ("application_name", "x")]);
        let mut bytes = vec![0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        bytes.extend_from_slice(&packet);
        let (first, answered) = first_of(bytes).await;
        assert_eq!(first.expect("a startup"), First::Startup { packet, database: "shop".into() });
        assert_eq!(answered, b"N");
        let (first, _) = first_of(startup(&[("user", "alice")])).await;
        assert!(matches!(first, Ok(First::Startup { database, .. }) if database == "alice"), "the user's database");
    }

    #[tokio::test]
    async fn reads_a_cancel_request_and_nothing_after_it() {
        let mut bytes = vec![0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 1, 2, 3, 4, 5, 6, 7, 8];
        let key: [u8; 16] = bytes.as_slice().try_into().expect("16");
        bytes.extend_from_slice(&[b'X', 0, 0, 0, 4]);
        let (first, answered) = first_of(bytes).await;
        assert_eq!(first.expect("a cancel"), First::Cancel(key));
        assert!(answered.is_empty());
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_first_packet() {
        for bytes in [
            vec![0, 0, 0, 4],
            vec![0, 1, 0, 0, 0, 3, 0, 0],
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            startup(&[("database", "shop")]),
            [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f].repeat(2),
        ] {
            let (first, _) = first_of(bytes.clone()).await;
            assert!(first.is_err(), "{bytes:?} was taken for {first:?}");
        }
    }

    /// A guard on a free loopback port in front of `dir/pgb.sock` (a stand-in for PgBouncer).
    fn guard_for(dir: &std::path::Path, hba: &str, max_per_source: usize) -> (Guard, SocketAddr) {
        guard_with(dir, hba, max_per_source, None)
    }

    pub(super) fn guard_with(
        dir: &std::path::Path,
        hba: &str,
        max_per_source: usize,
        tls: Option<GuardTls>,
    ) -> (Guard, SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::fs::write(dir.join("hba.conf"), hba).expect("hba");
        let config = GuardConfig {
            socket: dir.join("pgb.sock"),
            hba: dir.join("hba.conf"),
            login_timeout: Duration::from_secs(3),
            max_clients: 100,
            max_per_source,
            tls,
        };
        (Guard::start(vec![listener], config).expect("guard"), addr)
    }

    pub(super) const OPEN: &str = "host all all 0.0.0.0/0 scram-sha-256\n";

    pub(super) async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), f).await.unwrap_or_else(|_| panic!("{what} took over 5 s"))
    }

    #[tokio::test]
    async fn a_cancel_request_goes_on_alone_and_is_not_hung_up_early() {
        let dir = tempfile::tempdir().expect("dir");
        let pgbouncer = tokio::net::UnixListener::bind(dir.path().join("pgb.sock")).expect("unix listener");
        let (guard, addr) = guard_for(dir.path(), OPEN, 10);
        let key = [0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut client = TcpStream::connect(addr).await.expect("connect");
        // The key, a Terminate after it, and gone at once: both killed PgBouncer 1.18.
        client.write_all(&[&key[..], &[b'X', 0, 0, 0, 4]].concat()).await.expect("write");
        drop(client);
        let (mut server, _) = within("the cancel reaching PgBouncer", pgbouncer.accept()).await.expect("accept");
        let mut got = [0u8; 16];
        within("the key", server.read_exact(&mut got)).await.expect("the key");
        assert_eq!(got, key);
        // Nothing follows the key, and the guard keeps its end open while PgBouncer works:
        // neither bytes nor a hang-up within 300 ms of the client's.
        let mut more = [0u8; 8];
        let early = tokio::time::timeout(Duration::from_millis(300), server.read(&mut more)).await;
        assert!(early.is_err(), "the guard sent on or hung up before PgBouncer answered: {early:?}");
        drop(server);
        within("the guard letting go once PgBouncer closed", async {
            while guard.clients() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    #[tokio::test]
    async fn the_allowlist_refuses_before_pgbouncer_hears_of_it() {
        let dir = tempfile::tempdir().expect("dir");
        let pgbouncer = tokio::net::UnixListener::bind(dir.path().join("pgb.sock")).expect("unix listener");
        let hba = "host \"shop\" all 10.0.0.0/8 scram-sha-256\nhost \"shop\" all 0.0.0.0/0 reject\n".to_owned() + OPEN;
        let (_guard, addr) = guard_for(dir.path(), &hba, 10);

        let mut refused = TcpStream::connect(addr).await.expect("connect");
        refused.write_all(&startup(&[("user", "shop"), ("database", "shop")])).await.expect("write");
        let mut answer = Vec::new();
        within("the refusal", refused.read_to_end(&mut answer)).await.expect("read");
        assert_eq!(answer.first(), Some(&b'E'), "{answer:?}");
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.contains("28000") && text.contains("no allowlist rule of database \"shop\" admits 127.0.0.1"),
            "{text}"
        );

        let packet = startup(&[("user", "app"), ("database", "other")]);
        let mut admitted = TcpStream::connect(addr).await.expect("connect");
        admitted.write_all(&packet).await.expect("write");
        // The first connection PgBouncer sees is the admitted one, packet and all, then both ways.
        let (mut server, _) = within("the login reaching PgBouncer", pgbouncer.accept()).await.expect("accept");
        let mut got = vec![0u8; packet.len()];
        within("the startup packet", server.read_exact(&mut got)).await.expect("read");
        assert_eq!(got, packet);
        server.write_all(b"R-reply").await.expect("write");
        let mut reply = [0u8; 7];
        within("the reply", admitted.read_exact(&mut reply)).await.expect("read");
        assert_eq!(&reply, b"R-reply");
    }

    #[tokio::test]
    async fn one_source_holds_at_most_its_share() {
        let dir = tempfile::tempdir().expect("dir");
        let (guard, addr) = guard_for(dir.path(), OPEN, 3);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(addr).await.expect("connect"));
        }
        within("the guard holding three", async {
            while guard.clients() < 3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let mut fourth = TcpStream::connect(addr).await.expect("the kernel accepts it");
        let mut buf = [0u8; 1];
        let closed = within("the fourth to be closed", fourth.read(&mut buf)).await;
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        assert_eq!(guard.clients(), 3, "the first three are still held");
        assert_eq!(guard.turned_away(), 1);
        assert_ne!(source_key("2001:db8::1".parse().expect("ip")), source_key("2001:db8:0:1::1".parse().expect("ip")));
        assert_eq!(source_key("2001:db8::1".parse().expect("ip")), source_key("2001:db8::2".parse().expect("ip")));
        assert_eq!(source_key("::ffff:10.0.0.1".parse().expect("ip")), source_key("10.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn an_error_response_is_one_well_formed_message() {
        let e = error_response("28000", "no");
        assert_eq!(e[0], b'E');
        assert_eq!(u32::from_be_bytes([e[1], e[2], e[3], e[4]]) as usize, e.len() - 1);
        assert!(e.ends_with(b"Mno\0\0"));
        assert_eq!(printable("a\nb\u{7f}c"), "abc");
        assert_eq!(printable(&"é".repeat(40)).len(), 62);
    }
}

#[cfg(test)]
#[path = "guard_tls_tests.rs"]
mod tls_tests;
