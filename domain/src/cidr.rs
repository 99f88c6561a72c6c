//! An IP network in CIDR notation, as an allowlist rule names its sources. Built only by
//! [`Cidr::parse`]: the address must be the network address of its prefix (`10.0.0.1/8` is
//! refused rather than silently widened), and a bare address means that one host.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("'{0}' is not an IP address or network in CIDR notation (e.g. 203.0.113.0/24)")]
    Syntax(String),
    #[error("prefix length /{0} is too long for this address family")]
    Prefix(u8),
    #[error("'{given}' has host bits set; the network is {network}")]
    HostBits { given: String, network: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

fn bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// The network mask of `prefix` bits in an address `width` bits wide.
fn mask(width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let full = if width == 32 { u128::from(u32::MAX) } else { u128::MAX };
    let host_bits = width - prefix;
    (full >> host_bits) << host_bits
}

impl Cidr {
    pub fn parse(raw: &str) -> Result<Self, CidrError> {
        let raw = raw.trim();
        let syntax = || CidrError::Syntax(raw.to_owned());
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => {
                // Digits only: "+8", " 8" and "08" are not prefixes anyone means.
                if p.is_empty()
                    || p.len() > 3
                    || !p.bytes().all(|b| b.is_ascii_digit())
                    || (p.len() > 1 && p.starts_with('0'))
                {
                    return Err(syntax());
                }
                (a.parse::<IpAddr>().map_err(|_| syntax())?, p.parse::<u8>().map_err(|_| syntax())?)
            }
            None => {
                let a = raw.parse::<IpAddr>().map_err(|_| syntax())?;
                (a, bits(a).1)
            }
        };
        let (value, width) = bits(addr);
        if prefix > width {
            return Err(CidrError::Prefix(prefix));
        }
        let network = value & mask(width, prefix);
        if network != value {
            let net = Cidr { addr: from_bits(network, width), prefix };
            return Err(CidrError::HostBits { given: raw.to_owned(), network: net.to_string() });
        }
        Ok(Self { addr, prefix })
    }

    /// True for `0.0.0.0/0` and `::/0`: the rule admits every source of its family.
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    /// Whether the two networks share any address (one contains the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let ((a, wa), (b, wb)) = (bits(self.addr), bits(other.addr));
        if wa != wb {
            return false;
        }
        let shorter = self.prefix.min(other.prefix);
        a & mask(wa, shorter) == b & mask(wb, shorter)
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Whether `ip` is in this network. An IPv4 address seen on an IPv6 socket
    /// (`::ffff:a.b.c.d`) counts as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ((net, wn), (a, wa)) = (bits(self.addr), bits(ip.to_canonical()));
        wn == wa && a & mask(wa, self.prefix) == net
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

fn from_bits(v: u128, width: u8) -> IpAddr {
    if width == 32 {
        IpAddr::V4(std::net::Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(std::net::Ipv6Addr::from(v))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Cidr::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_the_addresses_of_its_network_only() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let net = Cidr::parse("10.1.0.0/16").expect("ok");
        assert!(net.contains(ip("10.1.0.0")) && net.contains(ip("10.1.255.255")));
        assert!(!net.contains(ip("10.2.0.1")) && !net.contains(ip("::1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")), "an IPv4 address on an IPv6 socket");
        assert!(Cidr::parse("0.0.0.0/0").expect("ok").contains(ip("203.0.113.9")));
        assert!(Cidr::parse("::/0").expect("ok").contains(ip("2001:db8::1")));
        assert!(!Cidr::parse("::/0").expect("ok").contains(ip("127.0.0.1")));
        assert!(Cidr::parse("127.0.0.2").expect("ok").contains(ip("127.0.0.2")));
        assert!(!Cidr::parse("127.0.0.2").expect("ok").contains(ip("127.0.0.3")));
    }

    #[test]
    fn parses_networks_and_hosts() {
        assert_eq!(Cidr::parse("10.0.0.0/8").expect("ok").to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::parse("127.0.0.2").expect("ok").to_string(), "127.0.0.2/32");
        assert_eq!(Cidr::parse("2001:db8::/32").expect("ok").to_string(), "2001:db8::/32");
        assert_eq!(Cidr::parse("::1").expect("ok").to_string(), "::1/128");
        assert!(Cidr::parse("0.0.0.0/0").expect("ok").is_everything());
        assert!(Cidr::parse("::/0").expect("ok").is_everything());
        assert_eq!(Cidr::parse("203.0.113.7/32").expect("ok").prefix(), 32);
    }

    #[test]
    fn refuses_garbage_and_host_bits() {
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x",
            "10.0.0.0/8/8",
            "10.0.0.0/+8",
            "10.0.0.0/08",
            "256.0.0.0/8",
            "10.0.0.0 /8",
            "10.0.0.0/8 trust",
            "all",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Cidr::parse("10.0.0.1/8"),
            Err(CidrError::HostBits { given: "10.0.0.1/8".into(), network: "10.0.0.0/8".into() })
        );
    }

    #[test]
    fn overlap_is_containment_within_a_family() {
        let p = |s| Cidr::parse(s).expect("valid");
        assert!(p("10.0.0.0/8").overlaps(&p("10.1.0.0/16")));
        assert!(p("10.1.0.0/16").overlaps(&p("10.0.0.0/8")));
        assert!(p("0.0.0.0/0").overlaps(&p("127.0.0.2")));
        assert!(!p("10.0.0.0/8").overlaps(&p("11.0.0.0/8")));
        assert!(!p("127.0.0.2").overlaps(&p("127.0.0.3")));
        assert!(!p("0.0.0.0/0").overlaps(&p("::/0")));
        assert!(p("2001:db8::/32").overlaps(&p("2001:db8:1::/48")));
    }
}
