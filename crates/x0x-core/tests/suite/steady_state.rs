//! Steady-state delivery over real QUIC on 127.0.0.1: once the overlay has
//! formed, Plumtree alone must deliver every message to every subscriber,
//! with anti-entropy repair switched off so that it cannot hide a loss.
//!
//! This is the demo's workload (5 agents taking turns publishing 25 msg/s)
//! as a Rust test, so a loss names the message and the agents that missed it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use x0x_core::{MessageId, Subscription};

use crate::support::subscribed_mesh;

const AGENTS: usize = 5;
const TOPIC: &str = "steady.state";

/// Takes every message already waiting on each subscription.
async fn drain(subs: &mut [Subscription], seen: &mut [HashSet<MessageId>]) {
    for (sub, seen) in subs.iter_mut().zip(seen.iter_mut()) {
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(1), sub.next()).await {
            seen.insert(m.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_reaches_every_subscriber_without_repair() {
    let (agents, mut subs) = subscribed_mesh(AGENTS, TOPIC, AGENTS - 1).await;

    // 250 messages, agents taking turns, 25 per second.
    let mut sent: Vec<(usize, MessageId)> = Vec::new();
    let mut seen: Vec<HashSet<MessageId>> = vec![HashSet::new(); AGENTS];
    let start = Instant::now();
    for n in 0..250usize {
        let due = start + Duration::from_millis(40 * n as u64);
        tokio::time::sleep_until(due.into()).await;
        let from = n % AGENTS;
        let id = agents[from].publish(TOPIC, format!("message {n}").into_bytes()).await.unwrap();
        sent.push((from, id));
        drain(&mut subs, &mut seen).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let complete = |seen: &[HashSet<MessageId>]| sent.iter().all(|(_, id)| seen.iter().all(|s| s.contains(id)));
    while Instant::now() < deadline && !complete(&seen) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drain(&mut subs, &mut seen).await;
    }

    let mut missing: HashMap<usize, Vec<usize>> = HashMap::new();
    for (n, (_, id)) in sent.iter().enumerate() {
        for (i, s) in seen.iter().enumerate() {
            if !s.contains(id) {
                missing.entry(n).or_default().push(i);
            }
        }
    }
    let report: Vec<String> = {
        let mut v: Vec<_> = missing.iter().collect();
        v.sort();
        v.into_iter()
            .map(|(n, who)| format!("message {n} (from agent {}) missed by agents {who:?}", sent[*n].0))
            .collect()
    };
    let stats: Vec<String> = agents
        .iter()
        .map(|a| {
            let nonzero: Vec<String> = a
                .diagnostics()
                .unwrap()
                .into_iter()
                .filter(|(_, v)| *v > 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{:?}\n  {}", a.pubsub_stats().unwrap(), nonzero.join(" "))
        })
        .collect();
    // Shown with --nocapture, and on failure.
    println!("stats:\n{}", stats.join("\n"));
    for a in agents {
        a.close().await;
    }
    assert!(report.is_empty(), "lost deliveries:\n{}\nstats:\n{}", report.join("\n"), stats.join("\n"));
}
