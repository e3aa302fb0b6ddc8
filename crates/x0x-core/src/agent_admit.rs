//! The one check an inbound pub/sub message gets, before Plumtree delivers or
//! forwards it (and before anti-entropy delivers it): parse, freshness,
//! publisher key, signature, dedup.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use saorsa_gossip_pubsub::{TopicValidator, ValidationAction};
use saorsa_gossip_types::TopicId;

use super::agent_subscription::deliver;
use super::{Message, Shared};
use crate::envelope::{self, Rejection};
use crate::identity::{AgentId, PublicKey};
use crate::records;
use crate::time::now_ms;
use crate::MAX_PAYLOAD_BYTES;

impl Shared {
    /// Parses a frame and checks size and freshness; counts what it drops.
    pub(super) fn open_fresh<'a>(&self, tid: &TopicId, frame: &'a [u8]) -> Option<envelope::Opened<'a>> {
        let opened = match envelope::open(frame, tid, MAX_PAYLOAD_BYTES) {
            Ok(o) => o,
            Err(Rejection::Oversized) => {
                self.counters.oversized_dropped.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Err(_) => {
                self.counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let wall = now_ms();
        if wall.saturating_sub(opened.published_at) > self.message_ttl_ms
            || opened.published_at > wall + records::MAX_CLOCK_SKEW_MS
        {
            // Outside the freshness window the dedup cache can no longer vouch
            // for it, so an old frame replayed later is never delivered twice.
            self.counters.stale_dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(opened)
    }

    /// The key to verify `publisher`'s envelope with. The frame's handler
    /// fetched it before the frame got here ([`agent_keys::publisher_key`](super::agent_keys::publisher_key)),
    /// so a miss means that failed (or the key was evicted since); counted.
    fn publisher_key_here(&self, publisher: &AgentId) -> Option<PublicKey> {
        let key = self.keys.get(publisher);
        if key.is_none() {
            self.counters.no_key_dropped.fetch_add(1, Ordering::Relaxed);
        }
        key
    }

    /// Records a verified envelope as seen; the message to deliver if it is
    /// new here.
    fn first_sight(&self, topic: String, env: envelope::Envelope) -> Option<Message> {
        let fresh = self.dedup.lock().map(|mut d| d.insert(env.id, Instant::now())).unwrap_or(true);
        if !fresh {
            self.counters.duplicates_dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Message {
            topic,
            payload: env.payload,
            from: env.publisher,
            id: env.id,
            published_at: env.published_at,
            received_at: now_ms(),
        })
    }

    /// Verifies and dedups one payload from x0x's own anti-entropy; `None` if
    /// it must not be delivered.
    pub(super) fn accept(&self, tid: &TopicId, frame: &[u8]) -> Option<Message> {
        let opened = self.open_fresh(tid, frame)?;
        // Cheap check first; the id is only recorded after the signature
        // verifies, so a forgery cannot shadow the genuine message.
        if self.dedup.lock().map(|mut d| d.contains(&opened.id, Instant::now())).unwrap_or(false) {
            self.counters.duplicates_dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let key = self.publisher_key_here(&opened.publisher)?;
        let Ok(env) = opened.verify(&key) else {
            self.counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let topic = self.local_topics.read().ok().and_then(|l| l.get(tid).map(|t| t.name.clone()));
        self.first_sight(topic.unwrap_or_default(), env)
    }

    /// Plumtree's verdict on an inbound payload, given before it delivers or
    /// forwards anything: the one signature check a message gets here. A
    /// valid message is delivered to local subscribers from here, once; a
    /// forged, malformed or stale one goes no further, so it is never
    /// amplified.
    fn admit(&self, tid: &TopicId, frame: &[u8]) -> ValidationAction {
        let Some(opened) = self.open_fresh(tid, frame) else { return ValidationAction::Drop };
        let Some(key) = self.publisher_key_here(&opened.publisher) else { return ValidationAction::Drop };
        let Ok(env) = opened.verify(&key) else {
            self.counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
            return ValidationAction::Drop;
        };
        // Plumtree drops what it has seen before calling us, so this is
        // seen only when x0x got it first (its own publish or anti-entropy);
        // forwarding it is still right.
        // One look-up of the topic per message. A pass-through topic (no
        // local subscription) is not even marked seen: relaying a message
        // is not delivering it, and an agent that subscribes later must
        // still take it from anti-entropy, which the mark would refuse as a
        // duplicate until it expired.
        let local = self.local_topics.read().ok().and_then(|l| {
            l.get(tid).map(|t| (t.name.clone(), Arc::clone(&t.subscribers)))
        });
        if let Some((name, subscribers)) = local {
            if let Some(message) = self.first_sight(name.clone(), env) {
                self.anti_entropy.remember(&name, message.id, Bytes::copy_from_slice(frame));
                deliver(&subscribers, &self.counters, message);
            }
        }
        ValidationAction::ForwardAndDeliver
    }

    /// The validator registered with Plumtree for every topic this agent
    /// handles (see [`Self::admit`]).
    pub(super) fn validator(&self) -> TopicValidator {
        let me = self.me.clone();
        Arc::new(move |tid: &TopicId, payload: &[u8]| match me.upgrade() {
            Some(shared) => shared.admit(tid, payload),
            None => ValidationAction::Drop,
        })
    }
}
