//! Proves the configured passive view size reaches the running HyParView:
//! a neighbour floods a shuffle reply naming more peers than any allowed
//! passive size, and the view fills to exactly the configured cap.

use std::time::Duration;

use bytes::Bytes;
use saorsa_gossip_membership::{HyParViewMessage, MembershipProtocolMessage};
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;

use crate::{Agent, AgentConfig, AgentKeypair, AgentOptions};

async fn start(passive: usize) -> Agent {
    let config = AgentConfig { passive_view_size: passive, ..AgentConfig::default() };
    Agent::start(AgentKeypair::generate().unwrap(), AgentOptions { config, ..AgentOptions::default() })
        .await
        .unwrap()
}

/// Largest passive view `agent` reaches after a 200-peer shuffle reply.
async fn passive_after_flood(passive: usize) -> usize {
    let agent = start(passive).await;
    let neighbour = start(96).await;
    neighbour.join(vec![agent.local_addr()]).await.unwrap();
    let peers: Vec<PeerId> = (0..200).map(|_| PeerId::new(rand::random())).collect();
    let frame = postcard::to_stdvec(&MembershipProtocolMessage::HyParView(HyParViewMessage::ShuffleReply { peers }))
        .unwrap();
    neighbour
        .shared
        .transport
        .send_to_peer(agent.shared.keypair.peer_id(), GossipStreamType::Membership, Bytes::from(frame))
        .await
        .unwrap();
    let mut largest = 0;
    for _ in 0..40 {
        largest = largest.max(agent.shared.membership.sample_passive(usize::MAX).await.len());
        if largest >= passive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Keep watching a little: the cap must hold, not just be reached.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        largest = largest.max(agent.shared.membership.sample_passive(usize::MAX).await.len());
    }
    neighbour.close().await;
    agent.close().await;
    largest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_view_fills_to_the_configured_size_and_no_further() {
    assert_eq!(passive_after_flood(64).await, 64);
    assert_eq!(passive_after_flood(96).await, 96);
}
