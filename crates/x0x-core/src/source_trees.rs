//! One broadcast tree per publisher: PRUNE and GRAFT per (topic, source).
//!
//! Plumtree keeps one eager/lazy split per topic, shared by all publishers;
//! with several publishers no single split is a tree for each of them, so
//! every payload crossed about two links per delivery. This module keeps a
//! tree per *source* on top of the topic's eager set (the vendored pubsub's
//! `SourceRouting` hook asks it, per eager peer, whether to push):
//!
//! - **Receiver side.** The link a source's first copy came by is its
//!   *parent*. A duplicate from any other link earns that link a PRUNE for
//!   the source; the parent is never pruned, nor a link already pruned
//!   (its copies may still be in flight). A first copy that had to be pulled
//!   (IWANT, after an IHAVE) means the tree is broken above us: the link it
//!   came by is sent a GRAFT and becomes the parent.
//! - **Sender side.** A peer that sent us a PRUNE for a source is withheld
//!   that source's pushes (it gets IHAVEs instead); its GRAFT undoes that
//!   and puts it back in the topic's eager set.
//!
//! Forgetting is always safe: a forgotten PRUNE costs duplicate copies
//! until the receiver prunes again, a forgotten parent is re-learnt from the
//! next first copy. So both tables are capped and, when full, drop an
//! arbitrary entry; a peer flooding PRUNEs for made-up sources only fills its
//! own quota and only changes what this agent sends to it.
//!
//! Wire (Bulk stream), 65 bytes: tag [`PRUNE_TAG`] or [`GRAFT_TAG`], the
//! 32-byte topic id, the 32-byte agent id of the source.

use std::collections::{HashMap, HashSet};

use saorsa_gossip_types::{PeerId, TopicId};

use crate::identity::AgentId;

/// "Stop pushing me this source on this topic."
pub const PRUNE_TAG: u8 = 0x9A;
/// "Push me this source on this topic again."
pub const GRAFT_TAG: u8 = 0x9B;
/// Bytes in either frame.
pub const FRAME_LEN: usize = 65;
/// (topic, source) pairs whose in-links this agent tracks.
pub const MAX_TREES: usize = 4096;
/// Links per tracked pair that this agent pruned.
pub const MAX_PRUNED_LINKS: usize = 32;
/// (topic, source) pairs one peer may have pruned at once.
pub const MAX_PRUNES_PER_PEER: usize = 1024;
/// Peers whose PRUNEs are kept.
pub const MAX_PRUNING_PEERS: usize = 1024;

/// Whether the Bulk frame tag `tag` is this module's.
pub fn owns(tag: u8) -> bool {
    tag == PRUNE_TAG || tag == GRAFT_TAG
}

/// A tree signal, to or from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Stop pushing `source`'s messages on `topic`.
    Prune { topic: TopicId, source: AgentId },
    /// Push `source`'s messages on `topic` again.
    Graft { topic: TopicId, source: AgentId },
}

impl Signal {
    /// The frame for this signal.
    pub fn encode(&self) -> Vec<u8> {
        let (tag, topic, source) = match self {
            Signal::Prune { topic, source } => (PRUNE_TAG, topic, source),
            Signal::Graft { topic, source } => (GRAFT_TAG, topic, source),
        };
        let mut out = Vec::with_capacity(FRAME_LEN);
        out.push(tag);
        out.extend_from_slice(topic.as_bytes());
        out.extend_from_slice(source);
        out
    }

    /// Decodes a frame from [`Signal::encode`]; `None` when malformed.
    pub fn decode(frame: &[u8]) -> Option<Signal> {
        if frame.len() != FRAME_LEN {
            return None;
        }
        let topic = TopicId::new(frame[1..33].try_into().ok()?);
        let source: AgentId = frame[33..65].try_into().ok()?;
        match frame[0] {
            PRUNE_TAG => Some(Signal::Prune { topic, source }),
            GRAFT_TAG => Some(Signal::Graft { topic, source }),
            _ => None,
        }
    }
}

/// Where one source's messages come from, as this agent sees it.
#[derive(Default)]
struct InLinks {
    parent: Option<PeerId>,
    pruned: Vec<PeerId>,
}

/// What a received signal asks of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Nothing beyond the table change.
    Nothing,
    /// Put the peer back in `topic`'s eager set.
    GraftEager(TopicId),
}

/// Both sides' tables. Sans-IO: callers send the returned signals.
pub struct SourceTrees {
    /// This agent: the root of its own tree, where every copy coming back
    /// is a duplicate.
    own: AgentId,
    in_links: HashMap<(TopicId, AgentId), InLinks>,
    pruned_by: HashMap<PeerId, HashSet<(TopicId, AgentId)>>,
}

impl SourceTrees {
    /// An empty pair of tables for the agent `own`.
    pub fn new(own: AgentId) -> Self {
        Self { own, in_links: HashMap::new(), pruned_by: HashMap::new() }
    }

