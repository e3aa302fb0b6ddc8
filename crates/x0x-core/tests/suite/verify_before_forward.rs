//! A relay verifies a message's publisher signature before it forwards it, so
//! a forged frame dies at the first honest hop instead of being amplified
//! through the tree. Three agents over real QUIC on 127.0.0.1; the forger
//! sends through the test-only `publish_raw` path.

use std::time::Duration;

use x0x_core::{Agent, Subscription};

use crate::support::{agent_without_anti_entropy as agent, counter};

/// Subscribes every agent and waits until each sees the others subscribed.
async fn ready(agents: &[Agent], topic: &str) -> Vec<Subscription> {
    let mut subs = Vec::new();
    for a in agents {
        subs.push(a.subscribe(topic).await.unwrap());
    }
    for a in agents {
        a.wait_for_topic_peers(topic, agents.len() - 1, Duration::from_secs(20)).await.unwrap();
    }
    subs
}

/// Eager frames the two receivers sent while `act` ran (and 1.5 s after).
async fn eager_forwards_during<F: std::future::Future<Output = ()>>(receivers: &[&Agent], act: F) -> u64 {
    let before: u64 = receivers.iter().map(|a| counter(a, "plumtree.eagerOut")).sum();
    act.await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after: u64 = receivers.iter().map(|a| counter(a, "plumtree.eagerOut")).sum();
    after - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_frame_is_dropped_at_the_first_hop_and_never_forwarded() {
    let agents = vec![agent().await, agent().await, agent().await];
    let seed = agents[0].local_addr();
    for a in &agents[1..] {
        a.join(vec![seed]).await.unwrap();
    }
    let (forger, b, c) = (&agents[0], &agents[1], &agents[2]);

    // Control: on a fresh topic the first genuine message is relayed (each
    // receiver's eager set still holds the other), so the counter sees
    // forwarding when it happens.
    let _genuine = ready(&agents, "genuine").await;
    let relayed = eager_forwards_during(&[b, c], async {
        forger.publish("genuine", b"hello".to_vec()).await.unwrap();
    })
    .await;
    assert!(relayed > 0, "a genuine first message was not relayed at all");

    // The same situation with a forged frame: a valid envelope whose payload
    // was changed after signing.
    let _forged = ready(&agents, "forged").await;
    let mut frame = forger.seal_frame("forged", b"hello").unwrap();
    let last = frame.len() - 1;
    frame[last] ^= 1;
    let forwarded = eager_forwards_during(&[b, c], async {
        forger.publish_raw("forged", frame).await.unwrap();
    })
    .await;
    assert_eq!(forwarded, 0, "a receiver forwarded a frame whose signature fails");
    for r in [b, c] {
        assert_eq!(counter(r, "plumtree.validatorDropped"), 1, "each receiver drops the forgery once");
        assert_eq!(r.pubsub_stats().unwrap().invalid_dropped, 1);
    }
    for a in agents {
        a.close().await;
    }
}
