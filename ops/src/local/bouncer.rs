//! One local PgBouncer in front of a cluster. Its directory holds `pgbouncer.ini` (rendered
//! by Berth at every start, ending with `%include tenants.ini`), the worker-rendered
//! `tenants.ini`, `hba.conf` and `users.txt`, `admin.password` (0600), `port`, the log,
//! pidfile and Unix socket.
//!
//! PgBouncer listens only on that Unix socket; the TCP port in every connection string is
//! served by Berth's guard ([`super::guard`]), which takes cancel requests and applies the
//! allowlists before a client reaches PgBouncer.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use hostctl::pgbouncer::{render_auth_file, render_hba, render_tenants, AuthEntry, HBA_FILE, TENANTS_FILE, USERS_FILE};

use super::guard::{Guard, GuardConfig, GuardTls};
use super::pg::{connect_host, PgCluster};
use super::process::{self, StartFailure};
use super::user::{self, Account};
use super::{bins, connect, dsn_value, fds, files, pgconf, ports};

/// The login allowed on PgBouncer's admin console (database `pgbouncer`).
pub const ADMIN_USER: &str = "berth_admin";
const INI_FILE: &str = "pgbouncer.ini";
const PASSWORD_FILE: &str = "admin.password";
const PORT_FILE: &str = "port";
const LOG_FILE: &str = "pgbouncer.log";
const PID_FILE: &str = "pgbouncer.pid";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Clients PgBouncer admits at once, logged in or not (`max_client_conn`, global). Anyone who
/// reaches the port can take a slot without a password until `client_login_timeout`, so
/// this is 10x what the host's pools could ever serve (300 server connections), and each
/// slot costs little (a descriptor and a few KiB when idle).
pub const MAX_CLIENT_CONN: u64 = 10_000;
/// The listen queue of the guard's port and of PgBouncer's socket behind it (capped by
/// `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;
/// Clients one address (an IPv6 /64) may hold at once through the guard: a fifth of
/// [`MAX_CLIENT_CONN`], so one address alone cannot take every slot.
pub const MAX_PER_SOURCE: usize = 2_000;
/// Descriptors PgBouncer needs beyond one per client: a server connection each (at most
/// the cluster's `max_connections`, 300), its listening sockets, log and DNS.
const FD_RESERVE: u64 = 1_000;
/// How long a client has to log in before PgBouncer closes it (`client_login_timeout`).
/// A login is the startup packet plus a SCRAM exchange: two or three round trips, well under
/// a second even across continents (TLS adds two more); 5 s leaves room for a slow network
/// and for the first client of a pool, which waits for PgBouncer's first server login. The
/// default (60 s) let 1,100 silent sockets hold every slot for a minute at a time.
pub const CLIENT_LOGIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct BouncerOptions {
    pub listen_addrs: Vec<String>,
}

impl Default for BouncerOptions {
    fn default() -> Self {
        BouncerOptions { listen_addrs: vec!["127.0.0.1".into()] }
    }
}

pub struct Bouncer {
    dir: PathBuf,
    host: String,
    port: u16,
    admin_password: String,
    backend_host: String,
    backend_port: u16,
    child: Mutex<Option<Child>>,
    guard: Option<Guard>,
    tls: Option<GuardTls>,
}

impl std::fmt::Debug for Bouncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bouncer").field("dir", &self.dir).field("port", &self.port).finish()
    }
}

/// TLS is required of clients when the pooler listens on any address beyond loopback
/// (clients then cross a network); on loopback alone it is offered, not required.
pub fn tls_required(listen_addrs: &[String]) -> bool {
    listen_addrs.iter().any(|a| match a.parse::<std::net::IpAddr>() {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => a != "localhost",
    })
}

