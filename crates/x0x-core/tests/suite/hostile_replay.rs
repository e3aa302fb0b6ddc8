//! A replay inside a fast publisher clock's lead (issue 14, finding 12), over
//! real QUIC on 127.0.0.1.
//!
//! A message is fresh while its `published_at` is at most the message TTL
//! old and at most the clock skew (60 s) ahead, but the dedup cache counted
//! its TTL from local receipt. So a message stamped 50 s ahead stayed fresh
//! for 50 s after its id was forgotten, and a replay in that time was
//! delivered a second time. The replayer is the publisher itself, pushing
//! its frame through anti-entropy (the path that meets no Plumtree cache)
//! with the `test-hooks` feature's `send_raw`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, RawStream};

const TOPIC: &str = "replayed";
const TTL: Duration = Duration::from_secs(2);

async fn agent(message_cache_ttl: Duration) -> Agent {
    let config = AgentConfig { anti_entropy_interval: Duration::from_secs(3600), message_cache_ttl, ..AgentConfig::default() };
    Agent::start(AgentKeypair::generate().unwrap(), AgentOptions { config, ..AgentOptions::default() }).await.unwrap()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// An anti-entropy push of `frames` on `topic`, as `ae_wire::push` encodes it.
fn push(topic: &str, frames: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![0xC2];
    out.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    for f in frames {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_while_the_publishers_clock_runs_ahead_is_not_delivered_again() {
    let victim = agent(TTL).await;
    let mut sub = victim.subscribe(TOPIC).await.unwrap();
    let publisher = agent(TTL).await;
    let to = publisher.connect_raw(victim.local_addr()).await.unwrap();

    let ahead = publisher.seal_frame_at(TOPIC, b"once", now_ms() + 50_000).unwrap();
    publisher.send_raw(to, RawStream::Bulk, push(TOPIC, &[&ahead])).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), sub.next()).await.expect("first copy delivered").unwrap();
    assert_eq!(first.payload, b"once");

    // Past the TTL counted from receipt, still fresh by its publish time.
    tokio::time::sleep(TTL + Duration::from_secs(1)).await;
    // The replay, then a new message: the new one must be the next delivery.
    let marker = publisher.seal_frame(TOPIC, b"marker").unwrap();
    publisher.send_raw(to, RawStream::Bulk, push(TOPIC, &[&ahead, &marker])).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), sub.next()).await.expect("the new message arrives").unwrap();
    let stats = victim.pubsub_stats().unwrap();
    publisher.close().await;
    victim.close().await;
    assert_eq!(
        String::from_utf8_lossy(&next.payload),
        "marker",
        "the replay was delivered a second time {:?} after the first",
        TTL + Duration::from_secs(1)
    );
    assert_eq!(stats.duplicates_dropped, 1, "the replay is counted as a duplicate");
}