    /// Whether pushes of `source`'s messages on `topic` to `peer` are
    /// withheld (it pruned them).
    pub fn withheld(&self, topic: &TopicId, source: &AgentId, peer: &PeerId) -> bool {
        self.pruned_by.get(peer).is_some_and(|s| s.contains(&(*topic, *source)))
    }

    /// A verified first copy of one of `source`'s messages came from `from`;
    /// `pulled` when it answered an IWANT. Returns a GRAFT for `from` when
    /// the tree needs repair.
    pub fn first_copy(&mut self, topic: TopicId, source: AgentId, from: PeerId, pulled: bool) -> Option<Signal> {
        let links = self.links_mut(topic, source);
        let was_pruned = links.pruned.contains(&from);
        if pulled {
            links.pruned.retain(|p| *p != from);
            links.parent = Some(from);
            return Some(Signal::Graft { topic, source });
        }
        // A copy still in flight over a link we pruned names no new parent.
        if !was_pruned || links.parent.is_none() {
            links.parent = Some(from);
        }
        None
    }

    /// A duplicate of one of `source`'s messages came from `from`. Returns a
    /// PRUNE for `from` unless it is the parent or already pruned. A pair
    /// with no first copy on record is left alone: an unverified duplicate
    /// must not create state.
    pub fn duplicate(&mut self, topic: TopicId, source: AgentId, from: PeerId) -> Option<Signal> {
        if source == self.own {
            // Our own message, echoed: no link is our parent for it.
            let links = self.links_mut(topic, source);
            if links.pruned.contains(&from) || links.pruned.len() >= MAX_PRUNED_LINKS {
                return None;
            }
            links.pruned.push(from);
            return Some(Signal::Prune { topic, source });
        }
        let links = self.in_links.get_mut(&(topic, source))?;
        if links.parent == Some(from) || links.pruned.contains(&from) {
            return None;
        }
        if links.parent.is_none() {
            links.parent = Some(from);
            return None;
        }
        if links.pruned.len() >= MAX_PRUNED_LINKS {
            return None;
        }
        links.pruned.push(from);
        Some(Signal::Prune { topic, source })
    }

    /// A signal `from` sent.
    pub fn received(&mut self, from: PeerId, signal: Signal) -> Received {
        match signal {
            Signal::Prune { topic, source } => {
                if !self.pruned_by.contains_key(&from) && self.pruned_by.len() >= MAX_PRUNING_PEERS {
                    evict_one(&mut self.pruned_by);
                }
                let set = self.pruned_by.entry(from).or_default();
                if set.len() >= MAX_PRUNES_PER_PEER {
                    if let Some(old) = set.iter().next().copied() {
                        set.remove(&old);
                    }
                }
                set.insert((topic, source));
                Received::Nothing
            }
            Signal::Graft { topic, source } => {
                if let Some(set) = self.pruned_by.get_mut(&from) {
                    set.remove(&(topic, source));
                    if set.is_empty() {
                        self.pruned_by.remove(&from);
                    }
                }
                Received::GraftEager(topic)
            }
        }
    }

    /// `peer` is gone: its PRUNEs no longer apply, and it parents nothing.
    pub fn forget_peer(&mut self, peer: &PeerId) {
        self.pruned_by.remove(peer);
        for links in self.in_links.values_mut() {
            if links.parent == Some(*peer) {
                links.parent = None;
            }
            links.pruned.retain(|p| p != peer);
        }
    }

    /// Pairs tracked on the receiver side, and PRUNEs held on the sender side.
    pub fn sizes(&self) -> (usize, usize) {
        (self.in_links.len(), self.pruned_by.values().map(HashSet::len).sum())
    }

    fn links_mut(&mut self, topic: TopicId, source: AgentId) -> &mut InLinks {
        let key = (topic, source);
        if !self.in_links.contains_key(&key) && self.in_links.len() >= MAX_TREES {
            evict_one(&mut self.in_links);
        }
        self.in_links.entry(key).or_default()
    }
}

