//! A Sybil burst against the anti-entropy sessions that new connections
//! start (issue 14), over real QUIC on 127.0.0.1. The connect gate allows
//! one session per peer per 10 s, but identities are free: each fresh one
//! that connects and then never answers holds a session for its 10 s
//! request timeout. Four run at once; before the queue was bounded, every
//! further identity parked one more waiting task, as many as the attacker
//! had keys. The stalling peers answer nothing because their anti-entropy
//! frames go to `Agent::tap_anti_entropy` (the `test-hooks` feature).

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use x0x_core::{Agent, AgentConfig, AgentId, AgentKeypair, AgentOptions};

use crate::support::counter;

/// Sessions that run at once, and that may wait (`ae_sync::MAX_CONCURRENT`,
/// `ae_sync::MAX_WAITING`).
const RUNNING: u64 = 4;
const WAITING: u64 = 16;
/// Enough identities to fill both, with a dozen over.
const SYBILS: usize = (RUNNING + WAITING) as usize + 12;
const TOPIC: &str = "sybil.sync";

fn options(workers: usize) -> AgentOptions {
    AgentOptions {
        // No background round: every session here is a connect-time one.
        config: AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() },
        worker_threads: workers,
        ..AgentOptions::default()
    }
}

/// A key whose id is below 0x10..: only the lower id of a pair starts the
/// connect-time session, so the victim starts one with every Sybil.
fn low_key() -> AgentKeypair {
    loop {
        let k = AgentKeypair::generate().unwrap();
        if k.agent_id()[0] < 0x10 {
            return k;
        }
    }
}

fn key_above(id: &AgentId) -> AgentKeypair {
    loop {
        let k = AgentKeypair::generate().unwrap();
        if k.agent_id() > *id {
            return k;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_fresh_identities_that_stall_queues_a_bounded_number_of_sessions() {
    let victim = Agent::start(low_key(), options(2)).await.unwrap();
    let victim_id = victim.agent_id();
    let mut victim_sub = victim.subscribe(TOPIC).await.unwrap();
    let publisher = Agent::start(key_above(&victim_id), options(1)).await.unwrap();
    let _publisher_sub = publisher.subscribe(TOPIC).await.unwrap();
    publisher.join(vec![victim.local_addr()]).await.unwrap();
    publisher.wait_for_topic_peers(TOPIC, 1, Duration::from_secs(30)).await.unwrap();

    let mut sybils = Vec::new();
    let mut taps: Vec<mpsc::UnboundedReceiver<(AgentId, Vec<u8>)>> = Vec::new();
    for _ in 0..SYBILS {
        let sybil = Agent::start(key_above(&victim_id), options(1)).await.unwrap();
        taps.push(sybil.tap_anti_entropy().unwrap());
        sybil.connect_raw(victim.local_addr()).await.unwrap();
        sybils.push(sybil);
    }
    // Sessions with the stalling peers last their 10 s timeout, so the
    // burst fills both the permits and the queue, and every identity past
    // them is shed. The deadline only keeps a broken build from hanging.
    let over = SYBILS as u64 - RUNNING - WAITING;
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter(&victim, "antiEntropy.sideShed") < over {
        assert!(
            Instant::now() < deadline,
            "{} of {SYBILS} stalling identities were shed, not {over}: waiting peak {}, running peak {}, expired {}",
            counter(&victim, "antiEntropy.sideShed"),
            counter(&victim, "antiEntropy.sideWaitingPeak"),
            counter(&victim, "antiEntropy.sideRunningPeak"),
            counter(&victim, "antiEntropy.sideExpired"),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // While the stalled sessions hold every permit, gossip still flows.
    let id = publisher.publish(TOPIC, b"still served".to_vec()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(30), victim_sub.next()).await;
    let waiting_peak = counter(&victim, "antiEntropy.sideWaitingPeak");
    let running_peak = counter(&victim, "antiEntropy.sideRunningPeak");
    drop(taps);
    for a in sybils {
        a.close().await;
    }
    publisher.close().await;
    victim.close().await;

    assert!(waiting_peak <= WAITING, "{waiting_peak} sessions waited at once; the bound is {WAITING}");
    assert!(running_peak <= RUNNING, "{running_peak} sessions ran at once; the bound is {RUNNING}");
    let message = got.expect("the publish did not arrive during the burst").expect("subscription ended");
    assert_eq!(message.id, id);
}
