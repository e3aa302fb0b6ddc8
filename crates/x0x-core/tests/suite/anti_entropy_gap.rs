//! Anti-entropy repairs a real gap over QUIC on 127.0.0.1 (issue 14,
//! finding 5): an agent that was offline (for longer than Plumtree keeps
//! messages) while 600 small and 3 large
//! (600 KiB) messages were published gets every one of them after it comes
//! back with the same key, each once, and no connection is closed by an
//! error on the way (answers larger than the receiver's per-frame read limit
//! used to fail its reader and close the connection, every round).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, MessageId};

const TOPIC: &str = "gap.repair";
const SMALL: usize = 600;
const LARGE: usize = 3;
const LARGE_BYTES: usize = 600 * 1024;
/// No background round: the test drives every round itself.
const NO_REPAIR: Duration = Duration::from_secs(3600);
/// Past saorsa-gossip-pubsub 0.5.90's message cache age (60 s).
const PLUMTREE_CACHE_AGE: Duration = Duration::from_secs(62);
/// How long the returning agent may take to get the whole gap back.
const REPAIR_WITHIN: Duration = Duration::from_secs(90);

async fn agent(key: AgentKeypair) -> Agent {
    let options = AgentOptions {
        config: AgentConfig { anti_entropy_interval: NO_REPAIR, ..AgentConfig::default() },
        ..AgentOptions::default()
    };
    Agent::start(key, options).await.unwrap()
}

/// Connections closed for a reason that means something failed (a reader
/// exited, a liveness or idle timeout, a transport error), and reader exits.
fn error_closes(a: &Agent) -> u64 {
    a.diagnostics()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| {
            k == "transport.readerExits"
                || ["ReaderExit", "NoReader", "LivenessTimeout", "TimedOut", "ConnectionClosed"]
                    .iter()
                    .any(|r| k == &format!("transport.closed.{r}"))
        })
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_back_from_offline_recovers_a_large_gap_once_each() {
    // The publisher and the returning agent never talk: Plumtree offers a
    // newly connected peer the publisher's own recent messages, which would
    // hide the gap. Only the holder, which relayed them, can repair it.
    let publisher = agent(AgentKeypair::generate().unwrap()).await;
    let holder = agent(AgentKeypair::generate().unwrap()).await;
    let key = AgentKeypair::generate().unwrap();
    publisher.block_peer(key.agent_id()).await.unwrap();
    publisher.join(vec![holder.local_addr()]).await.unwrap();
    let mut holder_sub = holder.subscribe(TOPIC).await.unwrap();

    // The returning agent is online once, subscribed, then goes away.
    let first = agent(key.clone()).await;
    first.block_peer(publisher.agent_id()).await.unwrap();
    first.join(vec![holder.local_addr()]).await.unwrap();
    let first_sub = first.subscribe(TOPIC).await.unwrap();
    first.wait_for_topic_peers(TOPIC, 1, Duration::from_secs(30)).await.unwrap();
    drop(first_sub);
    first.close().await;
    publisher.wait_for_topic_peers(TOPIC, 1, Duration::from_secs(30)).await.unwrap();

    let mut published: Vec<MessageId> = Vec::new();
    for n in 0..SMALL {
        published.push(publisher.publish(TOPIC, format!("small {n}").into_bytes()).await.unwrap());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for n in 0..LARGE {
        published.push(publisher.publish(TOPIC, vec![n as u8; LARGE_BYTES]).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Precondition: the holder has them all (a short repair if gossip lost a few).
    let mut held = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while held.len() < published.len() && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), holder_sub.next()).await {
            Ok(Some(m)) => {
                held.insert(m.id);
            }
            Ok(None) => break,
            Err(_) => {
                holder.reconcile().await.unwrap();
            }
        }
    }
    assert_eq!(held.len(), published.len(), "the holder never got every message");
    // Offline for longer than Plumtree keeps messages to offer a returning
    // peer (60 s), so only anti-entropy can repair the gap.
    tokio::time::sleep(PLUMTREE_CACHE_AGE).await;

    let back = agent(key).await;
    back.block_peer(publisher.agent_id()).await.unwrap();
    let mut sub = back.subscribe(TOPIC).await.unwrap();
    back.join(vec![holder.local_addr()]).await.unwrap();
    back.wait_for_topic_peers(TOPIC, 1, Duration::from_secs(30)).await.unwrap();
    let closes_before = error_closes(&holder) + error_closes(&back);

    let mut seen: HashMap<MessageId, usize> = HashMap::new();
    let deadline = Instant::now() + REPAIR_WITHIN;
    let mut rounds = 0;
    while Instant::now() < deadline && !published.iter().all(|id| seen.contains_key(id)) {
        let round = tokio::time::timeout(Duration::from_secs(60), back.reconcile()).await;
        rounds += 1;
        assert!(round.is_ok(), "reconcile() did not return within 60 s");
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
            *seen.entry(m.id).or_default() += 1;
        }
    }
    // Anything still in flight has one more chance to show up twice.
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        *seen.entry(m.id).or_default() += 1;
    }

    let missing = published.iter().filter(|id| !seen.contains_key(*id)).count();
    let twice = seen.values().filter(|&&n| n > 1).count();
    let closes = error_closes(&holder) + error_closes(&back) - closes_before;
    let recovered = back.anti_entropy_stats().unwrap().messages_recovered;
    let stats = format!("{:?}\n{:?}", back.anti_entropy_stats().unwrap(), back.diagnostics().unwrap());
    println!("after {rounds} rounds:\n{stats}");
    back.close().await;
    holder.close().await;
    publisher.close().await;
    assert_eq!(missing, 0, "{missing} of {} messages never recovered in {rounds} rounds\n{stats}", published.len());
    assert_eq!(twice, 0, "{twice} messages delivered more than once\n{stats}");
    assert_eq!(seen.len(), published.len(), "only published messages are delivered");
    assert_eq!(recovered, published.len() as u64, "anti-entropy, not gossip, repaired the gap\n{stats}");
    assert_eq!(closes, 0, "{closes} connections closed by an error during repair\n{stats}");
}
