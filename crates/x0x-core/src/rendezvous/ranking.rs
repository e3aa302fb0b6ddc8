//! Which agents hold a shard's records: rendezvous (highest random weight)
//! hashing. A candidate's weight for a shard is
//! `BLAKE3("x0x-rendezvous-holder" || shard (u16 LE) || agent id)`, compared
//! as bytes; the `count` heaviest hold it. Every agent that knows the same
//! candidates picks the same holders, and adding or removing one candidate
//! moves only the shards it ranks for.

use crate::identity::AgentId;

const DOMAIN: &[u8] = b"x0x-rendezvous-holder";

/// An agent that may hold records, and where to dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its agent id.
    pub id: AgentId,
    /// Addresses (`"ip:port"`), as its advert or beacon listed them.
    pub addrs: Vec<String>,
}

/// The weight of `candidate` for `shard`.
pub fn weight(shard: u16, candidate: &AgentId) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(&shard.to_le_bytes());
    h.update(candidate);
    *h.finalize().as_bytes()
}

/// The `count` holders of `shard` among `candidates`, heaviest first (ties,
/// which need a BLAKE3 collision, fall to the smaller id). A candidate
/// listed twice counts once, as first listed.
pub fn rank(shard: u16, candidates: impl IntoIterator<Item = Candidate>, count: usize) -> Vec<Candidate> {
    let mut seen = std::collections::HashSet::new();
    let mut weighed: Vec<([u8; 32], Candidate)> = candidates
        .into_iter()
        .filter(|c| seen.insert(c.id))
        .map(|c| (weight(shard, &c.id), c))
        .collect();
    weighed.sort_by(|(wa, a), (wb, b)| wb.cmp(wa).then_with(|| a.id.cmp(&b.id)));
    weighed.into_iter().take(count).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: AgentId) -> Candidate {
        Candidate { id, addrs: vec![] }
    }

    fn ids(list: &[Candidate]) -> Vec<AgentId> {
        list.iter().map(|c| c.id).collect()
    }

    /// Spread-out ids from a counter.
    fn id_at(i: u32) -> AgentId {
        *blake3::hash(&i.to_le_bytes()).as_bytes()
    }

    /// Produced by the TypeScript implementation this module replaces
    /// (`rankHolders` in `src/rendezvous.ts`, BLAKE3 from @noble/hashes):
    /// candidates `0x00…00` to `0x07…07` (each byte repeated), ranked for
    /// each shard, by first id byte; and one full weight.
    #[test]
    fn matches_the_typescript_test_vector() {
        let candidates: Vec<Candidate> = (0..8u8).map(|b| candidate([b; 32])).collect();
        let expected: [(u16, [u8; 8]); 5] = [
            (0, [3, 0, 2, 4, 7, 1, 6, 5]),
            (1, [4, 2, 6, 0, 7, 5, 1, 3]),
            (258, [0, 7, 3, 1, 6, 5, 2, 4]),
            (61660, [1, 4, 6, 2, 3, 5, 7, 0]),
            (65535, [7, 4, 5, 1, 0, 2, 3, 6]),
        ];
        for (shard, order) in expected {
            let got: Vec<u8> = rank(shard, candidates.clone(), 8).iter().map(|c| c.id[0]).collect();
            assert_eq!(got, order, "shard {shard}");
        }
        assert_eq!(
            hex::encode(weight(258, &[0xab; 32])),
            "84bbc49d0aa41f27d30feed3edf22337d8335c1a0cfbc0674cfe7947f82db120"
        );
    }

    #[test]
    fn the_same_holders_whatever_the_order_without_duplicates() {
        let candidates: Vec<Candidate> = (0..20).map(|i| candidate(id_at(i))).collect();
        let top = rank(1234, candidates.clone(), 3);
        assert_eq!(top.len(), 3);
        assert_eq!(rank(1234, candidates.iter().rev().cloned(), 3), top);
        let doubled = candidates.iter().chain(&candidates).cloned();
        let all = rank(1234, doubled, 40);
        assert_eq!(all.len(), 20);
        assert_eq!(rank(1234, candidates[..2].to_vec(), 3).len(), 2);
        assert!(rank(1234, vec![], 3).is_empty());
        // A duplicate keeps the addresses it was first listed with.
        let twice = vec![Candidate { id: [1; 32], addrs: vec!["a".into()] }, Candidate { id: [1; 32], addrs: vec!["b".into()] }];
        assert_eq!(rank(0, twice, 2)[0].addrs, vec!["a".to_owned()]);
    }

    #[test]
    fn a_newcomer_moves_at_most_one_holder_of_a_shard() {
        let candidates: Vec<Candidate> = (0..30).map(|i| candidate(id_at(i))).collect();
        for shard in 0..200u16 {
            let before = ids(&rank(shard, candidates.clone(), 3));
            let newcomer = id_at(1_000 + u32::from(shard));
            let mut more = candidates.clone();
            more.push(candidate(newcomer));
            let after = ids(&rank(shard, more, 3));
            let moved: Vec<&AgentId> = after.iter().filter(|id| !before.contains(id)).collect();
            assert!(moved.len() <= 1, "shard {shard}");
            if let [m] = moved[..] {
                assert_eq!(*m, newcomer);
            }
        }
    }

    #[test]
    fn shards_spread_over_the_candidates() {
        let candidates: Vec<Candidate> = (0..10).map(|i| candidate(id_at(i))).collect();
        let mut firsts = std::collections::HashMap::new();
        for shard in 0..2_000u16 {
            *firsts.entry(rank(shard, candidates.clone(), 1)[0].id).or_insert(0u32) += 1;
        }
        // 200 each on average; under 100 or over 300 would mean the weight
        // ignores the shard or the candidate.
        assert_eq!(firsts.len(), 10);
        assert!(firsts.values().all(|n| (100..300).contains(n)), "{firsts:?}");
    }
}
