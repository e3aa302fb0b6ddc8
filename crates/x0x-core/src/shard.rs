//! Rendezvous shards: which of the 65,536 shards an agent id falls in.
//!
//! `shard = u16::from_le_bytes(BLAKE3("saorsa-rendezvous" || agent_id)[0..2])`,
//! i.e. the first two hash bytes read little-endian. That equals
//! saorsa-gossip-rendezvous's `calculate_shard` (first four bytes
//! little-endian, `& 0xFFFF`). The TypeScript `rendezvous.shardId` computes
//! the same; `test/vectors/rendezvous-shards.json` holds vectors both sides
//! check.

use crate::identity::AgentId;

/// Number of rendezvous shards.
pub const SHARD_COUNT: u32 = 1 << 16;
const DOMAIN: &[u8] = b"saorsa-rendezvous";

/// The rendezvous shard of `agent`.
pub fn shard_id(agent: &AgentId) -> u16 {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(agent);
    let hash = h.finalize();
    let b = hash.as_bytes();
    u16::from_le_bytes([b[0], b[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pulls `"key": value` pairs out of the vector file's one-object-per-line
    /// layout (keeps serde out of the dependency tree for one test).
    fn field<'a>(line: &'a str, key: &str) -> &'a str {
        let at = line.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
        let rest = line[at..].trim_start().trim_start_matches('"');
        let end = rest.find(['"', ',', '}']).unwrap();
        rest[..end].trim()
    }

    #[test]
    fn matches_the_shared_vectors() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/vectors/rendezvous-shards.json");
        let text = std::fs::read_to_string(path).unwrap();
        let mut checked = 0;
        for line in text.lines().filter(|l| l.contains("\"agentId\"")) {
            let mut id = [0u8; 32];
            hex::decode_to_slice(field(line, "agentId"), &mut id).unwrap();
            let shard: u16 = field(line, "shard").parse().unwrap();
            let prefix = field(line, "hashPrefix");
            let full = blake3::hash(&[DOMAIN, &id[..]].concat());
            assert_eq!(hex::encode(&full.as_bytes()[..4]), prefix, "hash prefix of {}", hex::encode(id));
            assert_eq!(shard_id(&id), shard, "shard of {}", hex::encode(id));
            checked += 1;
        }
        assert!(checked >= 8, "only {checked} vectors found");
    }

    #[test]
    fn byte_order_is_little_endian() {
        let id = [0u8; 32];
        let full = blake3::hash(&[DOMAIN, &id[..]].concat());
        let b = full.as_bytes();
        assert_eq!(shard_id(&id), b[0] as u16 | (b[1] as u16) << 8);
    }
}
