//! Per-source broadcast trees over real QUIC on 127.0.0.1: with several
//! publishers on one topic, once each source's PRUNEs have thinned its
//! pushes, every delivery costs about one payload transmission (Plumtree's
//! shared eager set alone cost about two), no subscriber misses a message
//! with anti-entropy off, and the trees heal when a relay leaves.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use x0x_core::{Agent, MessageId, Subscription};

use crate::support::{counter, subscribed_mesh};

const AGENTS: usize = 8;
const PUBLISHERS: usize = 4;
const TOPIC: &str = "source.trees";

/// Takes every message already waiting, counting copies per id.
async fn drain(subs: &mut [Subscription], seen: &mut [HashMap<MessageId, u32>]) {
    for (sub, seen) in subs.iter_mut().zip(seen.iter_mut()) {
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(1), sub.next()).await {
            *seen.entry(m.id).or_default() += 1;
        }
    }
}

/// `count` messages, publishers taking turns, 50 a second; waits up to 5 s
/// for every live subscriber to hold them all.
async fn publish_round(
    agents: &[Agent],
    live: &[usize],
    subs: &mut [Subscription],
    seen: &mut [HashMap<MessageId, u32>],
    count: usize,
    label: &str,
) -> Vec<MessageId> {
    let mut sent = Vec::new();
    let start = Instant::now();
    for n in 0..count {
        tokio::time::sleep_until((start + Duration::from_millis(20 * n as u64)).into()).await;
        let from = live[n % PUBLISHERS.min(live.len())];
        sent.push(agents[from].publish(TOPIC, format!("{label} {n}").into_bytes()).await.unwrap());
        drain(subs, seen).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let complete = |seen: &[HashMap<MessageId, u32>]| {
        sent.iter().all(|id| live.iter().all(|&i| seen[i].contains_key(id)))
    };
    while Instant::now() < deadline && !complete(seen) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drain(subs, seen).await;
    }
    sent
}

/// Payload frames (pushes and IWANT answers) taken in over `live` agents.
fn eager_in(agents: &[Agent], live: &[usize]) -> u64 {
    live.iter().map(|&i| counter(&agents[i], "plumtree.eagerIn")).sum()
}

fn assert_all_once(sent: &[MessageId], live: &[usize], seen: &[HashMap<MessageId, u32>], what: &str) {
    for (n, id) in sent.iter().enumerate() {
        for &i in live {
            assert_eq!(seen[i].get(id).copied(), Some(1), "{what}: message {n} at agent {i} (copies delivered)");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_publishers_cost_one_payload_copy_per_delivery_and_trees_heal() {
    let (mut agents, mut subs) = subscribed_mesh(AGENTS, TOPIC, 2).await;
    let mut seen: Vec<HashMap<MessageId, u32>> = vec![HashMap::new(); AGENTS];
    let everyone: Vec<usize> = (0..AGENTS).collect();

    // Warm-up: every source's first messages go out over every eager link,
    // and the duplicates earn PRUNEs.
    let warm = publish_round(&agents, &everyone, &mut subs, &mut seen, 80, "warm-up").await;
    assert_all_once(&warm, &everyone, &seen, "warm-up");
    let prunes: u64 = everyone.iter().map(|&i| counter(&agents[i], "tree.prunesSent")).sum();
    assert!(prunes > 0, "duplicates earned no PRUNE");

    let before = eager_in(&agents, &everyone);
    let sent = publish_round(&agents, &everyone, &mut subs, &mut seen, 200, "steady").await;
    assert_all_once(&sent, &everyone, &seen, "steady");
    let copies = (eager_in(&agents, &everyone) - before) as f64;
    let deliveries = (sent.len() * (AGENTS - 1)) as f64;
    println!("steady: {copies} payload frames for {deliveries} deliveries ({:.3} per delivery)", copies / deliveries);
    assert!(
        copies / deliveries <= 1.25,
        "{copies} payload frames for {deliveries} deliveries: {:.2} each (one shared eager set costs about 2)",
        copies / deliveries
    );

    // A relay that is no publisher leaves: the trees through it repair, by
    // other links or by pulling and grafting, with nothing lost.
    let leaver = agents.remove(AGENTS - 1);
    subs.pop();
    seen.pop();
    leaver.close().await;
    let live: Vec<usize> = (0..AGENTS - 1).collect();
    let after = publish_round(&agents, &live, &mut subs, &mut seen, 200, "after").await;
    assert_all_once(&after, &live, &seen, "after a relay left");

    let nonzero: Vec<String> = agents
        .iter()
        .map(|a| {
            let d = a.diagnostics().unwrap();
            d.into_iter().filter(|(k, v)| k.starts_with("tree.") && *v > 0).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        })
        .collect();
    println!("tree counters:\n{}", nonzero.join("\n"));
    for a in agents {
        a.close().await;
    }
}
