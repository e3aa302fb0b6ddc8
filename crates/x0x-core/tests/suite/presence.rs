//! The presence driver between real agents over loopback QUIC, without Node:
//! beacons flow through the flood, a newcomer is seen online, a graceful stop
//! is seen as offline at once, and agents with another group key see
//! nothing. (The rules themselves are tested deterministically in
//! `src/presence/`.)

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::timeout;
use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, Presence, PresenceConfig, PresenceEvent};

/// Hang guard of every wait; not a performance bound.
const WAIT: Duration = Duration::from_secs(60);

async fn agent() -> Arc<Agent> {
    let config = AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() };
    let options = AgentOptions { config, ..AgentOptions::default() };
    Arc::new(Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap())
}

fn presence(agent: &Arc<Agent>, group_key: Option<[u8; 32]>) -> Presence {
    // A 10-minute TTL: within the test, only start-up beacons, answers to
    // newcomers and goodbyes can explain what is seen.
    Presence::new(agent, &PresenceConfig { beacon_ttl: Duration::from_secs(600), group_key }).unwrap()
}

async fn next_event(events: &mut broadcast::Receiver<PresenceEvent>) -> PresenceEvent {
    timeout(WAIT, events.recv()).await.expect("no presence event in time").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_see_each_other_online_then_a_goodbye_at_once() {
    let (a, b, c) = (agent().await, agent().await, agent().await);
    b.join(vec![a.local_addr()]).await.unwrap();
    c.join(vec![a.local_addr()]).await.unwrap();
    let key = Some([5u8; 32]);
    let (pa, pb, pc) = (presence(&a, key), presence(&b, key), presence(&c, Some([6u8; 32])));
    let (mut ea, mut eb) = (pa.events(), pb.events());
    // c starts last, so its one start-up beacon finds a and b listening.
    pa.start().await.unwrap();
    pb.start().await.unwrap();
    pc.start().await.unwrap();

    // a sees b's first beacon; b sees one of a's (start-up or answer).
    assert!(matches!(next_event(&mut ea).await, PresenceEvent::Online { agent, .. } if agent == b.agent_id()));
    assert!(matches!(next_event(&mut eb).await, PresenceEvent::Online { agent, .. } if agent == a.agent_id()));
    let listed = pb.online_agents();
    assert_eq!(listed.iter().map(|o| o.agent).collect::<Vec<_>>(), vec![a.agent_id()]);
    assert!(!listed[0].addrs.is_empty());

    // c's sealed beacon reaches a and b (a relays it) and opens for neither.
    let deadline = tokio::time::Instant::now() + WAIT;
    while pa.stats().decrypt_failures == 0 || pb.stats().decrypt_failures == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "c's beacon never arrived: a {:?}, b {:?}, c {:?}, flood a {:?} b {:?} c {:?}",
            pa.stats(),
            pb.stats(),
            pc.stats(),
            a.flood_stats(),
            b.flood_stats(),
            c.flood_stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    pb.stop().await;
    assert!(matches!(next_event(&mut ea).await, PresenceEvent::Offline { agent, .. } if agent == b.agent_id()));
    assert!(pa.online_agents().is_empty());
    assert!(pb.broadcast().await.is_err(), "no beacon after the goodbye");

    let (sa, sb) = (pa.stats(), pb.stats());
    // b's hello and goodbye at least (b's answer to a may come between, or
    // arrive after the goodbye and count as a replay).
    assert!(sa.beacons_received >= 2, "{sa:?}");
    assert_eq!(sa.invalid_dropped, 0);
    assert!(sb.beacons_sent >= 2, "start-up beacon and goodbye: {sb:?}");
    assert_eq!(pc.stats().beacons_received, 0);
    for x in [&c, &b, &a] {
        x.close().await;
    }
}
