//! Lies about where other peers are, over real QUIC on 127.0.0.1 (issue 14,
//! finding 11). Any connected peer may say "peer X is at address A" (the
//! address frames that let ids learnt from HyParView be dialled). The victim
//! used to keep the first such claim for an id, for ever: a lie told before
//! the truth made the peer undiallable, and claims for made-up ids grew the
//! table without bound. The hostile agent sends its frames through the
//! `test-hooks` feature's `Agent::send_raw`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use x0x_core::addr_claims::{MAX_HINTS_PER_CLAIMANT, MAX_PEERS};
use x0x_core::{Agent, AgentConfig, AgentId, AgentKeypair, AgentOptions, Holder, RawStream};

async fn agent() -> Agent {
    let config = AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() };
    let options = AgentOptions { config, ..AgentOptions::default() };
    Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap()
}

/// An address frame (tag 0xA1, count, then per entry the id, family 4, the
/// IPv4 bytes and the port, little-endian), as `addr_book` encodes it.
fn claims(entries: &[(AgentId, SocketAddr)]) -> Vec<u8> {
    let mut out = vec![0xA1, entries.len() as u8];
    for (id, addr) in entries {
        let SocketAddr::V4(v4) = addr else { panic!("IPv4 only") };
        out.extend_from_slice(id);
        out.push(4);
        out.extend_from_slice(&v4.ip().octets());
        out.extend_from_slice(&v4.port().to_le_bytes());
    }
    out
}

fn counter(agent: &Agent, name: &str) -> u64 {
    agent.diagnostics().unwrap().into_iter().find(|(k, _)| k == name).map_or(0, |(_, v)| v)
}

/// Polls `check` every 50 ms until it holds or `within` passes.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !check() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Nothing listens there: a UDP port on loopback that no agent binds.
fn nowhere() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lie_told_first_does_not_keep_a_peer_undiallable() {
    let (victim, hostile, relay, honest) = (agent().await, agent().await, agent().await, agent().await);
    let honest_id = honest.agent_id();
    let bogus = nowhere();

    // The lie comes first: the victim has never heard of the honest agent.
    let link = hostile.connect_raw(victim.local_addr()).await.unwrap();
    hostile.send_raw(link, RawStream::Bulk, claims(&[(honest_id, bogus)])).await.unwrap();
    let lied = eventually(Duration::from_secs(10), || victim.addr_candidates(honest_id).unwrap().contains(&bogus)).await;
    assert!(lied, "the victim never took the claim: {:?}", victim.addr_candidates(honest_id).unwrap());

    // Then the truth: a relay connected to both announces the honest agent
    // (its address as the relay's connection saw it), and leaves, so nobody
    // the victim knows is connected to the honest agent any more.
    relay.connect_raw(victim.local_addr()).await.unwrap();
    honest.connect_raw(relay.local_addr()).await.unwrap();
    // The old table ignored this second claim, so the wait may time out.
    let told = eventually(Duration::from_secs(10), || victim.addr_candidates(honest_id).unwrap().len() >= 2).await;
    let known = victim.addr_candidates(honest_id).unwrap();
    relay.close().await;

    // A lookup at a holder known by id only has to dial the honest agent.
    let holder = Holder { id: honest_id, addrs: Vec::new() };
    let started = Instant::now();
    let lookup = victim.rendezvous_lookup(vec![holder], [7; 32], Duration::from_secs(8)).await.unwrap();
    let took = started.elapsed();
    let connected = victim.connected_peers().await.unwrap().iter().any(|(p, _)| *p == honest_id);
    let after = victim.addr_candidates(honest_id).unwrap();
    for a in [victim, hostile, honest] {
        a.close().await;
    }
    assert!(
        lookup.answered == 1 && connected,
        "the honest agent was not reached ({took:?}; honest hint arrived: {told}; addresses before {known:?}, after {after:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_for_100_000_made_up_ids_keep_the_address_table_capped() {
    let (victim, hostile, honest) = (agent().await, agent().await, agent().await);
    let honest_id = honest.agent_id();
    honest.connect_raw(victim.local_addr()).await.unwrap();
    let link = hostile.connect_raw(victim.local_addr()).await.unwrap();
    assert!(eventually(Duration::from_secs(10), || !victim.addr_candidates(honest_id).unwrap().is_empty()).await);

    const N: usize = 100_000;
    let bogus = nowhere();
    let ids: Vec<(AgentId, SocketAddr)> = (0..N).map(|_| (rand::random(), bogus)).collect();
    for chunk in ids.chunks(64) {
        hostile.send_raw(link, RawStream::Bulk, claims(chunk)).await.unwrap();
    }
    // Until every frame was handled: taken, shed, or dropped by the bulk
    // lane (an unbounded table simply holds them all).
    let handled = || {
        let dropped = counter(&victim, "transport.addrHintsDropped") as usize;
        let lane = counter(&victim, "inbound.dropped.bulk") as usize * 64;
        let peers = counter(&victim, "transport.addrPeers") as usize;
        dropped + lane + MAX_PEERS >= N || peers >= N
    };
    let settled = eventually(Duration::from_secs(60), handled).await;
    let peers = counter(&victim, "transport.addrPeers") as usize;
    let dropped = counter(&victim, "transport.addrHintsDropped");
    let honest_known = victim.addr_candidates(honest_id).unwrap();
    let dial_locks = victim.dial_locks().unwrap();
    for a in [victim, hostile, honest] {
        a.close().await;
    }
    assert!(settled, "the flood was not handled within 60 s ({peers} peers, {dropped} hints dropped)");
    assert!(peers <= MAX_PEERS, "{peers} peers in the address table after {N} claims (cap {MAX_PEERS})");
    assert!(dropped > 0, "no hint was counted as dropped");
    assert!(!honest_known.is_empty(), "the connected peer's address was shed");
    assert_eq!(dial_locks, 0, "dial locks left behind");
}

/// One connected peer claims addresses for 20,000 made-up ids. Before each
/// claimant had a quota, the full table shed the oldest hint-only entries,
/// whoever gave them: the hints an honest peer had given went first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_claimant_flooding_made_up_ids_cannot_push_out_another_claimants_hints() {
    let (victim, hostile, honest) = (agent().await, agent().await, agent().await);
    let honest_link = honest.connect_raw(victim.local_addr()).await.unwrap();
    let link = hostile.connect_raw(victim.local_addr()).await.unwrap();
    let told: Vec<(AgentId, SocketAddr)> = (0..32).map(|_| (rand::random(), nowhere())).collect();
    honest.send_raw(honest_link, RawStream::Bulk, claims(&told)).await.unwrap();
    let known = || told.iter().all(|(id, _)| !victim.addr_candidates(*id).unwrap().is_empty());
    assert!(eventually(Duration::from_secs(10), known).await, "the honest hints never arrived");

    const N: usize = 20_000;
    let ids: Vec<(AgentId, SocketAddr)> = (0..N).map(|_| (rand::random(), nowhere())).collect();
    for chunk in ids.chunks(64) {
        hostile.send_raw(link, RawStream::Bulk, claims(chunk)).await.unwrap();
    }
    let handled = || {
        let dropped = counter(&victim, "transport.addrHintsDropped") as usize;
        let lane = counter(&victim, "inbound.dropped.bulk") as usize * 64;
        dropped + lane + MAX_PEERS >= N
    };
    let settled = eventually(Duration::from_secs(60), handled).await;
    let peers = counter(&victim, "transport.addrPeers") as usize;
    let kept = told.iter().filter(|(id, _)| !victim.addr_candidates(*id).unwrap().is_empty()).count();
    for a in [victim, hostile, honest] {
        a.close().await;
    }
    assert!(settled, "the flood was not handled within 60 s ({peers} peers)");
    assert_eq!(kept, told.len(), "the flood pushed out {} of the honest peer's {} hints", told.len() - kept, told.len());
    assert!(
        peers <= MAX_HINTS_PER_CLAIMANT + told.len() + 8,
        "{peers} peers: the flooding claimant holds more than its share ({MAX_HINTS_PER_CLAIMANT})"
    );
}

