//! A hostile neighbour floods, over real QUIC on 127.0.0.1 (issue 14,
//! finding 4). Flood frames (presence beacons) had no per-peer rate and were
//! forwarded to every connection before any check, so one peer could make
//! its victim re-send whatever it sent to all its neighbours, and forged
//! beacons in the clear travelled the whole network. The hostile agent sends
//! its frames through the `test-hooks` feature's `Agent::send_raw`.
//!
//! Topology: hostile -> victim -> watcher, and honest -> victim -> watcher
//! (honest and watcher block each other), so everything the watcher gets
//! came through the victim.

use std::time::{Duration, Instant};

use x0x_core::presence::seal::PLAIN;
use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, RawStream, FLOOD_PEER_BURST, FLOOD_PEER_RATE};

/// First byte of a flood frame on the Bulk stream.
const FLOOD_TAG: u8 = 0xF1;

async fn agent() -> Agent {
    let config = AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() };
    let options = AgentOptions { config, ..AgentOptions::default() };
    Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A signed beacon in the clear, as presence floods it.
fn beacon(a: &Agent, ts: u64) -> Vec<u8> {
    let record = a.sign_record(1, br#"{"state":"online","addrs":[]}"#, ts, ts + 60_000).unwrap();
    [&[PLAIN][..], &record].concat()
}

struct Net {
    victim: Agent,
    watcher: Agent,
    honest: Agent,
    hostile: Agent,
    to: x0x_core::AgentId,
}

async fn net() -> Net {
    let (victim, watcher, honest, hostile) = (agent().await, agent().await, agent().await, agent().await);
    watcher.join(vec![victim.local_addr()]).await.unwrap();
    honest.join(vec![victim.local_addr()]).await.unwrap();
    watcher.block_peer(honest.agent_id()).await.unwrap();
    honest.block_peer(watcher.agent_id()).await.unwrap();
    let to = hostile.connect_raw(victim.local_addr()).await.unwrap();
    Net { victim, watcher, honest, hostile, to }
}

impl Net {
    async fn close(self) {
        for a in [self.hostile, self.honest, self.watcher, self.victim] {
            a.close().await;
        }
    }

    fn frames_in(&self) -> u64 {
        self.victim.diagnostics().unwrap().into_iter().find(|(k, _)| k == "transport.framesIn").map_or(0, |(_, v)| v)
    }

    /// Sends `frames` from the hostile agent and waits until the victim read
    /// them all.
    async fn attack(&self, frames: Vec<Vec<u8>>) {
        let target = self.frames_in() + frames.len() as u64;
        for f in frames {
            self.hostile.send_raw(self.to, RawStream::Bulk, f).await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.frames_in() < target {
            assert!(Instant::now() < deadline, "the victim never read the attack");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An honest beacon flooded now reaches the watcher (through the victim).
    async fn honest_beacon_arrives(&self) -> bool {
        let mut rx = self.watcher.flood_payloads().unwrap();
        let b = beacon(&self.honest, now_ms());
        self.honest.flood(b.clone()).await.unwrap();
        let wait = async {
            loop {
                match rx.recv().await {
                    Ok(p) if p == b => return true,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return false,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait).await.unwrap_or(false)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_neighbour_cannot_amplify_and_honest_beacons_still_arrive() {
    let n = net().await;
    let got_before = n.watcher.flood_stats().unwrap().received;
    let started = Instant::now();
    // 2,000 distinct sealed-looking frames (the victim cannot open them).
    let frames = (0..2000).map(|_| [&[FLOOD_TAG, 0x02][..], &rand::random::<[u8; 32]>()].concat()).collect();
    n.attack(frames).await;
    // Forwards run after the read; give them time (the bound grows with it).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let relayed = n.watcher.flood_stats().unwrap().received - got_before;
    let bound = u64::from(FLOOD_PEER_BURST) + (started.elapsed().as_secs_f64() * f64::from(FLOOD_PEER_RATE)).ceil() as u64;
    let arrived = n.honest_beacon_arrives().await;
    let limited = n.victim.flood_stats().unwrap().rate_limited;
    n.close().await;
    assert!(relayed <= bound, "the victim relayed {relayed} of the 2,000 frames, more than the budget allows ({bound})");
    assert!(arrived, "an honest beacon did not reach the watcher during the flood");
    assert!(limited > 0, "the victim counted no rate-limited frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_beacons_in_the_clear_stop_at_the_first_honest_hop() {
    let n = net().await;
    let got_before = n.watcher.flood_stats().unwrap().received;
    let now = now_ms();
    let mut frames = Vec::new();
    for k in 0..20 {
        let mut b = beacon(&n.hostile, now + k);
        // Corrupt the signature's last byte.
        let last = b.len() - 1;
        b[last] ^= 0x01;
        frames.push([&[FLOOD_TAG][..], &b].concat());
    }
    // Expired and from the future, correctly signed.
    frames.push([&[FLOOD_TAG][..], &beacon(&n.hostile, now - 120_000)].concat());
    frames.push([&[FLOOD_TAG][..], &beacon(&n.hostile, now + 600_000)].concat());
    n.attack(frames).await;
    let arrived = n.honest_beacon_arrives().await;
    let relayed = n.watcher.flood_stats().unwrap().received - got_before;
    let invalid = n.victim.flood_stats().unwrap().invalid;
    n.close().await;
    assert!(arrived, "the honest beacon did not reach the watcher");
    // The honest beacon is the only frame the watcher got.
    assert_eq!(relayed, 1, "the victim relayed {} forged, expired or future beacons", relayed.saturating_sub(1));
    assert_eq!(invalid, 22, "the victim counted each bad beacon");
}