/// Drops an arbitrary entry: every table here may forget (see the module
/// docs), and this keeps a full table O(1) per insert.
fn evict_one<K: Clone + Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>) {
    if let Some(key) = map.keys().next().cloned() {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        PeerId::new([n; 32])
    }
    const T: TopicId = TopicId::new([7; 32]);
    const S: AgentId = [9; 32];
    const OWN: AgentId = [1; 32];

    #[test]
    fn every_echo_of_our_own_message_prunes_its_link_once() {
        let mut t = SourceTrees::new(OWN);
        assert_eq!(t.duplicate(T, OWN, peer(2)), Some(Signal::Prune { topic: T, source: OWN }));
        assert_eq!(t.duplicate(T, OWN, peer(2)), None);
        assert_eq!(t.duplicate(T, OWN, peer(3)), Some(Signal::Prune { topic: T, source: OWN }));
    }

    #[test]
    fn frames_round_trip_and_reject_bad_lengths_and_tags() {
        for s in [Signal::Prune { topic: T, source: S }, Signal::Graft { topic: T, source: S }] {
            let f = s.encode();
            assert_eq!(f.len(), FRAME_LEN);
            assert_eq!(Signal::decode(&f), Some(s));
            assert_eq!(Signal::decode(&f[..64]), None);
            assert_eq!(Signal::decode(&[f.as_slice(), &[0]].concat()), None);
        }
        let mut bad = Signal::Prune { topic: T, source: S }.encode();
        bad[0] = 0x99;
        assert_eq!(Signal::decode(&bad), None);
    }

    #[test]
    fn a_duplicate_from_a_second_link_prunes_it_but_never_the_parent() {
        let mut t = SourceTrees::new(OWN);
        assert_eq!(t.first_copy(T, S, peer(1), false), None);
        assert_eq!(t.duplicate(T, S, peer(1)), None, "the parent");
        assert_eq!(t.duplicate(T, S, peer(2)), Some(Signal::Prune { topic: T, source: S }));
        assert_eq!(t.duplicate(T, S, peer(2)), None, "already pruned");
        // A copy that was in flight over the pruned link names no new parent,
        // so the parent's next duplicate does not prune the last link.
        assert_eq!(t.first_copy(T, S, peer(2), false), None);
        assert_eq!(t.duplicate(T, S, peer(1)), None);
    }

    #[test]
    fn a_pulled_first_copy_grafts_its_link_and_makes_it_the_parent() {
        let mut t = SourceTrees::new(OWN);
        t.first_copy(T, S, peer(1), false);
        t.duplicate(T, S, peer(2));
        assert_eq!(t.first_copy(T, S, peer(2), true), Some(Signal::Graft { topic: T, source: S }));
        assert_eq!(t.duplicate(T, S, peer(2)), None, "new parent");
        assert_eq!(t.duplicate(T, S, peer(1)), Some(Signal::Prune { topic: T, source: S }));
    }

    #[test]
    fn an_unverified_duplicate_creates_no_state() {
        let mut t = SourceTrees::new(OWN);
        assert_eq!(t.duplicate(T, S, peer(1)), None);
        assert_eq!(t.sizes(), (0, 0));
    }

    #[test]
    fn prune_withholds_one_source_from_one_peer_until_graft() {
        let mut t = SourceTrees::new(OWN);
        let other: AgentId = [8; 32];
        assert_eq!(t.received(peer(1), Signal::Prune { topic: T, source: S }), Received::Nothing);
        assert!(t.withheld(&T, &S, &peer(1)));
        assert!(!t.withheld(&T, &other, &peer(1)));
        assert!(!t.withheld(&T, &S, &peer(2)));
        assert_eq!(t.received(peer(1), Signal::Graft { topic: T, source: S }), Received::GraftEager(T));
        assert!(!t.withheld(&T, &S, &peer(1)));
    }

    #[test]
    fn a_peer_pruning_made_up_sources_fills_only_its_quota() {
        let mut t = SourceTrees::new(OWN);
        t.received(peer(2), Signal::Prune { topic: T, source: S });
        for i in 0..(MAX_PRUNES_PER_PEER as u32 * 2) {
            let mut source = [0u8; 32];
            source[..4].copy_from_slice(&i.to_le_bytes());
            t.received(peer(1), Signal::Prune { topic: T, source });
        }
        assert_eq!(t.pruned_by[&peer(1)].len(), MAX_PRUNES_PER_PEER);
        assert!(t.withheld(&T, &S, &peer(2)), "another peer's prune stays");
    }

    #[test]
    fn tracked_sources_are_capped() {
        let mut t = SourceTrees::new(OWN);
        for i in 0..(MAX_TREES as u32 + 10) {
            let mut source = [0u8; 32];
            source[..4].copy_from_slice(&i.to_le_bytes());
            t.first_copy(T, source, peer(1), false);
        }
        assert_eq!(t.sizes().0, MAX_TREES);
    }

    #[test]
    fn a_gone_peer_parents_nothing_and_its_prunes_lapse() {
        let mut t = SourceTrees::new(OWN);
        t.first_copy(T, S, peer(1), false);
        t.received(peer(1), Signal::Prune { topic: T, source: S });
        t.forget_peer(&peer(1));
        assert!(!t.withheld(&T, &S, &peer(1)));
        // No parent: the next link to deliver becomes it rather than pruned.
        assert_eq!(t.duplicate(T, S, peer(2)), None);
        assert_eq!(t.duplicate(T, S, peer(3)), Some(Signal::Prune { topic: T, source: S }));
    }
}
