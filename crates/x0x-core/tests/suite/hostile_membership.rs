//! Hostile membership frames over real QUIC on 127.0.0.1 (issue 14,
//! findings 1 and 2). The hostile agent opens a bare connection to its
//! victim (it never joins the overlay) and sends HyParView and SWIM frames
//! no honest agent would, through the `test-hooks` feature's
//! `Agent::send_raw`. Each test asserts what a user of the victim notices.

use std::time::{Duration, Instant};

use saorsa_gossip_membership::{HyParViewMessage, MembershipProtocolMessage, NeighborPriority, SwimMessage};
use saorsa_gossip_types::PeerId;
use x0x_core::{Agent, AgentConfig, AgentId, AgentKeypair, AgentOptions, LeaveReason, MembershipEventKind, RawStream};

async fn agent(config: AgentConfig) -> Agent {
    let options = AgentOptions { config, ..AgentOptions::default() };
    Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap()
}

fn hyparview(msg: HyParViewMessage) -> Vec<u8> {
    postcard::to_stdvec(&MembershipProtocolMessage::HyParView(msg)).unwrap()
}

fn swim(msg: SwimMessage) -> Vec<u8> {
    postcard::to_stdvec(&MembershipProtocolMessage::Swim(msg)).unwrap()
}

async fn active(a: &Agent) -> Vec<AgentId> {
    a.active_peers().await.unwrap().into_iter().map(|(p, _)| p).collect()
}

/// Waits until every agent holds all the others as neighbours.
async fn meshed(agents: &[&Agent]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut done = true;
        for a in agents {
            let view = active(a).await;
            done &= agents.iter().filter(|b| b.agent_id() != a.agent_id()).all(|b| view.contains(&b.agent_id()));
        }
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "the overlay never meshed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn frames_in(agents: &[&Agent]) -> u64 {
    agents
        .iter()
        .flat_map(|a| a.diagnostics().unwrap())
        .filter(|(k, _)| k == "transport.framesIn")
        .map(|(_, v)| v)
        .sum()
}

/// Finding 1: a SHUFFLE whose ttl is `usize::MAX` used to bounce between
/// two neighbours for ever (the next hop excluded only the origin). Three
/// honest agents exchange a few dozen frames a second between them; ten
/// such walks added thousands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffles_with_a_huge_ttl_die_out() {
    let (v, n1, n2) = (agent(AgentConfig::default()).await, agent(AgentConfig::default()).await, agent(AgentConfig::default()).await);
    n1.join(vec![v.local_addr()]).await.unwrap();
    n2.join(vec![v.local_addr()]).await.unwrap();
    meshed(&[&v, &n1, &n2]).await;
    let hostile = agent(AgentConfig::default()).await;
    let victim = hostile.connect_raw(v.local_addr()).await.unwrap();
    let origin = PeerId::new(hostile.agent_id());
    for _ in 0..10 {
        let shuffle = HyParViewMessage::Shuffle { sender: origin, peers: vec![], ttl: usize::MAX };
        hostile.send_raw(victim, RawStream::Membership, hyparview(shuffle)).await.unwrap();
    }
    // Walks of the protocol's length (3 hops) are long over by then.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = frames_in(&[&v, &n1, &n2]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = frames_in(&[&v, &n1, &n2]) - before;
    for a in [hostile, v, n1, n2] {
        a.close().await;
    }
    assert!(during < 300, "{during} frames in 3 s among three agents: the walks never ended");
}

/// Finding 2: NEIGHBOR{High} naming a made-up sender put that id in the
/// active view, pushing honest neighbours out once it was full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_neighbor_cannot_take_an_honest_neighbours_place() {
    let (v, n1, n2) = (agent(AgentConfig::default()).await, agent(AgentConfig::default()).await, agent(AgentConfig::default()).await);
    n1.join(vec![v.local_addr()]).await.unwrap();
    n2.join(vec![v.local_addr()]).await.unwrap();
    meshed(&[&v, &n1, &n2]).await;
    let hostile = agent(AgentConfig::default()).await;
    let victim = hostile.connect_raw(v.local_addr()).await.unwrap();
    let fakes: Vec<AgentId> = (0..30).map(|_| rand::random()).collect();
    for fake in &fakes {
        let neighbor = HyParViewMessage::Neighbor { sender: PeerId::new(*fake), priority: NeighborPriority::High };
        hostile.send_raw(victim, RawStream::Membership, hyparview(neighbor)).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut problem = None;
    while Instant::now() < deadline && problem.is_none() {
        let view = active(&v).await;
        if let Some(fake) = view.iter().find(|p| fakes.contains(p)) {
            problem = Some(format!("forged id {} entered the active view", hex(fake)));
        } else if !view.contains(&n1.agent_id()) || !view.contains(&n2.agent_id()) {
            problem = Some("an honest neighbour was evicted".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for a in [hostile, v, n1, n2] {
        a.close().await;
    }
    assert_eq!(problem, None);
}

fn hex(id: &AgentId) -> String {
    id.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn fast_swim() -> AgentConfig {
    AgentConfig {
        probe_interval: Duration::from_millis(200),
        suspect_timeout: Duration::from_secs(1),
        ..AgentConfig::default()
    }
}

/// Finding 2: ACK-RESPONSE{target} from a peer that was never asked to
/// probe `target` cleared its pending probe and marked it alive, so a
/// hostile peer could keep a dead neighbour in the view for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unasked_ack_response_cannot_keep_a_dead_peer_alive() {
    let v = agent(fast_swim()).await;
    let dead = agent(fast_swim()).await;
    let dead_id = dead.agent_id();
    dead.join(vec![v.local_addr()]).await.unwrap();
    meshed(&[&v, &dead]).await;
    let hostile = agent(fast_swim()).await;
    let victim = hostile.connect_raw(v.local_addr()).await.unwrap();
    let mut events = v.membership_events().unwrap();
    // Gone without a goodbye: dropping an agent does not run its close().
    drop(dead);
    let lie = swim(SwimMessage::AckResponse { target: PeerId::new(dead_id), requester: PeerId::new(victim) });
    let spam = async {
        loop {
            let _ = hostile.send_raw(victim, RawStream::Membership, lie.clone()).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let left = async {
        loop {
            match events.recv().await {
                Ok(e) if e.peer == PeerId::new(dead_id) => {
                    if let MembershipEventKind::Left { reason } = e.kind {
                        return Some(reason);
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("membership events ended: {e}"),
            }
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::select! {
            () = spam => None,
            reason = left => reason,
        }
    })
    .await;
    hostile.close().await;
    v.close().await;
    assert_eq!(outcome, Ok(Some(LeaveReason::Failed)), "the dead neighbour was not reported failed within 20 s");
}
