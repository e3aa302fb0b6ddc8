//! x0x patch 7: per-source eager routing.
//!
//! Plumtree keeps one eager/lazy split per topic, shared by every publisher.
//! With several publishers that split cannot be a tree for all of them at
//! once, so upstream keeps a minimum eager degree and prunes only locally
//! (a node that receives a duplicate stops pushing to the sender, and the
//! sender is never told): every payload travels about twice per delivery.
//!
//! A [`SourceRouting`] hook lets the application keep one tree per
//! *source* (publisher) on top of the topic's eager set: it is told of every
//! first copy and every duplicate, and asked, per eager peer, whether a push
//! is withheld. A withheld peer gets the message id in an IHAVE instead, so
//! the lazy path still repairs a broken tree. The hook carries the PRUNE and
//! GRAFT signals on its own wire (the source is named inside the
//! application's payload, which Plumtree does not parse).
//!
//! With a hook installed, a duplicate no longer demotes its sender in the
//! topic's eager set (the hook prunes that one source instead), and
//! [`crate::PlumtreePubSub::graft_eager`] lets the hook put a peer that asked
//! for a source back into the eager set.

use saorsa_gossip_types::{PeerId, TopicId};

/// The application's per-source routing. Called with the topic's lock held:
/// every method must return at once (no blocking, no awaiting).
pub trait SourceRouting: Send + Sync + 'static {
    /// Whether the eager push of `payload` to `peer` is withheld (that peer
    /// pruned this payload's source). Withheld peers are sent an IHAVE.
    fn withhold(&self, topic: &TopicId, payload: &[u8], peer: &PeerId) -> bool;

    /// A copy of a message this node already holds arrived from `from`.
    fn duplicate(&self, topic: &TopicId, payload: &[u8], from: &PeerId);

    /// A first copy, accepted by the topic's validator, arrived from `from`;
    /// `pulled` when it answered this node's IWANT (the eager path failed).
    fn first_copy(&self, topic: &TopicId, payload: &[u8], from: &PeerId, pulled: bool);
}
