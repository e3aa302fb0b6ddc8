//! The frame dispatcher: reads every inbound frame and runs it in its
//! protocol's lane ([`crate::inbound_lanes`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use saorsa_gossip_membership::{HyParViewMessage, MembershipProtocolMessage};
use saorsa_gossip_pubsub::PubSub;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use tracing::debug;

use super::{agent_keys, agent_topic_gate, Shared};
#[cfg(feature = "test-hooks")]
use super::agent_test_hooks;
use crate::addr_book;
use crate::anti_entropy;
use crate::bulk_route::{self, BulkRoute};
use crate::flood;
use crate::forward_join;
use crate::inbound_lanes::Lane;
use crate::membership_watch::Goodbye;
use crate::supervise::{self, Scope};
use crate::time::now_ms;

/// Drains Plumtree's delivery channel for a subscribed topic. Delivery
/// itself happens in the topic validator ([`Shared::admit`]), which sees each
/// message once, verified; what arrives here is the same messages again.
/// Reads frames and runs each in its protocol's lane ([`crate::inbound_lanes`]).
pub(super) async fn dispatch_loop(shared: Arc<Shared>) {
    let transport = Arc::clone(&shared.transport);
    let weak = Arc::downgrade(&shared);
    drop(shared);
    while let Ok((from, kind, data)) = transport.receive_message().await {
        let Some(shared) = weak.upgrade() else { break };
        // Never waits: a frame its lane has no room for is dropped, counted.
        #[cfg(feature = "test-hooks")]
        agent_test_hooks::panic_if_asked(kind, &data, agent_test_hooks::PANIC_IN_DISPATCHER);
        let Some(ticket) = shared.lanes.admit(Lane::of(kind, &data), from, data.len()) else { continue };
        let faults = Arc::clone(&shared.faults);
        drop(shared);
        let weak = weak.clone();
        // A panic here costs this one frame, not the dispatcher.
        supervise::spawn(faults, "frame handler", Scope::Frame, async move {
            #[cfg(feature = "test-hooks")]
            agent_test_hooks::panic_if_asked(kind, &data, agent_test_hooks::PANIC_IN_HANDLER);
            // A publisher key this agent lacks is fetched before the frame
            // takes a worker: waiting for it must not stall the lane. The
            // frame's bytes stay charged to its sender's share meanwhile.
            if let Some(publisher) = (kind == GossipStreamType::PubSub).then(|| agent_topic_gate::eager_publisher(&data)).flatten() {
                let Some((keys, transport)) = weak.upgrade().map(|s| (Arc::clone(&s.keys), Arc::clone(&s.transport))) else {
                    return;
                };
                if !agent_keys::publisher_key(&keys, &transport, publisher, from).await {
                    return;
                }
            }
            let Some(_worker) = ticket.start().await else { return };
            let Some(shared) = weak.upgrade() else { return };
            let _ticket = ticket;
            match kind {
                GossipStreamType::Membership => {
                    let msg = postcard::from_bytes::<MembershipProtocolMessage>(&data).ok();
                    if let Some(MembershipProtocolMessage::HyParView(HyParViewMessage::Disconnect)) = msg {
                        // Whether it was our neighbour when it said goodbye:
                        // the watcher may not have ticked since it joined.
                        let was_active = shared.membership.sample_active(usize::MAX).await.contains(&from);
                        if let Ok(mut g) = shared.hints.goodbyes.lock() {
                            g.insert(from, Goodbye { at_ms: now_ms(), was_active });
                        }
                    }
                    let fj = msg.as_ref().and_then(forward_join::forward_join);
                    let accepts = match fj {
                        Some(fj) => {
                            forward_join::before_dispatch(&shared.membership, &shared.transport, shared.active_degree, fj)
                                .await
                        }
                        None => false,
                    };
                    if let Err(e) = shared.membership.dispatch_message(from, &data).await {
                        debug!("membership frame from {from}: {e}");
                        if let (true, Some((joiner, _))) = (accepts, fj) {
                            if forward_join::after_failed_dispatch(&shared.membership, &shared.transport, joiner).await {
                                debug!("FORWARDJOIN: NEIGHBOR to {joiner} never went out; back to passive");
                            }
                        }
                    }
                    shared.hints.wake.notify_one();
                }
                GossipStreamType::PubSub => {
                    if !shared.gate_topic(from, &data).await {
                        return;
                    }
                    if let Err(e) = shared.pubsub.handle_message(from, data).await {
                        debug!("pubsub frame from {from}: {e}");
                    }
                }
                GossipStreamType::Bulk => match bulk_route::route(&data) {
                    BulkRoute::Interest => {
                        if !shared.interest.on_frame(from, &data) {
                            shared.counters.unroutable_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    BulkRoute::Flood => {
                        if shared.flood.receive(from, &data, now_ms()) {
                            flood::send_to_all(&shared.transport, data, Some(from)).await;
                        }
                    }
                    BulkRoute::AntiEntropy => {
                        #[cfg(feature = "test-hooks")]
                        if shared.tapped_anti_entropy(from, &data) {
                            return;
                        }
                        anti_entropy::on_frame(&*shared, from, &data).await;
                    }
                    BulkRoute::Foaf => shared.on_foaf_frame(from, &data).await,
                    BulkRoute::Rendezvous => shared.on_rendezvous_frame(from, &data).await,
                    BulkRoute::Keys => shared.on_key_frame(from, &data).await,
                    BulkRoute::Tree => shared.on_tree_frame(from, &data).await,
                    BulkRoute::AddrBook => match addr_book::decode(&data) {
                        Some(entries) => {
                            for (peer, addr) in entries {
                                shared.transport.learn_hint(peer, addr, from);
                            }
                        }
                        None => {
                            shared.counters.unroutable_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                },
            }
        });
    }
}
