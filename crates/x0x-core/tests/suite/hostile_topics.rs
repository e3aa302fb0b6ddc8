//! Frames for made-up topics, over real QUIC on 127.0.0.1 (issue 14,
//! finding 7). The pub/sub header's topic id used to be read, and the topic's
//! state created (x0x's known topics, Plumtree's per-topic tree), before any
//! signature check: thousands of 70-byte frames for random topics made as
//! many topic states (3,001 for 3,000 frames). The hostile agent sends its frames through the
//! `test-hooks` feature's `Agent::send_raw`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use saorsa_gossip_pubsub::GossipMessage;
use saorsa_gossip_types::{MessageHeader, MessageKind, TopicId};
use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, RawStream, UNVERIFIED_TOPICS_PER_PEER};

async fn agent() -> Agent {
    let config = AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() };
    let options = AgentOptions { config, ..AgentOptions::default() };
    Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap()
}

/// A Plumtree frame for a random topic, unsigned; about 70 bytes.
fn junk(kind: MessageKind, payload: Option<&[u8]>) -> Vec<u8> {
    let header = MessageHeader {
        version: 1,
        topic: TopicId::new(rand::random()),
        msg_id: rand::random(),
        kind,
        hop: 0,
        ttl: 10,
        payload_hash: None,
    };
    let msg = GossipMessage { header, payload: payload.map(Bytes::copy_from_slice), signature: vec![], public_key: vec![] };
    postcard::to_stdvec(&msg).unwrap()
}

fn counter(agent: &Agent, name: &str) -> u64 {
    agent.diagnostics().unwrap().into_iter().find(|(k, _)| k == name).map_or(0, |(_, v)| v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_for_random_topics_leave_topic_state_bounded() {
    let victim = agent().await;
    let _own = victim.subscribe("mine").await.unwrap();
    let hostile = agent().await;
    let to = hostile.connect_raw(victim.local_addr()).await.unwrap();
    let (known0, plumtree0) = victim.topic_state_counts().await.unwrap();
    const N: usize = 3000;
    for i in 0..N {
        let frame = match i % 3 {
            0 => junk(MessageKind::IHave, None),
            1 => junk(MessageKind::Eager, Some(b"not an envelope")),
            _ => junk(MessageKind::IWant, None),
        };
        assert!(frame.len() < 100, "{} bytes", frame.len());
        hostile.send_raw(to, RawStream::PubSub, frame).await.unwrap();
    }
    // Until every frame was handled one way or the other.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut counts = victim.topic_state_counts().await.unwrap();
    while Instant::now() < deadline
        && counts.0 < known0 + N
        && counter(&victim, "inbound.unknownTopicDropped") < (N - UNVERIFIED_TOPICS_PER_PEER) as u64
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        counts = victim.topic_state_counts().await.unwrap();
    }
    let dropped = counter(&victim, "inbound.unknownTopicDropped");
    hostile.close().await;
    victim.close().await;
    // Unverifiable control frames may take up a peer's small quota of
    // topics; forged EAGER frames none.
    let cap = (known0 + UNVERIFIED_TOPICS_PER_PEER, plumtree0 + UNVERIFIED_TOPICS_PER_PEER);
    assert!(counts.0 <= cap.0 && counts.1 <= cap.1, "topic states {counts:?} after {N} junk frames (before: {known0}, {plumtree0})");
    assert_eq!(dropped, (N - UNVERIFIED_TOPICS_PER_PEER) as u64, "every other junk frame is counted as dropped");
}

/// The gate must not stop honest relaying: an agent subscribed to nothing
/// still passes a topic's messages on between two agents that cannot reach
/// each other directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribed_agent_still_relays_a_new_topic() {
    let (relay, publisher, subscriber) = (agent().await, agent().await, agent().await);
    publisher.join(vec![relay.local_addr()]).await.unwrap();
    subscriber.join(vec![relay.local_addr()]).await.unwrap();
    subscriber.block_peer(publisher.agent_id()).await.unwrap();
    publisher.block_peer(subscriber.agent_id()).await.unwrap();
    let mut sub = subscriber.subscribe("relayed").await.unwrap();
    let _p = publisher.subscribe("relayed").await.unwrap();
    let (known0, _) = relay.topic_state_counts().await.unwrap();
    // The first message through a fresh tree can be lost on a busy machine
    // (a first message went missing with the relay's gate letting it
    // through), so publish until one crosses; a gate that stopped the topic
    // would let none through.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut crossed = false;
    while !crossed && Instant::now() < deadline {
        let id = publisher.publish("relayed", b"through the relay".to_vec()).await.unwrap();
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
            crossed |= m.id == id;
        }
    }
    let (known1, _) = relay.topic_state_counts().await.unwrap();
    let seen: Vec<String> = ["plumtree.eagerIn", "plumtree.ihaveIn", "inbound.unknownTopicDropped"]
        .iter()
        .map(|k| format!("{k} {}", counter(&relay, k)))
        .collect();
    for a in [relay, publisher, subscriber] {
        a.close().await;
    }
    assert!(crossed, "no message crossed the relay within 30 s (relay: {})", seen.join(", "));
    assert_eq!(known1, known0 + 1, "the relay took up the verified topic");
}
