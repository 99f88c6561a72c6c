//! Free TCP ports: picked by the kernel (bind :0), never fixed, so parallel test binaries
//! and a developer's own servers never collide with us.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};

use anyhow::{bail, Context};

/// The addresses a server told to listen on `addrs` would bind (`*` is every interface).
fn bind_addrs(addrs: &[String]) -> Vec<IpAddr> {
    let mut out = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    for a in addrs {
        match a.as_str() {
            "*" | "0.0.0.0" => out.push(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            "localhost" => out.push(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            other => out.extend(other.parse::<IpAddr>()),
        }
    }
    out.dedup();
    out
}

/// Whether `port` can be bound on every address the server will listen on. Each probe is
/// released before the next, so they do not conflict with each other.
pub fn is_free(port: u16, addrs: &[String]) -> bool {
    bind_addrs(addrs).into_iter().all(|ip| match TcpListener::bind((ip, port)) {
        Ok(_) => true,
        // No IPv6 on this machine: ::1 cannot be taken by anyone else either.
        Err(e) if ip.is_ipv6() && e.kind() == std::io::ErrorKind::AddrNotAvailable => true,
        Err(_) => false,
    })
}

/// `previous` when still free (stable DSNs across restarts), else a fresh kernel-chosen
/// port. Racy by nature (someone may take it before the server binds); callers retry when
/// the server reports the address in use.
pub fn choose(previous: Option<u16>, addrs: &[String]) -> anyhow::Result<u16> {
    if let Some(p) = previous.filter(|p| is_free(*p, addrs)) {
        return Ok(p);
    }
    for _ in 0..20 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .context("asking the kernel for a free port")?
            .port();
        if is_free(port, addrs) {
            return Ok(port);
        }
    }
    bail!("found no port free on all of {addrs:?}")
}