fn render_ini(dir: &Path, port: u16, max_client_conn: u64) -> String {
    let d = dir.display();
    format!(
        ";; Rendered by Berth at every start; changes here are overwritten. Pools live in\n\
         ;; {TENANTS_FILE} and logins in {USERS_FILE}; the worker re-renders both and RELOADs.\n\
         [pgbouncer]\n\
         ;; No listen_addr: PgBouncer listens on its Unix socket alone (named after\n\
         ;; listen_port); clients reach it through Berth's guard on TCP port {port}.\n\
         listen_port = {port}\n\
         unix_socket_dir = {d}\n\
         ;; No logfile: PgBouncer logs to stderr, which Berth appends to {LOG_FILE}; that\n\
         ;; way errors from before the logfile would open (a bad config) are kept too.\n\
         pidfile = {d}/{PID_FILE}\n\
         ;; Who may log in from where is in {HBA_FILE} (rendered from the allowlists);\n\
         ;; passwords are checked with SCRAM against {USERS_FILE}.\n\
         auth_type = hba\n\
         auth_hba_file = {d}/{HBA_FILE}\n\
         auth_file = {d}/{USERS_FILE}\n\
         admin_users = {ADMIN_USER}\n\
         pool_mode = session\n\
         ;; Unauthenticated sockets count against max_client_conn until they log in or\n\
         ;; time out; the open-file limit Berth gives PgBouncer covers it.\n\
         max_client_conn = {max_client_conn}\n\
         client_login_timeout = {login_timeout}\n\
         ;; A burst of connects (a flood, an application's pool starting) waits in the\n\
         ;; kernel's queue (capped by net.core.somaxconn) instead of overflowing the default\n\
         ;; 128, where a handshake is dropped and retried after 1, 3, 7 s.\n\
         listen_backlog = {LISTEN_BACKLOG}\n\
         default_pool_size = 10\n\
         server_reset_query = DISCARD ALL\n\
         ;; After PostgreSQL restarts, try its logins again within a second (default 15 s).\n\
         server_login_retry = 1\n\
         ;; tokio-postgres and JDBC send these at startup; PgBouncer rejects unknown ones.\n\
         ignore_startup_parameters = extra_float_digits,search_path\n\
         %include {d}/{TENANTS_FILE}\n",
        login_timeout = CLIENT_LOGIN_TIMEOUT.as_secs(),
    )
}

/// Raises the open-file limit of PgBouncer (`pid`), or of this process before it spawns
/// PgBouncer (`None`), to cover [`MAX_CLIENT_CONN`]; returns the `max_client_conn` that
/// limit allows (less than wanted only when the OS refuses more descriptors).
fn client_slots(pid: Option<u32>) -> u64 {
    let wanted = MAX_CLIENT_CONN + FD_RESERVE;
    let limit = match fds::raise_open_files(pid, wanted) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise PgBouncer's open-file limit");
            return MAX_CLIENT_CONN;
        }
    };
    if limit >= wanted {
        return MAX_CLIENT_CONN;
    }
    let slots = limit.saturating_sub(FD_RESERVE).max(100);
    tracing::warn!(limit, slots, "the open-file limit is below what PgBouncer needs; max_client_conn lowered");
    slots
}

/// Descriptors the guard needs beyond two per client (one each way): the API's and
/// workers' own sockets and files, in the same process.
const GUARD_FD_RESERVE: u64 = 4_096;

/// How many clients the guard may hold: [`MAX_CLIENT_CONN`], or fewer when this process
/// cannot have two descriptors for each (the open-file limit is raised for it first).
fn guard_slots() -> usize {
    let wanted = 2 * MAX_CLIENT_CONN + GUARD_FD_RESERVE;
    let limit = fds::raise_open_files(None, wanted).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read or raise this process's open-file limit");
        wanted
    });
    let slots = (limit.saturating_sub(GUARD_FD_RESERVE) / 2).clamp(100, MAX_CLIENT_CONN);
    if slots < MAX_CLIENT_CONN {
        tracing::warn!(
            limit,
            slots,
            "the open-file limit is below what the pooler's guard needs; it holds fewer clients"
        );
    }
    slots as usize
}

