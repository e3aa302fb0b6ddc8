//! The signed address record: "agent X is reachable at these addresses until
//! time T", signed by X itself. FOAF answers carry it (and rendezvous holders
//! will store it), so whoever relays it cannot forge or alter it: the record
//! holds X's public key, X's id is derived from that key, and the signature
//! covers every other byte.
//!
//! Wire format (all integers little-endian):
//! version (u8 = 1), public key (1952 bytes), issued-at ms (u64), expires-at
//! ms (u64), address count (u8, at most [`MAX_ADDRS`]), per address the family
//! (4 or 6), the IP bytes and the port (u16), then the ML-DSA-65 signature
//! (3309 bytes) over `DOMAIN || everything before it`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use saorsa_gossip_types::PeerId;

use crate::error::CoreResult;
use crate::identity::{verify, AgentId, AgentKeypair, PUBLIC_KEY_LEN, SIGNATURE_LEN};

const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"x0x-addr-record-v1\0";
/// Most addresses one record lists.
pub const MAX_ADDRS: usize = 16;
/// Largest encoded record (16 IPv6 addresses).
pub const MAX_RECORD_BYTES: usize = 1 + PUBLIC_KEY_LEN + 8 + 8 + 1 + MAX_ADDRS * 19 + SIGNATURE_LEN;

/// A verified address record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrRecord {
    /// The agent the record describes (and that signed it).
    pub agent_id: AgentId,
    /// Where the agent can be dialled.
    pub addrs: Vec<SocketAddr>,
    /// Issuer's clock at signing, ms since the Unix epoch.
    pub issued_at_ms: u64,
    /// After this, ms since the Unix epoch, the record is void.
    pub expires_at_ms: u64,
}

/// Why a record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Not a well-formed record.
    Malformed,
    /// The signature does not verify against the embedded key.
    BadSignature,
    /// Well signed, but by another agent than the one asked for.
    WrongAgent,
    /// Past its expiry, or issued implausibly far in the future.
    Expired,
}

/// Signs a record for `keypair`'s agent.
pub fn sign(keypair: &AgentKeypair, addrs: &[SocketAddr], issued_at_ms: u64, ttl_ms: u64) -> CoreResult<Vec<u8>> {
    let addrs = &addrs[..addrs.len().min(MAX_ADDRS)];
    let mut out = Vec::with_capacity(MAX_RECORD_BYTES);
    out.push(VERSION);
    out.extend_from_slice(keypair.public_key());
    out.extend_from_slice(&issued_at_ms.to_le_bytes());
    out.extend_from_slice(&issued_at_ms.saturating_add(ttl_ms).to_le_bytes());
    out.push(addrs.len() as u8);
    for addr in addrs {
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
    let mut signed = Vec::with_capacity(DOMAIN.len() + out.len());
    signed.extend_from_slice(DOMAIN);
    signed.extend_from_slice(&out);
    let sig = keypair.sign(&signed)?;
    out.extend_from_slice(&sig);
    Ok(out)
}

/// Decodes and verifies a record: well formed, signed by the key it embeds,
/// and valid at `now_ms`. Does not check whose record it is; see [`verify_for`].
pub fn open(bytes: &[u8], now_ms: u64) -> Result<AddrRecord, RecordError> {
    if bytes.len() > MAX_RECORD_BYTES || bytes.len() < SIGNATURE_LEN {
        return Err(RecordError::Malformed);
    }
    let (body, sig) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
    let (&version, rest) = body.split_first().ok_or(RecordError::Malformed)?;
    if version != VERSION {
        return Err(RecordError::Malformed);
    }
    let pk = rest.get(..PUBLIC_KEY_LEN).ok_or(RecordError::Malformed)?;
    let mut rest = &rest[PUBLIC_KEY_LEN..];
    let mut take = |n: usize| -> Result<&[u8], RecordError> {
        let head = rest.get(..n).ok_or(RecordError::Malformed)?;
        rest = &rest[n..];
        Ok(head)
    };
    let u64_at = |b: &[u8]| -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| RecordError::Malformed)?))
    };
    let issued_at_ms = u64_at(take(8)?)?;
    let expires_at_ms = u64_at(take(8)?)?;
    let count = take(1)?[0] as usize;
    if count > MAX_ADDRS {
        return Err(RecordError::Malformed);
    }
    let mut addrs = Vec::with_capacity(count);
    for _ in 0..count {
        let ip = match take(1)?[0] {
            4 => {
                let b: [u8; 4] = take(4)?.try_into().map_err(|_| RecordError::Malformed)?;
                IpAddr::V4(Ipv4Addr::from(b))
            }
            6 => {
                let b: [u8; 16] = take(16)?.try_into().map_err(|_| RecordError::Malformed)?;
                IpAddr::V6(Ipv6Addr::from(b))
            }
            _ => return Err(RecordError::Malformed),
        };
        let port: [u8; 2] = take(2)?.try_into().map_err(|_| RecordError::Malformed)?;
        addrs.push(SocketAddr::new(ip, u16::from_le_bytes(port)));
    }
    if !rest.is_empty() {
        return Err(RecordError::Malformed);
    }
    let mut signed = Vec::with_capacity(DOMAIN.len() + body.len());
    signed.extend_from_slice(DOMAIN);
    signed.extend_from_slice(body);
    if !verify(pk, &signed, sig) {
        return Err(RecordError::BadSignature);
    }
    if now_ms >= expires_at_ms || issued_at_ms > now_ms.saturating_add(crate::records::MAX_CLOCK_SKEW_MS) {
        return Err(RecordError::Expired);
    }
    Ok(AddrRecord { agent_id: PeerId::from_pubkey(pk).to_bytes(), addrs, issued_at_ms, expires_at_ms })
}

