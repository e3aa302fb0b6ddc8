//! Topic state from unverified frames is bounded (issue 14, finding 7).
//!
//! Plumtree relays every topic through every peer, so an agent keeps state
//! (its `known_topics` entry, a validator, Plumtree's per-topic tree) for
//! topics it does not subscribe to as soon as a frame for one arrives. A
//! Plumtree header's topic id is read before any signature check, so any
//! peer could make an agent create that state with a 70-byte frame per
//! made-up topic, without end.
//!
//! So, for a topic this agent holds no state for yet:
//! - an EAGER frame reaches Plumtree only when its payload is a valid, fresh
//!   x0x envelope for that topic; a forged one creates nothing;
//! - a control frame (IHAVE, IWANT, ...) cannot be verified, yet an honest
//!   relay that a publisher reaches over a lazy link hears of the topic that
//!   way first, and must answer to be sent the message. Such frames may
//!   create state only within a quota: [`UNVERIFIED_TOPICS_PER_PEER`] per
//!   peer and [`UNVERIFIED_TOPICS`] in all, over the agent's lifetime; a
//!   topic later confirmed by a verified EAGER gives its place back.
//!
//! Everything else is dropped before Plumtree sees it and counted in
//! `inbound.unknownTopicDropped`. Subscribed topics are known from the moment
//! of `subscribe`. All topics together are capped at [`MAX_RELAY_TOPICS`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use saorsa_gossip_pubsub::GossipMessage;
use saorsa_gossip_types::{MessageHeader, MessageKind, PeerId, TopicId};

use super::Shared;
use crate::identity::AgentId;
use crate::{envelope, MAX_PAYLOAD_BYTES};

/// Most topics an agent holds state for (subscribed or relayed); a frame for
/// a new topic past this is dropped.
pub const MAX_RELAY_TOPICS: usize = 16_384;
/// Topics one peer may make this agent take up with frames it cannot verify.
pub const UNVERIFIED_TOPICS_PER_PEER: usize = 16;
/// Topics all peers together may make it take up that way.
pub const UNVERIFIED_TOPICS: usize = 256;

/// Topics taken up from unverified frames, and who caused them.
#[derive(Default)]
pub(crate) struct Unverified {
    by_topic: HashMap<TopicId, PeerId>,
    per_peer: HashMap<PeerId, usize>,
}

impl Unverified {
    /// Takes a place for `topic` on `peer`'s quota; false when none is left.
    fn take(&mut self, topic: TopicId, peer: PeerId) -> bool {
        let used = self.per_peer.get(&peer).copied().unwrap_or(0);
        if used >= UNVERIFIED_TOPICS_PER_PEER || self.by_topic.len() >= UNVERIFIED_TOPICS {
            return false;
        }
        self.by_topic.insert(topic, peer);
        self.per_peer.insert(peer, used + 1);
        true
    }

    fn holds(&self, topic: &TopicId) -> bool {
        self.by_topic.contains_key(topic)
    }

    /// `topic` was confirmed by a verified message: its place is free again.
    fn confirm(&mut self, topic: &TopicId) {
        if let Some(peer) = self.by_topic.remove(topic) {
            if let Some(used) = self.per_peer.get_mut(&peer) {
                *used = used.saturating_sub(1);
                if *used == 0 {
                    self.per_peer.remove(&peer);
                }
            }
        }
    }
}

/// The prefix of a Plumtree frame up to its payload, borrowed: enough to
/// find an envelope's publisher without copying the payload.
#[derive(serde::Deserialize)]
struct EagerPrefix<'a> {
    header: MessageHeader,
    #[serde(borrow)]
    payload: Option<&'a [u8]>,
}

/// The publisher named by the envelope in an EAGER frame (a push or an
/// IWANT answer): whose key the validator will need. `None` for control
/// frames and for anything that is not an x0x envelope, which the
/// validator refuses without a key.
pub(super) fn eager_publisher(data: &[u8]) -> Option<AgentId> {
    let (prefix, _) = postcard::take_from_bytes::<EagerPrefix<'_>>(data).ok()?;
    if prefix.header.kind != MessageKind::Eager {
        return None;
    }
    envelope::publisher_of(prefix.payload?)
}

impl Shared {
    /// Whether a pub/sub frame from `from` may reach Plumtree; a frame that
    /// starts a new relay topic is checked first, and its topic prepared.
    pub(super) async fn gate_topic(&self, from: PeerId, data: &[u8]) -> bool {
        // Plumtree rejects what has no header, before it keeps any state.
        let Ok((header, _)) = postcard::take_from_bytes::<MessageHeader>(data) else { return true };
        let topic = header.topic;
        let (known, full) = self
            .known_topics
            .lock()
            .map(|k| (k.contains(&topic), k.len() >= MAX_RELAY_TOPICS))
            .unwrap_or((false, true));
        // Taken up unverified and not yet confirmed.
        let pending = known && self.unverified.lock().is_ok_and(|u| u.holds(&topic));
        if known && !pending {
            return true;
        }
        if header.kind == MessageKind::Eager {
            // A known topic's frames go on to the validator, which counts
            // a bad one; only an unknown topic's are counted here.
            let verified = self.verified_eager(data, !known);
            if verified && pending {
                if let Ok(mut u) = self.unverified.lock() {
                    u.confirm(&topic);
                }
            }
            if known {
                return true;
            }
            if !verified || full {
                self.counters.unknown_topic_dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        } else if known {
            return true;
        } else if full || !self.unverified.lock().is_ok_and(|mut u| u.take(topic, from)) {
            self.counters.unknown_topic_dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.ensure_topic(topic).await;
        true
    }

    /// An EAGER frame carrying a verified, fresh envelope for its topic;
    /// `count` says whether a failure is counted (as the validator would).
    fn verified_eager(&self, data: &[u8], count: bool) -> bool {
        let Ok((msg, _)) = postcard::take_from_bytes::<GossipMessage>(data) else { return false };
        let Some(payload) = msg.payload.as_deref() else { return false };
        let opened = if count {
            self.open_fresh(&msg.header.topic, payload)
        } else {
            envelope::open(payload, &msg.header.topic, MAX_PAYLOAD_BYTES).ok()
        };
        opened.is_some_and(|opened| {
            let key = self.keys.get(&opened.publisher);
            let ok = key.is_some_and(|key| opened.verify(&key).is_ok());
            if !ok && count {
                self.counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
            }
            ok
        })
    }

    /// Topics this agent holds state for.
    #[cfg(feature = "test-hooks")]
    pub(super) fn known_topic_count(&self) -> usize {
        self.known_topics.lock().map(|k| k.len()).unwrap_or(0)
    }
}