/// The guard's listeners on `port`: every address in `addrs` (`*`: every interface, both
/// families when the machine has IPv6), with PgBouncer's backlog (a burst of connects waits
/// in the kernel's queue; at the default 128 the rest of a burst is dropped and retried
/// after 1, 3, 7 s). Called within a runtime; the listeners are handed to the guard's.
fn bind_guard(addrs: &[String], port: u16) -> std::io::Result<Vec<std::net::TcpListener>> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let listen = |ip: IpAddr| -> std::io::Result<std::net::TcpListener> {
        let socket = if ip.is_ipv6() { tokio::net::TcpSocket::new_v6()? } else { tokio::net::TcpSocket::new_v4()? };
        // As PgBouncer and PostgreSQL do: a restart may bind while old connections linger.
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::new(ip, port))?;
        socket.listen(LISTEN_BACKLOG)?.into_std()
    };
    let mut out = Vec::new();
    for a in addrs {
        match a.as_str() {
            // `[::]` takes IPv4 too (as ::ffff:a.b.c.d); without IPv6, 0.0.0.0.
            "*" => out.push(
                listen(IpAddr::V6(Ipv6Addr::UNSPECIFIED)).or_else(|_| listen(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))?,
            ),
            "localhost" => out.push(listen(IpAddr::V4(Ipv4Addr::LOCALHOST))?),
            other => {
                let ip: IpAddr = other.parse().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("not an address to listen on: {other}"),
                    )
                })?;
                out.push(listen(ip)?);
            }
        }
    }
    Ok(out)
}

/// The pid of a pgbouncer running from `dir`, per its pidfile.
fn running(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join(PID_FILE)).ok()?.trim().parse().ok()?;
    let ours = process::is_alive(pid) && process::process_name(pid).as_deref() == Some("pgbouncer");
    ours.then_some(pid)
}

impl Bouncer {
    /// Starts the PgBouncer kept in `dir` in front of `backend`, setting the directory up on
    /// first use; reuses one already running there.
    /// With `tls`, its guard offers TLS with that certificate, and requires it when PgBouncer
    /// listens beyond loopback ([`tls_required`]).
    pub async fn start(
        dir: &Path,
        backend: &PgCluster,
        opts: &BouncerOptions,
        tls: Option<Arc<crate::tls::ServingCert>>,
    ) -> anyhow::Result<Bouncer> {
        if opts.listen_addrs.is_empty() {
            bail!("BouncerOptions.listen_addrs is empty");
        }
        let program = bins::pgbouncer()?;
        let account = user::service_account().await?;
        let dir = user::prepare_dir(dir, account).await?;
        pgconf::check_socket_dir(&dir)?;
        let admin_password = files::read_or_create_secret(&dir.join(PASSWORD_FILE), account)?;
        // Only on first use: afterwards these belong to the worker, which re-renders them.
        let tenants = dir.join(TENANTS_FILE);
        if !tenants.exists() {
            files::write_private(&tenants, &render_tenants(&[]), account)?;
        }
        let hba = dir.join(HBA_FILE);
        if !hba.exists() {
            files::write_private(&hba, &render_hba(&[]), account)?;
        }
        let users = dir.join(USERS_FILE);
        if !users.exists() {
            let admin = AuthEntry { user: ADMIN_USER.into(), secret: admin_password.clone() };
            files::write_private(&users, &render_auth_file(&[admin]), account)?;
        }
        let mut bouncer = Bouncer {
            host: connect_host(&opts.listen_addrs),
            port: files::read_port(&dir.join(PORT_FILE)).unwrap_or(0),
            admin_password,
            backend_host: backend.host().to_owned(),
            backend_port: backend.port(),
            child: Mutex::new(None),
            guard: None,
            tls: tls.map(|cert| GuardTls {
                acceptor: tokio_rustls::TlsAcceptor::from(cert.server_config()),
                required: tls_required(&opts.listen_addrs),
            }),
            dir,
        };
        if let Some(pid) = running(&bouncer.dir) {
            bouncer.wait_running().await?;
            // Started by a Berth from before the guard: it listens on the TCP port itself.
            let listens_itself = std::fs::read_to_string(bouncer.dir.join(INI_FILE))
                .is_ok_and(|ini| ini.lines().any(|l| l.starts_with("listen_addr")));
            bouncer.refresh_running(pid, account).await?;
            match bind_guard(&opts.listen_addrs, bouncer.port) {
                Ok(listeners) => {
                    bouncer.guard = Some(bouncer.start_guard(listeners)?);
                    return Ok(bouncer);
                }
                // It goes (its clients reconnect through the guard in a moment), and a new one
                // starts behind the guard.
                Err(e) if listens_itself => {
                    tracing::warn!(error = %e, "the running PgBouncer holds its TCP port; restarting it behind the guard");
                    process::terminate(pid, libc::SIGTERM, STOP_GRACE, "pgbouncer")?;
                }
                // The guard of the process that started it serves the port.
                Err(e) => {
                    tracing::warn!(error = %e, "the PgBouncer adopted here is served by another process's guard");
                    return Ok(bouncer);
                }
            }
        }
        let mut previous = Some(bouncer.port).filter(|p| *p != 0);
        for _ in 0..3 {
            bouncer.port = ports::choose(previous.take(), &opts.listen_addrs)?;
            // Bound first: holding the port is what keeps it ours while PgBouncer starts.
            let listeners = match bind_guard(&opts.listen_addrs, bouncer.port) {
                Ok(listeners) => listeners,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(anyhow::Error::from(e).context("binding the pooler's port")),
            };
            match bouncer.spawn(&program, account).await {
                Ok(child) => {
                    *bouncer.child.lock().expect("child lock poisoned") = Some(child);
                    bouncer.guard = Some(bouncer.start_guard(listeners)?);
                    return Ok(bouncer);
                }
                Err(StartFailure::PortInUse) => continue,
                Err(StartFailure::Failed(e)) => return Err(e),
            }
        }
        bail!("pgbouncer in {} lost the race for a free port three times", bouncer.dir.display())
    }