/// With no honest neighbour to contradict the lie, a record the honest
/// agent signed (here fetched from a rendezvous holder) proves its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_record_beats_a_lie_that_nobody_contradicts() {
    const WAIT: Duration = Duration::from_secs(5);
    let (victim, hostile, keeper, honest) = (agent().await, agent().await, agent().await, agent().await);
    let (honest_id, honest_addr) = (honest.agent_id(), honest.local_addr());
    let bogus = nowhere();
    let link = hostile.connect_raw(victim.local_addr()).await.unwrap();
    hostile.send_raw(link, RawStream::Bulk, claims(&[(honest_id, bogus)])).await.unwrap();
    assert!(eventually(Duration::from_secs(10), || victim.addr_candidates(honest_id).unwrap().contains(&bogus)).await);

    let keeper_holder = Holder { id: keeper.agent_id(), addrs: vec![keeper.local_addr()] };
    let record = honest.sign_addr_record(&[honest_addr], 60_000).unwrap();
    honest.rendezvous_store(vec![keeper_holder.clone()], record, WAIT).await.unwrap();
    // Cut the honest agent off from the keeper, so the keeper has no
    // connection to announce when the victim connects.
    honest.block_peer(keeper.agent_id()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while keeper.connected_peers().await.unwrap().iter().any(|(p, _)| *p == honest_id) {
        assert!(Instant::now() < deadline, "the keeper stayed connected to the honest agent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let found = victim.rendezvous_lookup(vec![keeper_holder], honest_id, WAIT).await.unwrap();
    assert!(found.record.is_some(), "the keeper returned no record");
    let known = victim.addr_candidates(honest_id).unwrap();
    keeper.close().await;

    let holder = Holder { id: honest_id, addrs: Vec::new() };
    let lookup = victim.rendezvous_lookup(vec![holder], [7; 32], Duration::from_secs(8)).await.unwrap();
    let connected = victim.connected_peers().await.unwrap().iter().any(|(p, _)| *p == honest_id);
    for a in [victim, hostile, honest] {
        a.close().await;
    }
    assert!(lookup.answered == 1 && connected, "the honest agent was not reached (addresses {known:?})");
    assert_eq!(known.first(), Some(&honest_addr), "the record's address comes first: {known:?}");
}
