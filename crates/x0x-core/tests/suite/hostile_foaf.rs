//! Hostile FOAF queries over real QUIC on 127.0.0.1 (issue 14, finding 9).
//! A query used to travel as far as its sender said (up to 10 hops,
//! whatever the local `foafTtl`), and a neighbour could send as many as it
//! liked: about 137 queries a second filled every node's table. The hostile
//! agent opens a bare connection to its victim and sends 54-byte queries
//! through the `test-hooks` feature's `Agent::send_raw`.

use std::time::{Duration, Instant};

use x0x_core::foaf::{PEER_QUERY_BURST, PEER_QUERY_RATE};
use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, RawStream};

async fn agent(foaf_ttl: u8) -> Agent {
    let options = AgentOptions { config: AgentConfig { foaf_ttl, ..AgentConfig::default() }, ..AgentOptions::default() };
    Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap()
}

/// A query for a random agent with `ttl` hops and a 30 s lifetime.
fn query(ttl: u8) -> Vec<u8> {
    let mut q = vec![0xB0];
    q.extend_from_slice(&rand::random::<[u8; 16]>());
    q.push(ttl);
    q.extend_from_slice(&30_000u32.to_le_bytes());
    q.extend_from_slice(&rand::random::<[u8; 32]>());
    q
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_goes_no_further_than_the_local_foaf_ttl() {
    // The victim's own queries go one hop: it is the last hop of any query.
    let victim = agent(1).await;
    let neighbour = agent(3).await;
    neighbour.join(vec![victim.local_addr()]).await.unwrap();
    let hostile = agent(3).await;
    let to = hostile.connect_raw(victim.local_addr()).await.unwrap();
    hostile.send_raw(to, RawStream::Bulk, query(10)).await.unwrap();
    until("the victim handles the query", || victim.foaf_stats().unwrap().queries_handled == 1).await;
    // The forward, had there been one, left before the count went up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let forwarded = victim.foaf_stats().unwrap().queries_forwarded;
    let reached = neighbour.foaf_stats().unwrap().queries_handled;
    for a in [hostile, neighbour, victim] {
        a.close().await;
    }
    assert_eq!((forwarded, reached), (0, 0), "a ttl-10 query went past a foafTtl-1 agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_neighbour_cannot_flood_queries_past_its_budget() {
    let victim = agent(3).await;
    let neighbour = agent(3).await;
    neighbour.join(vec![victim.local_addr()]).await.unwrap();
    let hostile = agent(3).await;
    let to = hostile.connect_raw(victim.local_addr()).await.unwrap();
    let started = Instant::now();
    for _ in 0..300 {
        hostile.send_raw(to, RawStream::Bulk, query(3)).await.unwrap();
    }
    let stats = || victim.foaf_stats().unwrap();
    until("every query is handled or dropped", || {
        let s = stats();
        s.queries_handled + s.rate_limited_dropped >= 300
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let handled = stats().queries_handled;
    // An honest neighbour still gets its answer meanwhile.
    let found = neighbour.find_agent(victim.agent_id(), Duration::from_secs(10)).await.unwrap();
    for a in [hostile, neighbour, victim] {
        a.close().await;
    }
    let bound = f64::from(PEER_QUERY_BURST) + f64::from(PEER_QUERY_RATE) * elapsed + 1.0;
    assert!((handled as f64) <= bound, "{handled} of 300 queries handled in {elapsed:.1} s (budget {bound:.0})");
    assert!(found.is_some(), "the honest neighbour's lookup went unanswered");
}