    /// The guard on the TCP port, in front of PgBouncer's Unix socket.
    fn start_guard(&self, listeners: Vec<std::net::TcpListener>) -> anyhow::Result<Guard> {
        let config = GuardConfig {
            socket: self.socket(),
            hba: self.dir.join(HBA_FILE),
            login_timeout: CLIENT_LOGIN_TIMEOUT,
            max_clients: guard_slots(),
            max_per_source: MAX_PER_SOURCE,
            tls: self.tls.clone(),
        };
        Guard::start(listeners, config)
    }

    /// Whether its guard requires TLS of clients.
    pub fn requires_tls(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.required)
    }

    /// PgBouncer's Unix socket.
    fn socket(&self) -> PathBuf {
        self.dir.join(format!(".s.PGSQL.{}", self.port))
    }

    /// Clients the guard holds now (see [`Guard::clients`]).
    pub fn guarded_clients(&self) -> usize {
        self.guard.as_ref().map_or(0, Guard::clients)
    }

    /// Connections the guard closed on arrival for want of a slot (see [`Guard::turned_away`]).
    pub fn turned_away(&self) -> u64 {
        self.guard.as_ref().map_or(0, Guard::turned_away)
    }

    async fn wait_running(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            match self.probe().await {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(e.context("a pgbouncer is running on this dir but its admin console does not answer"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// A PgBouncer another Berth process started (it dies with that process) gets today's
    /// settings too: the ini re-rendered and RELOADed (`max_client_conn` and
    /// `client_login_timeout` apply on reload), its open-file limit raised.
    async fn refresh_running(&self, pid: u32, account: Option<Account>) -> anyhow::Result<()> {
        let ini = render_ini(&self.dir, self.port, client_slots(Some(pid)));
        if files::write_if_changed(&self.dir.join(INI_FILE), &ini, account)? {
            let admin = connect(&format!("{} connect_timeout=2", self.socket_admin_dsn())).await?;
            admin.simple_query("RELOAD").await.context("RELOAD after re-rendering pgbouncer.ini")?;
        }
        Ok(())
    }

    async fn spawn(&self, program: &Path, account: Option<Account>) -> Result<Child, StartFailure> {
        let fail = StartFailure::Failed;
        files::write_private(&self.dir.join(PORT_FILE), &format!("{}\n", self.port), account).map_err(fail)?;
        let ini = self.dir.join(INI_FILE);
        // Raised here, inherited by the child: PgBouncer checks its limit when it starts.
        let slots = client_slots(None);
        files::write_if_changed(&ini, &render_ini(&self.dir, self.port, slots), account).map_err(fail)?;
        let log = self.dir.join(LOG_FILE);
        let log_offset = process::file_len(&log);
        let stderr = files::open_log(&log, account).map_err(fail)?;
        let mut cmd = process::command(program, account, &self.dir);
        cmd.arg(&ini).stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        // SIGTERM is PgBouncer's immediate shutdown (1.18); it has no children to clean up.
        let mut child = process::spawn_server(cmd, libc::SIGTERM).await.map_err(fail)?;
        let what = format!("pgbouncer in {}", self.dir.display());
        process::wait_until_ready(&mut child, &what, &log, log_offset, START_TIMEOUT, libc::SIGTERM, || self.probe())
            .await?;
        Ok(child)
    }

    /// `SHOW VERSION` on the admin console (simple query protocol: it supports no other),
    /// over the Unix socket: PgBouncer's own, whether the guard runs or not.
    async fn probe(&self) -> anyhow::Result<()> {
        let client = connect(&format!("{} connect_timeout=2", self.socket_admin_dsn())).await?;
        client.simple_query("SHOW VERSION").await.context("SHOW VERSION")?;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn config_dir(&self) -> &Path {
        &self.dir
    }
    pub fn admin_user(&self) -> &str {
        ADMIN_USER
    }
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }
    /// The `users.txt` line the admin console needs: whoever re-renders the auth file must
    /// keep it, or the admin console locks us out.
    pub fn admin_auth_entry(&self) -> AuthEntry {
        AuthEntry { user: ADMIN_USER.into(), secret: self.admin_password.clone() }
    }
    /// The cluster behind this PgBouncer, as its pool entries should name it.
    pub fn backend_host(&self) -> &str {
        &self.backend_host
    }
    pub fn backend_port(&self) -> u16 {
        self.backend_port
    }
    pub fn log_file(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }
    pub fn pid(&self) -> Option<u32> {
        running(&self.dir)
    }

    /// key=value DSN of the admin console (use `simple_query` on it).
    pub fn admin_dsn(&self) -> String {
        self.dsn("pgbouncer", ADMIN_USER, &self.admin_password)
    }

    /// The admin console's DSN on PgBouncer's Unix socket.
    fn socket_admin_dsn(&self) -> String {
        self.dsn_on(&self.dir.display().to_string(), "pgbouncer", ADMIN_USER, &self.admin_password)
    }

    /// key=value DSN for a client of one of the pools.
    pub fn dsn(&self, dbname: &str, user: &str, password: &str) -> String {
        self.dsn_on(&self.host, dbname, user, password)
    }

    /// key=value DSN through `host`: the guard's address, or PgBouncer's socket directory.
    fn dsn_on(&self, host: &str, dbname: &str, user: &str, password: &str) -> String {
        format!(
            "host={} port={} user={} password={} dbname={}",
            dsn_value(host),
            self.port,
            dsn_value(user),
            dsn_value(password),
            dsn_value(dbname)
        )
    }

    /// Whether PgBouncer has ended (see [`PgCluster::has_ended`]).
    pub fn has_ended(&self) -> bool {
        process::has_ended(&self.child, || running(&self.dir).is_none())
    }

    /// Starts PgBouncer again on the same port after it ended. Its pools and logins are in
    /// the files the worker rendered; `DISABLE` of stopped databases lived in its memory and
    /// comes back with the next sync (the supervisor asks for one).
    /// The guard keeps the TCP port meanwhile.
    pub async fn restart(&self) -> anyhow::Result<()> {
        let program = bins::pgbouncer()?;
        let account = user::service_account().await?;
        process::restarted(&self.child, self.spawn(&program, account).await, self.port)
    }

    pub fn stop(&self) -> anyhow::Result<()> {
        if let Some(guard) = &self.guard {
            guard.stop();
        }
        let mut child = self.child.lock().expect("child lock poisoned");
        let pid = self.pid().or_else(|| child.as_ref().map(Child::id));
        if let Some(pid) = pid {
            process::terminate(pid, libc::SIGTERM, STOP_GRACE, "pgbouncer")?;
        }
        process::reap(&mut child);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ini_bounds_unauthenticated_clients() {
        let ini = render_ini(Path::new("/d"), 6432, MAX_CLIENT_CONN);
        assert!(ini.contains("\nmax_client_conn = 10000\n"), "{ini}");
        assert!(ini.contains("\nclient_login_timeout = 5\n"), "{ini}");
        assert!(ini.contains("\nlisten_backlog = 4096\n"), "{ini}");
        assert!(ini.starts_with(";; Rendered by Berth at every start"), "{ini}");
        assert!(ini.lines().all(|l| !l.starts_with(' ')), "no line starts with a space: {ini}");
    }
}
