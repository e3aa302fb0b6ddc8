//! FOAF walks over real QUIC on 127.0.0.1, on overlays forced into a shape:
//! every agent blocks the agents that are not its neighbours in the shape.

use std::time::{Duration, Instant};

use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions};

/// Starts `n` agents whose overlay is exactly `edges`, each forwarding a
/// query to `fanout` neighbours for up to `ttl` hops, and returns once every
/// edge has a live connection.
async fn topology(n: usize, edges: &[(usize, usize)], fanout: usize, ttl: u8) -> Vec<Agent> {
    let config = AgentConfig { foaf_fanout: fanout, foaf_ttl: ttl, ..AgentConfig::default() };
    let mut agents = Vec::new();
    for _ in 0..n {
        let options = AgentOptions { config: config.clone(), ..AgentOptions::default() };
        agents.push(Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap());
    }
    let adjacent = |i: usize, j: usize| edges.iter().any(|&(a, b)| (a, b) == (i, j) || (a, b) == (j, i));
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i && !adjacent(i, j)) {
            agents[i].block_peer(agents[j].agent_id()).await.unwrap();
        }
    }
    for i in 1..n {
        let seeds: Vec<_> = (0..i).filter(|&j| adjacent(i, j)).map(|j| agents[j].local_addr()).collect();
        agents[i].join(seeds).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..n {
        loop {
            let connected: Vec<_> = agents[i].connected_peers().await.unwrap().into_iter().map(|(id, _)| id).collect();
            if (0..n).filter(|&j| adjacent(i, j)).all(|j| connected.contains(&agents[j].agent_id())) {
                break;
            }
            assert!(Instant::now() < deadline, "agent {i} connected to its neighbours within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    agents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_three_hops_away_is_found_though_the_walk_runs_into_its_origin() {
    // O(0) - U(1), O - A(2), U - A, U - C(3), A - C, C - T(4), one
    // neighbour per hop. Whichever of U and A gets the query second may pass
    // it to O, which has it; before O said "seen", that lookup failed (one
    // in four), so twenty in a row all succeeded about one time in 300.
    let edges = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (3, 4)];
    let agents = topology(5, &edges, 1, 4).await;
    let (origin, target) = (&agents[0], &agents[4]);
    let mut misses = 0;
    for _ in 0..20 {
        match origin.find_agent(target.agent_id(), Duration::from_secs(5)).await.unwrap() {
            Some(found) => assert_eq!(found.addrs, vec![target.local_addr()]),
            None => {
                misses += 1;
                break;
            }
        }
    }
    let redirected: u64 = agents.iter().map(|a| a.foaf_stats().unwrap().revisits_redirected).sum();
    for a in &agents {
        a.close().await;
    }
    assert_eq!(misses, 0, "a lookup of a target 3 hops away failed ({redirected} redirects)");
}
