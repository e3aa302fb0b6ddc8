//! Which addresses an agent tells other agents to dial.
//!
//! The bound address is what the socket listens on; it is not what a peer on
//! another machine can use when it is a wildcard (`0.0.0.0`, `[::]`). Every
//! signed record (presence, coordinator adverts, rendezvous, FOAF answers)
//! carries the list chosen here instead:
//! - the user's announce addresses, when set (e.g. a port forward), alone;
//! - a specific bind address, alone;
//! - for a wildcard bind, the machine's interface addresses with the bound
//!   port (no loopback, no link-local, IPv4 only for an IPv4 wildcard), then
//!   the addresses peers observed this agent at (QUIC address discovery),
//!   which behind a NAT is the only one that works from outside.
//!
//! A machine with no interface but loopback falls back to loopback, so a
//! wildcard agent on an offline laptop still works with itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Most addresses advertised; a signed address record holds at most this many.
pub const MAX_ADVERTISED: usize = crate::addr_record::MAX_ADDRS;

/// The advertised list for `bound`, given the announce list, the host's
/// interface IPs and the addresses peers observed.
pub fn choose(bound: SocketAddr, announce: &[SocketAddr], interfaces: &[IpAddr], observed: &[SocketAddr]) -> Vec<SocketAddr> {
    if !announce.is_empty() {
        return dedup_capped(announce.iter().copied());
    }
    if !bound.ip().is_unspecified() {
        return vec![bound];
    }
    let want_v6 = bound.is_ipv6();
    let local = interfaces
        .iter()
        .copied()
        .filter(|ip| usable(ip) && (want_v6 || ip.is_ipv4()))
        .map(|ip| SocketAddr::new(ip, bound.port()));
    let seen = observed
        .iter()
        .copied()
        .map(unmap)
        .filter(|a| usable(&a.ip()) && a.port() != 0 && (want_v6 || a.is_ipv4()));
    let list = dedup_capped(local.chain(seen));
    if list.is_empty() {
        let lo = if want_v6 { IpAddr::V6(Ipv6Addr::LOCALHOST) } else { IpAddr::V4(Ipv4Addr::LOCALHOST) };
        return vec![SocketAddr::new(lo, bound.port())];
    }
    list
}

/// The host's interface IPs, as the OS lists them now.
pub fn interface_ips() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(list) => list.into_iter().map(|i| i.ip()).collect(),
        Err(e) => {
            tracing::debug!("cannot list network interfaces: {e}");
            Vec::new()
        }
    }
}

/// An address another machine could dial: not loopback, unspecified,
/// multicast or link-local (which needs a scope no record carries).
fn usable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_unspecified() || v4.is_multicast() || v4.is_link_local() || v4.is_broadcast()),
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            let mapped_ok = v6.to_ipv4_mapped().map(|v4| usable(&IpAddr::V4(v4)));
            mapped_ok.unwrap_or(!(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || link_local))
        }
    }
}

/// `[::ffff:a.b.c.d]:p` as `a.b.c.d:p`: a dual-stack socket reports IPv4
/// peers that way, and an IPv4-only peer cannot dial the mapped form.
fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, |v4| SocketAddr::new(IpAddr::V4(v4), addr.port())),
        IpAddr::V4(_) => addr,
    }
}

fn dedup_capped(addrs: impl Iterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in addrs {
        if out.len() == MAX_ADVERTISED {
            break;
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn wildcard_v4_lists_interfaces_then_observed_without_loopback_or_v6() {
        let got = choose(
            sa("0.0.0.0:5483"),
            &[],
            &ips(&["127.0.0.1", "100.100.1.2", "fe80::1", "2001:db8::5", "169.254.3.4"]),
            &[sa("[::ffff:100.64.0.2]:40000"), sa("127.0.0.1:5483")],
        );
        assert_eq!(got, vec![sa("100.100.1.2:5483"), sa("100.64.0.2:40000")]);
    }

    #[test]
    fn wildcard_v6_takes_both_families() {
        let got = choose(sa("[::]:7"), &[], &ips(&["::1", "100.100.1.2", "2001:db8::5", "fe80::9"]), &[]);
        assert_eq!(got, vec![sa("100.100.1.2:7"), sa("[2001:db8::5]:7")]);
    }

    #[test]
    fn specific_bind_and_announce_win() {
        assert_eq!(choose(sa("100.64.0.10:9"), &[], &ips(&["100.100.1.2"]), &[sa("100.64.0.2:1")]), vec![sa("100.64.0.10:9")]);
        let announce = [sa("100.64.0.99:443"), sa("100.64.0.99:443")];
        assert_eq!(choose(sa("0.0.0.0:9"), &announce, &ips(&["100.100.1.2"]), &[]), vec![sa("100.64.0.99:443")]);
    }

    #[test]
    fn loopback_only_host_falls_back_to_loopback() {
        assert_eq!(choose(sa("0.0.0.0:9"), &[], &ips(&["127.0.0.1"]), &[]), vec![sa("127.0.0.1:9")]);
    }

    #[test]
    fn never_more_than_a_record_holds() {
        let many: Vec<IpAddr> = (1..=40).map(|i| IpAddr::V4(Ipv4Addr::new(100, 100, 1, i))).collect();
        assert_eq!(choose(sa("0.0.0.0:9"), &[], &many, &[]).len(), MAX_ADVERTISED);
    }
}
