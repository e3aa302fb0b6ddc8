//! One dial per peer: many sends to a peer whose connection just closed
//! open one new connection, not one each. Every dial is an ML-KEM/ML-DSA
//! handshake, and ant-quic does not merge concurrent dials to one address.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use saorsa_gossip_transport::GossipTransport;

use crate::{Agent, AgentKeypair, AgentOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_to_a_disconnected_peer_dial_it_once() {
    let a = Agent::start(AgentKeypair::generate().unwrap(), AgentOptions::default()).await.unwrap();
    let b = Agent::start(AgentKeypair::generate().unwrap(), AgentOptions::default()).await.unwrap();
    let b_id = b.shared.keypair.peer_id();
    let b_addr = b.local_addr();
    let t = Arc::clone(&a.shared.transport);
    let dials = a
        .handle
        .spawn(async move {
            t.dial(b_id, b_addr).await.unwrap();
            // Blocking drops the connection; unblocking lets us dial again.
            t.block(b_id).await;
            t.unblock(&b_id);
            for _ in 0..100 {
                if !t.is_connected(&b_id).await {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(!t.is_connected(&b_id).await, "the connection did not close");
            let before = t.stats.dials.load(Ordering::Relaxed);
            let attempts: Vec<_> = (0..16)
                .map(|_| {
                    let t = Arc::clone(&t);
                    tokio::spawn(async move { t.dial(b_id, b_addr).await })
                })
                .collect();
            for attempt in attempts {
                attempt.await.unwrap().unwrap();
            }
            // Background sends (the address announcements) may still dial.
            for _ in 0..100 {
                if t.dialing_len() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(t.dialing_len(), 0, "a dial lock outlived its dials");
            t.stats.dials.load(Ordering::Relaxed) - before
        })
        .await
        .unwrap();
    assert_eq!(dials, 1, "16 concurrent dials to one peer opened {dials} connections");
    a.close().await;
    b.close().await;
}
