//! Sybil records at a rendezvous holder (issue 14, finding 8), over real QUIC
//! on 127.0.0.1. A holder kept any validly signed address record, for as long
//! as the record asked: one peer with a few thousand throwaway keys could
//! fill its 8,192 places with records that expire at `u64::MAX`, and every
//! honest registration after that was refused as `full`, forever. The
//! hostile peer sends raw store frames through the `test-hooks` feature's
//! `send_raw`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x0x_core::rendezvous::MAX_HELD_PER_PEER;
use x0x_core::{addr_record, Agent, AgentConfig, AgentKeypair, AgentOptions, Holder, HolderReply, RawStream, StoreOutcome};

const SYBILS: usize = 40;
/// Store frames sent: the everlasting record and the sybils'.
const STORES: u64 = 1 + SYBILS as u64;

async fn agent() -> Agent {
    let config = AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() };
    Agent::start(AgentKeypair::generate().unwrap(), AgentOptions { config, ..AgentOptions::default() }).await.unwrap()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A rendezvous store request (tag 0xD0, request id, record).
fn store_frame(req: u64, record: &[u8]) -> Vec<u8> {
    let mut out = vec![0xD0];
    out.extend_from_slice(&req.to_le_bytes());
    out.extend_from_slice(record);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_with_many_keys_cannot_fill_a_holder_or_pin_records_forever() {
    let holder = agent().await;
    let hostile = agent().await;
    let to = hostile.connect_raw(holder.local_addr()).await.unwrap();
    let addr = ["127.0.0.1:9".parse().unwrap()];

    // One record that asks to be kept until the end of time, then many
    // records of throwaway keys, all from the one hostile connection.
    let forever = addr_record::sign(&AgentKeypair::generate().unwrap(), &addr, now_ms(), u64::MAX).unwrap();
    hostile.send_raw(to, RawStream::Bulk, store_frame(0, &forever)).await.unwrap();
    for i in 0..SYBILS {
        let record = addr_record::sign(&AgentKeypair::generate().unwrap(), &addr, now_ms(), 3_600_000).unwrap();
        hostile.send_raw(to, RawStream::Bulk, store_frame(1 + i as u64, &record)).await.unwrap();
    }
    let handled = |s: x0x_core::RendezvousStats| s.stores_accepted + s.invalid_rejected + s.full_rejected;
    for _ in 0..200 {
        if handled(holder.rendezvous_stats().unwrap()) >= STORES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = holder.rendezvous_stats().unwrap();

    // An honest agent's own registration still goes in.
    let honest = agent().await;
    let own = honest.sign_addr_record(&[honest.local_addr()], 60_000).unwrap();
    let at = Holder { id: holder.agent_id(), addrs: vec![holder.local_addr()] };
    let replies = honest.rendezvous_store(vec![at], own, Duration::from_secs(10)).await.unwrap();
    for a in [&honest, &hostile, &holder] {
        a.close().await;
    }

    assert_eq!(handled(stats), STORES, "every store was answered: {stats:?}");
    assert_eq!(stats.invalid_rejected, 1, "the record that asked to live forever is refused: {stats:?}");
    assert_eq!(stats.records_held, MAX_HELD_PER_PEER as u64, "one peer's share of other agents' records: {stats:?}");
    assert_eq!(stats.full_rejected, (SYBILS - MAX_HELD_PER_PEER) as u64);
    assert_eq!(replies.len(), 1);
    assert!(matches!(replies[0].1, HolderReply::Answered(StoreOutcome::Stored)), "honest store: {:?}", replies[0].1);
}
