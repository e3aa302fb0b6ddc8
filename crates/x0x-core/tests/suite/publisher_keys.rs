//! Envelopes name their publisher by id and leave its 1,952-byte key out; a
//! receiver that lacks the key fetches it once from the peer that sent the
//! frame. Agents over real QUIC on 127.0.0.1, the overlay forced into a line
//! by blocking.

use std::time::{Duration, Instant};

use x0x_core::{Agent, AgentKeypair, Subscription};

use crate::support::{agent_without_anti_entropy as agent, counter};

/// `agents` joined in a line: each talks only to the one before and after it.
async fn line(n: usize) -> Vec<Agent> {
    let mut agents = Vec::new();
    for _ in 0..n {
        agents.push(agent().await);
    }
    for i in 0..n {
        for j in (0..n).filter(|&j| j + 1 != i && j != i && j != i + 1) {
            agents[i].block_peer(agents[j].agent_id()).await.unwrap();
        }
    }
    for i in 1..n {
        agents[i].join(vec![agents[i - 1].local_addr()]).await.unwrap();
    }
    agents
}

async fn subscribe_all(agents: &[Agent], topic: &str) -> Vec<Subscription> {
    let mut subs = Vec::new();
    for a in agents {
        subs.push(a.subscribe(topic).await.unwrap());
    }
    for (i, a) in agents.iter().enumerate() {
        let neighbours = if i == 0 || i + 1 == agents.len() { 1 } else { 2 };
        a.wait_for_topic_peers(topic, neighbours, Duration::from_secs(20)).await.unwrap();
    }
    subs
}

/// Payloads `sub` receives until it has `n` or nothing new comes for 5 s.
async fn receive(sub: &mut Subscription, n: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
            Ok(Some(m)) => got.push(m.payload),
            _ => break,
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hops_from_the_publisher_its_key_is_fetched_once_and_every_message_arrives() {
    let agents = line(3).await;
    let (publisher, relay, far) = (&agents[0], &agents[1], &agents[2]);
    let mut subs = subscribe_all(&agents, "keys").await;
    assert!(
        !far.connected_peers().await.unwrap().iter().any(|(id, _)| *id == publisher.agent_id()),
        "the far end must hear the publisher only through the relay"
    );

    let sent: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 300]).collect();
    for p in &sent {
        publisher.publish("keys", p.clone()).await.unwrap();
    }
    // Gossip keeps no order; frames that waited for the key may overtake.
    let firsts = |mut got: Vec<Vec<u8>>| {
        got.sort();
        got.iter().map(|p| p[0]).collect::<Vec<u8>>()
    };
    let every: Vec<u8> = (0..20).collect();
    assert_eq!(firsts(receive(&mut subs[2], sent.len()).await), every, "the far end got every message once");
    assert_eq!(firsts(receive(&mut subs[1], sent.len()).await), every, "the relay got every message once");

    // The relay had the key from the publisher itself, introduced when they
    // connected; the far end lacked it and asked the relay once. Nothing
    // was dropped for want of it.
    assert_eq!(counter(relay, "keys.asked"), 0, "the relay never asked");
    assert!(counter(relay, "keys.introduced") >= 1, "its neighbours introduced their keys");
    assert_eq!(counter(far, "keys.fetched"), 1, "the far end fetched one key");
    assert_eq!(counter(far, "keys.asked"), 1, "the far end asked once for 20 messages");
    for (name, a) in [("relay", relay), ("far end", far)] {
        assert_eq!(counter(a, "keys.missingDropped"), 0, "the {name} dropped nothing for want of a key");
    }
    assert!(counter(relay, "keys.served") >= 1, "the relay answered the far end");

    for a in agents {
        a.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_leaves_right_after_publishing_still_reaches_two_hops_away() {
    // What `x0x pub` does: join, publish once, close at once. Its only
    // neighbour cannot ask it for its key any more; it had it from the
    // introduction, so the message goes on. Anti-entropy is off, so only
    // gossip can deliver it.
    let agents = line(3).await;
    let (publisher, relay) = (&agents[0], &agents[1]);
    let mut subs = subscribe_all(&agents, "leaving").await;
    publisher.publish("leaving", b"goodbye".to_vec()).await.unwrap();
    publisher.close().await;
    assert_eq!(receive(&mut subs[2], 1).await, vec![b"goodbye".to_vec()], "the far end got it");
    assert_eq!(receive(&mut subs[1], 1).await, vec![b"goodbye".to_vec()], "the relay got it");
    assert_eq!(counter(relay, "keys.asked"), 0, "the relay needed nothing from the publisher that left");
    drop(subs);
    for a in agents {
        a.close().await;
    }
}

#[cfg(feature = "test-hooks")]
mod hostile {
    use super::*;
    use x0x_core::RawStream;

    /// An EAGER frame of `hostile`'s, renamed to a publisher nobody knows.
    fn renamed(hostile: &Agent, topic: &str, name: [u8; 32]) -> Vec<u8> {
        let mut frame = hostile.seal_frame(topic, b"who am I").unwrap();
        frame[1..33].copy_from_slice(&name);
        frame
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_naming_made_up_publishers_gets_a_bounded_number_of_asks_and_stalls_nothing() {
        let agents = vec![agent().await, agent().await, agent().await];
        for a in &agents[1..] {
            a.join(vec![agents[0].local_addr()]).await.unwrap();
        }
        let (victim, hostile, honest) = (&agents[0], &agents[1], &agents[2]);
        let mut subs = Vec::new();
        for a in &agents {
            subs.push(a.subscribe("t").await.unwrap());
        }
        victim.wait_for_topic_peers("t", 2, Duration::from_secs(20)).await.unwrap();
        hostile.wait_for_topic_peers("t", 1, Duration::from_secs(20)).await.unwrap();

        // 200 frames, each naming a publisher whose key the hostile peer
        // never gives: every one of them would hold an ask open for 2 s.
        for n in 0..200u32 {
            let mut name = [0xAB; 32];
            name[..4].copy_from_slice(&n.to_le_bytes());
            hostile.publish_raw("t", renamed(hostile, "t", name)).await.unwrap();
        }
        // Meanwhile an honest publisher's messages all arrive.
        let started = Instant::now();
        for i in 0..20u8 {
            honest.publish("t", vec![i; 100]).await.unwrap();
        }
        let got = receive(&mut subs[0], 20).await;
        assert_eq!(got.len(), 20, "the victim got the honest messages while the asks were open");
        let waited = started.elapsed();

        let asked = counter(victim, "keys.asked");
        let refused = counter(victim, "keys.refused");
        assert!(asked <= 32 + 1, "at most 32 asks of one peer at once (plus the honest publisher's): {asked}");
        assert!(refused > 0, "the rest were refused, not queued: {refused}");
        assert_eq!(victim.pubsub_stats().unwrap().delivered, 20, "no renamed frame was delivered");

        // Keys nobody asked for are not taken.
        let held = counter(victim, "keys.held");
        let stranger = AgentKeypair::generate().unwrap();
        let have = [&[0x99u8, 1][..], stranger.public_key()].concat();
        hostile.send_raw(victim.agent_id(), RawStream::Bulk, have).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while counter(victim, "keys.unsolicited") == 0 {
            assert!(Instant::now() < deadline, "the unsolicited key never arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(counter(victim, "keys.held"), held, "an unsolicited key is not kept");

        // Once the asks time out, the victim asks again for what it is sent.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(counter(victim, "keys.pending"), 0, "every unanswered ask expired ({waited:?} for the honest ones)");
        for a in agents {
            a.close().await;
        }
    }
}
