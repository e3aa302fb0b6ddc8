//! A hostile peer tries to stall its victim's dispatcher, over real QUIC on
//! 127.0.0.1 (issue 14, finding 3). A FORWARDJOIN with ttl 0 for a made-up
//! joiner makes the victim wait up to 2 s for the joiner's address. All
//! protocols used to share 64 dispatch slots, so about 32 such frames a
//! second stopped every inbound frame: pub/sub stalled and the victim's SWIM
//! acks came so late that its neighbours declared it dead. The hostile agent
//! sends its frames through the `test-hooks` feature's `Agent::send_raw`.

use std::time::{Duration, Instant};

use saorsa_gossip_membership::{HyParViewMessage, MembershipProtocolMessage};
use saorsa_gossip_types::PeerId;
use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, MembershipEventKind, RawStream};

async fn agent() -> Agent {
    // No anti-entropy: what arrives, arrives by Plumtree, as it happens.
    let config = AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() };
    let options = AgentOptions { config, ..AgentOptions::default() };
    Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap()
}

fn stalling_frame(hostile: &Agent) -> Vec<u8> {
    let fj = HyParViewMessage::ForwardJoin {
        sender: PeerId::new(hostile.agent_id()),
        new_peer: PeerId::new(rand::random()),
        ttl: 0,
    };
    postcard::to_stdvec(&MembershipProtocolMessage::HyParView(fj)).unwrap()
}

fn counter(agent: &Agent, name: &str) -> u64 {
    agent.diagnostics().unwrap().into_iter().find(|(k, _)| k == name).map_or(0, |(_, v)| v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalling_frames_from_one_peer_do_not_stop_pubsub_or_swim() {
    let (victim, publisher, other) = (agent().await, agent().await, agent().await);
    publisher.join(vec![victim.local_addr()]).await.unwrap();
    other.join(vec![victim.local_addr()]).await.unwrap();
    let mut sub = victim.subscribe("news").await.unwrap();
    let _p = publisher.subscribe("news").await.unwrap();
    publisher.wait_for_topic_peers("news", 1, Duration::from_secs(20)).await.unwrap();
    let mut watch = [publisher.membership_events().unwrap(), other.membership_events().unwrap()];

    let hostile = agent().await;
    let to = hostile.connect_raw(victim.local_addr()).await.unwrap();
    // 200 stalling frames a second for 20 s, while the publisher sends one
    // message every 0.5 s.
    let attack = async {
        let end = Instant::now() + Duration::from_secs(20);
        let mut sent = 0u64;
        while Instant::now() < end {
            for _ in 0..20 {
                hostile.send_raw(to, RawStream::Membership, stalling_frame(&hostile)).await.unwrap();
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sent
    };
    let publish = async {
        let mut ids = Vec::new();
        for k in 0..40u32 {
            ids.push(publisher.publish("news", k.to_le_bytes().to_vec()).await.unwrap());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        ids
    };
    let (sent, ids) = tokio::join!(attack, publish);

    // Generous: on an unloaded machine they are all in by now.
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.len() < ids.len() {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Ok(Some(m)) => got.push(m.id),
            _ => break,
        }
    }
    let mut failed = Vec::new();
    for events in &mut watch {
        while let Ok(e) = events.try_recv() {
            if e.peer == PeerId::new(victim.agent_id()) && matches!(e.kind, MembershipEventKind::Left { .. }) {
                failed.push(e.kind);
            }
        }
    }
    let dropped = counter(&victim, "inbound.dropped.forwardJoin");
    for a in [hostile, publisher, other, victim] {
        a.close().await;
    }
    assert!(sent >= 32 * 20, "the attack sent only {sent} frames");
    assert_eq!(got.len(), ids.len(), "{} of {} messages reached the victim within 30 s of the last", got.len(), ids.len());
    assert_eq!(failed, vec![], "the victim's neighbours dropped it");
    assert!(dropped > 0, "the victim never refused a stalling frame, so the attack was not past its budget");
}
