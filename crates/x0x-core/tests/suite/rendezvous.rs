//! Rendezvous between separate agents over real QUIC on 127.0.0.1: the holder
//! is not connected to either side beforehand, so the client dials it.

use std::time::Duration;

use x0x_core::{Agent, AgentKeypair, AgentOptions, Holder, HolderReply, StoreOutcome};

const WAIT: Duration = Duration::from_secs(10);

async fn agent() -> Agent {
    Agent::start(AgentKeypair::generate().unwrap(), AgentOptions::default())
        .await
        .unwrap()
}

fn holder(a: &Agent) -> Holder {
    Holder { id: a.agent_id(), addrs: vec![a.local_addr()] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_lookup_unregister_through_a_holder_nobody_was_connected_to() {
    let (h, a, c) = (agent().await, agent().await, agent().await);
    let addrs = vec!["127.0.0.1:4242".parse().unwrap()];

    let record = a.sign_addr_record(&addrs, 60_000).unwrap();
    let replies = a.rendezvous_store(vec![holder(&h)], record.clone(), WAIT).await.unwrap();
    assert_eq!(replies, vec![(h.agent_id(), HolderReply::Answered(StoreOutcome::Stored))]);

    let found = c.rendezvous_lookup(vec![holder(&h)], a.agent_id(), WAIT).await.unwrap();
    assert_eq!(found.answered, 1);
    let rec = found.record.expect("registered record");
    assert_eq!((rec.agent_id, rec.addrs), (a.agent_id(), addrs));

    // A third agent may relay a's record (holders verify it), but cannot
    // forge one: c's own record names c, never a.
    let replayed = c.rendezvous_store(vec![holder(&h)], record.clone(), WAIT).await.unwrap();
    assert_eq!(replayed[0].1, HolderReply::Answered(StoreOutcome::Stale));

    let tombstone = a.sign_addr_record(&[], 60_000).unwrap();
    a.rendezvous_store(vec![holder(&h)], tombstone, WAIT).await.unwrap();
    let gone = c.rendezvous_lookup(vec![holder(&h)], a.agent_id(), WAIT).await.unwrap();
    assert_eq!((gone.record, gone.answered), (None, 1));

    let stats = h.rendezvous_stats().unwrap();
    assert_eq!((stats.stores_accepted, stats.stale_rejected, stats.lookups_served), (2, 1, 2));

    // A holder that is not there: no answer, reported as such, no hang.
    let dead = Holder { id: [9; 32], addrs: vec!["127.0.0.1:9".parse().unwrap()] };
    let none = c.rendezvous_lookup(vec![dead], a.agent_id(), Duration::from_secs(2)).await.unwrap();
    assert_eq!((none.record, none.answered), (None, 0));
    for x in [h, a, c] {
        x.close().await;
    }
}
