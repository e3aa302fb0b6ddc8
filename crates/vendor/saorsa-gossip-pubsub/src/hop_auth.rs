//! x0x patch: per-frame signatures made optional where the transport already
//! authenticates every hop.
//!
//! Plumtree signs each frame header with the sending node's ML-DSA-65 key and
//! carries that key in the frame (3,309 + 1,952 bytes, one sign per send and
//! one verify per receipt). Over a transport whose connections are themselves
//! ML-DSA-authenticated (ant-quic's raw-public-key TLS), the receiver already
//! knows which peer sent the frame, so the signature proves nothing new; the
//! application's own end-to-end signature (x0x's envelope) still proves the
//! publisher of every payload. [`HopSigner`] keeps the node's key and either
//! signs as before or, once [`HopSigner::set_transport_authenticated`] is on,
//! produces empty signature and key fields that receivers in the same mode
//! accept from the authenticated `from` peer.

use saorsa_gossip_identity::MlDsaKeyPair;
use saorsa_gossip_types::PeerId;
use std::sync::atomic::{AtomicBool, Ordering};

/// The node's frame signer: the key pair plus the hop-authentication mode.
/// Exposes the key pair's `sign`/`public_key`/`peer_id` so call sites are
/// unchanged.
#[derive(Debug)]
pub struct HopSigner {
    key: MlDsaKeyPair,
    transport_authenticated: AtomicBool,
}

impl HopSigner {
    pub(crate) fn new(key: MlDsaKeyPair) -> Self {
        Self {
            key,
            transport_authenticated: AtomicBool::new(false),
        }
    }

    /// Switches frames to transport-authenticated hops (no per-frame
    /// signature or key). Every peer of this node must be in the same mode.
    pub(crate) fn set_transport_authenticated(&self, on: bool) {
        self.transport_authenticated.store(on, Ordering::Relaxed);
    }

    /// Whether frames rely on the transport's authentication of each hop.
    pub(crate) fn transport_authenticated(&self) -> bool {
        self.transport_authenticated.load(Ordering::Relaxed)
    }

    /// Signature for a frame header: empty with transport-authenticated hops.
    pub(crate) fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        if self.transport_authenticated() {
            return Ok(Vec::new());
        }
        self.key.sign(message)
    }

    /// Public key carried in frames: empty with transport-authenticated hops.
    pub(crate) fn public_key(&self) -> &[u8] {
        if self.transport_authenticated() {
            return &[];
        }
        self.key.public_key()
    }

    /// The node's peer id (always the real one; message ids bind it).
    pub(crate) fn peer_id(&self) -> PeerId {
        self.key.peer_id()
    }
}
