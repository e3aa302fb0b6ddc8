//! The agent's side of publisher keys (see [`crate::publisher_keys`]):
//! asking the sender of a frame for a key this agent lacks, and answering
//! such asks.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Instant;

use bytes::Bytes;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;
use tokio::sync::broadcast;
use tracing::debug;

use super::Shared;
use crate::identity::AgentId;
use crate::publisher_keys::{self, Frame, KeyBook, Want, FETCH_TIMEOUT};
use crate::transport::{ConnectionEvent, QuicTransport};

/// Makes sure `keys` holds `publisher`'s key, asking `from` (the peer that
/// sent a frame naming it) when it does not. False when the key could not be
/// had in [`FETCH_TIMEOUT`] or too many asks are in flight: the frame is
/// then dropped, and the message may still come by another path.
///
/// Takes the book and the transport rather than the agent, so a frame
/// waiting here keeps no agent alive and holds no worker of its lane.
pub(super) async fn publisher_key(keys: &KeyBook, transport: &QuicTransport, publisher: AgentId, from: PeerId) -> bool {
    let mut done = match keys.want(publisher, from, Instant::now()) {
        Want::Known => return true,
        Want::Refused => return false,
        Want::Wait(done) => done,
        Want::Ask(done) => {
            let want = Bytes::from(publisher_keys::encode_want(&[publisher]));
            let sent = tokio::time::timeout(FETCH_TIMEOUT, transport.send_to_peer(from, GossipStreamType::Bulk, want));
            if !matches!(sent.await, Ok(Ok(()))) {
                keys.timed_out(&publisher, from);
                return false;
            }
            done
        }
    };
    let answered = tokio::time::timeout(FETCH_TIMEOUT, done.wait_for(|got| *got)).await;
    if !matches!(answered, Ok(Ok(_))) {
        // Only an ask made of `from` is ours to give up.
        keys.timed_out(&publisher, from);
    }
    keys.get(&publisher).is_some()
}

/// Introduces this agent's key to every peer that connects: a publisher
/// that leaves right after publishing (`x0x pub`) could otherwise no longer
/// answer the WANT its first hop sends for it, and the message was lost
/// there. One 1,954-byte frame per connection.
pub(super) async fn introduce_loop(keys: Weak<KeyBook>, transport: Weak<QuicTransport>, mut events: broadcast::Receiver<ConnectionEvent>) {
    loop {
        match events.recv().await {
            Ok(ConnectionEvent { connected: true, peer, .. }) => {
                let (Some(keys), Some(transport)) = (keys.upgrade(), transport.upgrade()) else { return };
                let have = Bytes::from(keys.introduction());
                // Not awaited in line: a slow peer must not delay the next.
                tokio::spawn(async move {
                    let sent = tokio::time::timeout(FETCH_TIMEOUT, transport.send_to_peer(peer, GossipStreamType::Bulk, have));
                    if !matches!(sent.await, Ok(Ok(()))) {
                        debug!("introducing our key to {peer} failed");
                    }
                });
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl Shared {
    /// A WANT or HAVE from `from`.
    pub(super) async fn on_key_frame(&self, from: PeerId, data: &[u8]) {
        match publisher_keys::decode(data) {
            Some(Frame::Want(ids)) => {
                let keys = self.keys.serve(from, &ids, Instant::now());
                if keys.is_empty() {
                    return;
                }
                let have = Bytes::from(publisher_keys::encode_have(&keys));
                if let Err(e) = self.transport.send_to_peer(from, GossipStreamType::Bulk, have).await {
                    debug!("publisher keys to {from}: {e}");
                }
            }
            Some(Frame::Have(keys)) => self.keys.on_have(from, &keys),
            None => {
                self.keys.stats.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// [`publisher_key`] for an envelope from anti-entropy; true when the
    /// frame names no publisher (the validator refuses it anyway).
    pub(super) async fn key_for_envelope(&self, from: PeerId, frame: &[u8]) -> bool {
        match crate::envelope::publisher_of(frame) {
            Some(publisher) => publisher_key(&self.keys, &self.transport, publisher, from).await,
            None => true,
        }
    }
}
