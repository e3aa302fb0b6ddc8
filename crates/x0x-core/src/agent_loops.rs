//! Background loops that follow connection and membership changes: address
//! and topic-interest announcements to each new connection, and every
//! topic's Plumtree peer set.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;
use tokio::sync::broadcast;

use super::Shared;
use crate::addr_book;

/// Tells each new connection where our other connections are, and our other
/// connections where the new one is (see [`addr_book`]).
pub(super) async fn addr_announce_loop(shared: Weak<Shared>) {
    let mut events = match shared.upgrade() {
        Some(s) => s.transport.subscribe_events(),
        None => return,
    };
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        let Some(s) = shared.upgrade() else { break };
        if !event.connected {
            // A superseded connection can close after its successor opened.
            if !s.transport.is_connected(&event.peer).await {
                s.interest.forget(&event.peer);
            }
            continue;
        }
        let frame = s.interest_frame(&*s.topics.lock().await);
        s.announce_interest(frame, Some(event.peer)).await;
        let Some(new_addr) = event.addr else { continue };
        let me = s.transport.advertised_addrs().first().copied().unwrap_or_else(|| s.transport.local_addr());
        let mut known: Vec<(PeerId, SocketAddr)> = vec![(s.keypair.peer_id(), me)];
        let connected = s.transport.connected().await;
        for (peer, addr) in &connected {
            if *peer != event.peer {
                if let Some(a) = addr.or_else(|| s.transport.peer_addr(peer)) {
                    known.push((*peer, a));
                }
            }
        }
        let to_new = Bytes::from(addr_book::encode(&known));
        let about_new = Bytes::from(addr_book::encode(&[(event.peer, new_addr)]));
        let t = Arc::clone(&s.transport);
        let new_peer = event.peer;
        tokio::spawn(async move {
            let _ = t.send_to_peer(new_peer, GossipStreamType::Bulk, to_new).await;
            for (peer, _) in connected {
                if peer != new_peer {
                    let _ = t.send_to_peer(peer, GossipStreamType::Bulk, about_new.clone()).await;
                }
            }
        });
    }
}

/// Hands Plumtree the current peer set of every topic whenever it can have
/// changed: a connection opened or closed, the membership view moved, or a
/// caller asked ([`Shared::refresh`]). Plumtree has no membership of its own.
/// There is no timer: Plumtree re-grafts lazy peers on every refresh, so a
/// periodic one undoes its pruning and multiplies duplicates.
pub(super) async fn topic_refresh_loop(shared: Weak<Shared>) {
    let (mut events, mut membership, notify) = match shared.upgrade() {
        Some(s) => (s.transport.subscribe_events(), s.membership_events.subscribe(), Arc::clone(&s.refresh)),
        None => return,
    };
    loop {
        tokio::select! {
            _ = notify.notified() => {}
            ev = events.recv() => {
                if matches!(ev, Err(broadcast::error::RecvError::Closed)) {
                    break;
                }
            }
            ev = membership.recv() => {
                if matches!(ev, Err(broadcast::error::RecvError::Closed)) {
                    break;
                }
            }
        }
        let Some(s) = shared.upgrade() else { break };
        let peers = s.gossip_peers().await;
        for tid in s.pubsub.all_topic_ids().await {
            s.pubsub.set_topic_peers(tid, peers.clone()).await;
        }
    }
}
