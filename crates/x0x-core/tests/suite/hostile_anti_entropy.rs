//! A hostile peer against anti-entropy over real QUIC on 127.0.0.1 (issue
//! 14, finding 6). It reports a set of `u64::MAX` ids for every topic, so
//! it is reconciled first, then never answers a reconciliation step. Rounds
//! used to spend 10 s per topic on it, one peer at a time under one lock, so
//! `reconcile()` and every honest peer waited behind it (with an answer
//! just before each timeout, for days). The hostile agent answers through
//! the `test-hooks` feature's `Agent::tap_anti_entropy` and `send_raw`.

use std::time::{Duration, Instant};

use x0x_core::{Agent, AgentConfig, AgentId, AgentKeypair, AgentOptions, RawStream};
use x0x_iblt::{AmsSketch, Id, DEFAULT_AMS_COUNTERS};

const TOPICS: usize = 5;
/// No background round: the test drives the one round itself.
const NO_REPAIR: Duration = Duration::from_secs(3600);
/// A round with one stalling peer ends within its 15 s per-peer budget
/// plus the honest peer's part; before, it took 10 s per topic (50 s).
const ROUND_WITHIN: Duration = Duration::from_secs(30);

async fn agent() -> Agent {
    let options = AgentOptions {
        config: AgentConfig { anti_entropy_interval: NO_REPAIR, ..AgentConfig::default() },
        ..AgentOptions::default()
    };
    Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap()
}

/// The liar's answer to a sketch request: set size u64::MAX and a valid
/// sketch of nothing; `None` for anything else (which it leaves unanswered).
fn lie(frame: &[u8]) -> Option<Vec<u8>> {
    if frame.first() != Some(&0xC0) || frame.get(9) != Some(&1) {
        return None;
    }
    let req = frame.get(1..9)?;
    let topic_len = usize::from(u16::from_le_bytes(frame.get(10..12)?.try_into().ok()?));
    let seed = u64::from_le_bytes(frame.get(12 + topic_len..20 + topic_len)?.try_into().ok()?);
    let sketch = AmsSketch::from_ids(&[] as &[Id], DEFAULT_AMS_COUNTERS, seed).ok()?;
    let mut out = vec![0xC1];
    out.extend_from_slice(req);
    out.push(0);
    out.extend_from_slice(&u64::MAX.to_le_bytes());
    out.extend_from_slice(&sketch.to_bytes());
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_peer_that_claims_u64_max_ids_cannot_hold_up_a_round() {
    let (victim, honest, liar) = (agent().await, agent().await, agent().await);
    let topics: Vec<String> = (0..TOPICS).map(|i| format!("ae.stall.{i}")).collect();
    let mut subs = Vec::new();
    for t in &topics {
        subs.push(victim.subscribe(t).await.unwrap());
        subs.push(honest.subscribe(t).await.unwrap());
    }
    let mut tap = liar.tap_anti_entropy().unwrap();
    honest.join(vec![victim.local_addr()]).await.unwrap();
    liar.join(vec![victim.local_addr()]).await.unwrap();
    victim.wait_for_topic_peers(&topics[0], 1, Duration::from_secs(30)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !victim.connected_peers().await.unwrap().iter().any(|(p, _)| *p == liar.agent_id()) {
        assert!(Instant::now() < deadline, "the liar never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let answer_lies = async {
        while let Some((from, frame)) = tap.recv().await {
            if let Some(reply) = lie(&frame) {
                let _ = liar.send_raw(from, RawStream::Bulk, reply).await;
            }
        }
    };
    let started = Instant::now();
    let round = tokio::select! {
        r = tokio::time::timeout(ROUND_WITHIN, victim.reconcile()) => r,
        () = answer_lies => panic!("the tap closed"),
    };
    let took = started.elapsed();
    for a in [victim, honest, liar] {
        a.close().await;
    }
    let stats = round.unwrap_or_else(|_| panic!("reconcile() still running after {ROUND_WITHIN:?}")).unwrap();
    let order: Vec<(AgentId, u64)> = stats.peers.iter().map(|p| (p.peer, p.estimated_difference)).collect();
    assert_eq!(order.len(), 2, "both peers are part of the round: {order:?} after {took:?}");
    assert_eq!(order[0].1, u64::MAX, "the liar's claim saturates instead of wrapping: {order:?}");
    assert_eq!(stats.peers_contacted, 1, "the honest peer was reconciled in the same round: {stats:?}");
}

