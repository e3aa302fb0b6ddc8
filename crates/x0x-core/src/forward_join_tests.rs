//! A FORWARDJOIN leaves either a link both ends know about or none: the
//! receiver's NEIGHBOR reaches a joiner whose address is announced late, and
//! a joiner it cannot reach at all does not stay in its active view.

use std::time::Duration;

use bytes::Bytes;
use saorsa_gossip_membership::{HyParViewMessage, MembershipProtocolMessage};
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;

use crate::{addr_book, Agent, AgentKeypair, AgentOptions};

async fn start() -> Agent {
    Agent::start(AgentKeypair::generate().unwrap(), AgentOptions::default()).await.unwrap()
}

fn peer(agent: &Agent) -> PeerId {
    agent.shared.keypair.peer_id()
}

async fn send(from: &Agent, to: &Agent, stream: GossipStreamType, frame: Vec<u8>) {
    from.shared.transport.send_to_peer(peer(to), stream, Bytes::from(frame)).await.unwrap();
}

fn forward_join(sender: PeerId, new_peer: PeerId) -> Vec<u8> {
    let msg = HyParViewMessage::ForwardJoin { sender, new_peer, ttl: 5 };
    postcard::to_stdvec(&MembershipProtocolMessage::HyParView(msg)).unwrap()
}

async fn active(agent: &Agent) -> Vec<PeerId> {
    agent.shared.membership.sample_active(usize::MAX).await
}

/// Polls `check` every 50 ms for up to `secs` seconds.
async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 20 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_join_before_the_joiners_address_still_links_both_ends() {
    let receiver = start().await;
    let forwarder = start().await;
    let joiner = start().await;
    forwarder.join(vec![receiver.local_addr()]).await.unwrap();
    // The FORWARDJOIN overtakes the address announcement, as it can when the
    // two travel on separate streams.
    send(&forwarder, &receiver, GossipStreamType::Membership, forward_join(peer(&forwarder), peer(&joiner))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let announcement = addr_book::encode(&[(peer(&joiner), joiner.local_addr())]);
    send(&forwarder, &receiver, GossipStreamType::Bulk, announcement).await;

    let linked = eventually(10, || async {
        active(&receiver).await.contains(&peer(&joiner)) && active(&joiner).await.contains(&peer(&receiver))
    })
    .await;
    assert!(linked, "receiver {:?}, joiner {:?}", active(&receiver).await, active(&joiner).await);
    for a in [receiver, forwarder, joiner] {
        a.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_join_for_an_unreachable_joiner_leaves_no_one_sided_neighbour() {
    let receiver = start().await;
    let forwarder = start().await;
    forwarder.join(vec![receiver.local_addr()]).await.unwrap();
    // Nobody ever says where this peer is.
    let ghost = PeerId::new(rand::random());
    send(&forwarder, &receiver, GossipStreamType::Membership, forward_join(peer(&forwarder), ghost)).await;

    let m = &receiver.shared.membership;
    let passive = eventually(10, || async { m.sample_passive(usize::MAX).await.contains(&ghost) }).await;
    assert!(passive, "the ghost never reached the passive view");
    assert!(!active(&receiver).await.contains(&ghost), "the ghost stayed an active neighbour");
    receiver.close().await;
    forwarder.close().await;
}
