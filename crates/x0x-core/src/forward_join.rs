//! Keeps HyParView's FORWARDJOIN from leaving one-sided links.
//!
//! saorsa-gossip accepts a FORWARDJOIN by putting the joining peer in its
//! active view first and then sending it a NEIGHBOR request. The FORWARDJOIN
//! names the joiner by id only; its address arrives in a separate address
//! announcement ([`crate::addr_book`]) that can land after the FORWARDJOIN.
//! The NEIGHBOR then fails for want of an address, yet the joiner stays in the
//! active view while it never hears of us. Such a one-sided neighbour is not
//! among the peers the joiner says goodbye to when it closes, so it suspects
//! the joiner and reports it failed instead of gone.
//!
//! Before the frame is dispatched we wait, briefly, for the joiner's address.
//! If the NEIGHBOR still fails, the joiner goes back to the passive view, as
//! it would had it refused the request.

use std::time::Duration;

use saorsa_gossip_membership::{HyParViewMembership, HyParViewMessage, MembershipProtocolMessage};
use saorsa_gossip_transport::GossipTransport;
use saorsa_gossip_types::PeerId;

use crate::transport::QuicTransport;

/// How long a FORWARDJOIN waits for the joiner's address. The announcement
/// normally left the forwarding peer before the FORWARDJOIN did; this bound
/// only covers reordering between the two streams on a busy machine.
const ADDR_WAIT: Duration = Duration::from_secs(2);

/// A FORWARDJOIN's joiner and remaining random-walk length.
pub(crate) fn forward_join(msg: &MembershipProtocolMessage) -> Option<(PeerId, usize)> {
    match msg {
        MembershipProtocolMessage::HyParView(HyParViewMessage::ForwardJoin { new_peer, ttl, .. }) => {
            Some((*new_peer, *ttl))
        }
        _ => None,
    }
}

/// When the library will accept the joiner (its own rule: the walk ended or
/// the active view has room), waits until the joiner can be dialled or
/// [`ADDR_WAIT`] passes, so the NEIGHBOR request can reach it. A FORWARDJOIN
/// that is only passed on does not wait. Returns whether it will accept.
pub(crate) async fn before_dispatch(
    membership: &HyParViewMembership<QuicTransport>,
    transport: &QuicTransport,
    active_degree: usize,
    (joiner, ttl): (PeerId, usize),
) -> bool {
    let accepts = ttl == 0 || membership.sample_active(usize::MAX).await.len() < active_degree;
    if accepts && joiner != transport.local_peer_id() {
        transport.wait_reachable(&joiner, ADDR_WAIT).await;
    }
    accepts
}

/// Undoes a one-sided link after an accepted FORWARDJOIN whose dispatch
/// failed (the NEIGHBOR send is the step that can fail): if the joiner is in
/// our active view and we hold no connection to it, it never heard of us.
/// The dispatch error is what tells this apart from a duplicate FORWARDJOIN
/// handled while the first one's NEIGHBOR is still dialling. Returns true
/// when it undid a link.
pub(crate) async fn after_failed_dispatch(
    membership: &HyParViewMembership<QuicTransport>,
    transport: &QuicTransport,
    joiner: PeerId,
) -> bool {
    if !membership.sample_active(usize::MAX).await.contains(&joiner) || transport.is_connected(&joiner).await {
        return false;
    }
    // The library's path for a refused NEIGHBOR: out of the active view, into
    // the passive one, with no failure verdict on a peer we never reached.
    // SWIM keeps tracking it, so a passive entry that never becomes reachable
    // is found dead before anything promotes it.
    let _ = membership.handle_neighbor_reply(joiner, false).await;
    true
}
