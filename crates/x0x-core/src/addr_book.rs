//! Address announcements between connected agents.
//!
//! HyParView's FORWARDJOIN and SHUFFLE messages in saorsa-gossip carry peer
//! ids only, so an agent that learns of a peer that way cannot dial it, and the
//! overlay collapses into a star around the bootstrap node. Whenever a QUIC
//! connection opens, the agent tells its other connections where the new peer
//! is, and tells the new peer where its other connections are. Claims are
//! hints only ([`crate::addr_claims`]): a dial authenticates the peer id, so a
//! wrong address just fails, and a claim never displaces an address the peer
//! itself proved (a connection, or a record it signed).
//!
//! Frame (Bulk stream): tag `0xA1`, count (u8), then per entry the 32-byte
//! peer id, address family (4 or 6), the IP bytes and the port (u16 LE).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use saorsa_gossip_types::PeerId;

/// First byte of an address frame on the Bulk stream.
pub const TAG: u8 = 0xA1;
/// Most entries one frame carries.
pub const MAX_ENTRIES: usize = 64;

/// Encodes up to [`MAX_ENTRIES`] entries.
pub fn encode(entries: &[(PeerId, SocketAddr)]) -> Vec<u8> {
    let entries = &entries[..entries.len().min(MAX_ENTRIES)];
    let mut out = Vec::with_capacity(2 + entries.len() * 51);
    out.push(TAG);
    out.push(entries.len() as u8);
    for (peer, addr) in entries {
        out.extend_from_slice(peer.as_bytes());
        match addr.ip() {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&addr.port().to_le_bytes());
    }
    out
}

/// Decodes a frame; `None` if it is malformed in any way.
pub fn decode(frame: &[u8]) -> Option<Vec<(PeerId, SocketAddr)>> {
    let (&tag, rest) = frame.split_first()?;
    if tag != TAG {
        return None;
    }
    let (&count, mut rest) = rest.split_first()?;
    if count as usize > MAX_ENTRIES {
        return None;
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let id: [u8; 32] = rest.get(..32)?.try_into().ok()?;
        let family = *rest.get(32)?;
        rest = &rest[33..];
        let ip = match family {
            4 => {
                let b: [u8; 4] = rest.get(..4)?.try_into().ok()?;
                rest = &rest[4..];
                IpAddr::V4(Ipv4Addr::from(b))
            }
            6 => {
                let b: [u8; 16] = rest.get(..16)?.try_into().ok()?;
                rest = &rest[16..];
                IpAddr::V6(Ipv6Addr::from(b))
            }
            _ => return None,
        };
        let port: [u8; 2] = rest.get(..2)?.try_into().ok()?;
        rest = &rest[2..];
        out.push((PeerId::new(id), SocketAddr::new(ip, u16::from_le_bytes(port))));
    }
    rest.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        let entries = vec![
            (PeerId::new([1; 32]), "127.0.0.1:5000".parse().unwrap()),
            (PeerId::new([2; 32]), "[::1]:6000".parse().unwrap()),
        ];
        assert_eq!(decode(&encode(&entries)).unwrap(), entries);
    }

    #[test]
    fn rejects_malformed_frames() {
        let good = encode(&[(PeerId::new([1; 32]), "127.0.0.1:5000".parse().unwrap())]);
        assert!(decode(&good[..good.len() - 1]).is_none());
        let mut extra = good.clone();
        extra.push(0);
        assert!(decode(&extra).is_none());
        let mut bad_family = good.clone();
        bad_family[34] = 9;
        assert!(decode(&bad_family).is_none());
        assert!(decode(&[TAG, 200]).is_none());
        assert!(decode(&[]).is_none());
        assert!(decode(&[0x00, 0]).is_none());
    }
}