/// [`open`], and the record must describe `agent`.
pub fn verify_for(bytes: &[u8], agent: &AgentId, now_ms: u64) -> Result<AddrRecord, RecordError> {
    let record = open(bytes, now_ms)?;
    if &record.agent_id != agent {
        return Err(RecordError::WrongAgent);
    }
    Ok(record)
}

/// How long this agent's own records stay valid.
pub const OWN_RECORD_TTL_MS: u64 = 10 * 60 * 1000;

/// This agent's own record, re-signed only when its addresses change or it
/// nears expiry (ML-DSA signing is not free, and FOAF answers are frequent).
#[derive(Default)]
pub struct OwnRecord {
    cached: std::sync::Mutex<Option<Signed>>,
}

/// Addresses, expiry and the signed bytes.
type Signed = (Vec<SocketAddr>, u64, Vec<u8>);

impl OwnRecord {
    /// The current record for `addrs`, signing a fresh one when needed.
    pub fn get(&self, keypair: &AgentKeypair, addrs: &[SocketAddr], now_ms: u64) -> Option<Vec<u8>> {
        let mut cached = self.cached.lock().ok()?;
        if let Some((a, expires, bytes)) = cached.as_ref() {
            if a.as_slice() == addrs && expires.saturating_sub(now_ms) > OWN_RECORD_TTL_MS / 2 {
                return Some(bytes.clone());
            }
        }
        let bytes = sign(keypair, addrs, now_ms, OWN_RECORD_TTL_MS).ok()?;
        *cached = Some((addrs.to_vec(), now_ms + OWN_RECORD_TTL_MS, bytes.clone()));
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Vec<SocketAddr> {
        vec!["127.0.0.1:5000".parse().unwrap(), "[::1]:6000".parse().unwrap()]
    }

    #[test]
    fn round_trips_and_names_the_signer() {
        let kp = AgentKeypair::generate().unwrap();
        let bytes = sign(&kp, &addrs(), 1_000, 10_000).unwrap();
        let rec = verify_for(&bytes, &kp.agent_id(), 2_000).unwrap();
        assert_eq!(rec.addrs, addrs());
        assert_eq!(rec.agent_id, kp.agent_id());
        assert_eq!(rec.expires_at_ms, 11_000);
    }

    #[test]
    fn refuses_tampering_other_agents_and_expiry() {
        let kp = AgentKeypair::generate().unwrap();
        let other = AgentKeypair::generate().unwrap();
        let bytes = sign(&kp, &addrs(), 1_000, 10_000).unwrap();
        let mut tampered = bytes.clone();
        // Flip a byte of the first address's port.
        let port_at = 1 + PUBLIC_KEY_LEN + 8 + 8 + 1 + 1 + 4;
        tampered[port_at] ^= 1;
        assert_eq!(open(&tampered, 2_000), Err(RecordError::BadSignature));
        assert_eq!(verify_for(&bytes, &other.agent_id(), 2_000), Err(RecordError::WrongAgent));
        assert_eq!(open(&bytes, 11_000), Err(RecordError::Expired));
        assert!(open(&bytes[..bytes.len() - 1], 2_000).is_err());
        assert_eq!(open(&bytes[..100], 2_000), Err(RecordError::Malformed));
        assert_eq!(open(&[], 2_000), Err(RecordError::Malformed));
        let mut long = bytes.clone();
        long.resize(MAX_RECORD_BYTES + 1, 0);
        assert_eq!(open(&long, 2_000), Err(RecordError::Malformed));
        // A key swapped in for another agent's breaks the signature.
        let mut swapped = bytes;
        swapped[1..1 + PUBLIC_KEY_LEN].copy_from_slice(other.public_key());
        assert_eq!(open(&swapped, 2_000), Err(RecordError::BadSignature));
    }
}
