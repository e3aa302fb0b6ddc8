//! Coordinator adverts and rendezvous between real agents over loopback
//! QUIC, without Node: an advert spreads over pub/sub and is re-published
//! before it expires, every agent then ranks the same holders, and a
//! registration made through the coordinator is found by an agent that
//! never connected to the registrant. (The rules themselves are tested
//! deterministically in `src/coordinators/` and `src/rendezvous/`.)

use std::sync::Arc;
use std::time::Duration;

use x0x_core::coordinators::{verify, COORDINATORS_TOPIC};
use x0x_core::{
    Agent, AgentConfig, AgentKeypair, AgentOptions, CoordinatorConfig, Coordinators, CoreError, HolderReply, Presence,
    PresenceConfig, RendezvousClient, RendezvousConfig, StoreOutcome,
};

/// Hang guard of every wait; not a performance bound.
const WAIT: Duration = Duration::from_secs(60);
/// Advert lifetime: re-published every second, so an advert that was
/// listed and is still listed after its expiry was renewed.
const ADVERT_TTL: Duration = Duration::from_secs(2);

async fn agent() -> Arc<Agent> {
    let config = AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() };
    let options = AgentOptions { config, ..AgentOptions::default() };
    Arc::new(Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap())
}

struct Node {
    coordinators: Arc<Coordinators>,
    rendezvous: RendezvousClient,
}

fn node(agent: &Arc<Agent>, advertise: bool) -> Node {
    let coordinators =
        Arc::new(Coordinators::new(agent, &CoordinatorConfig { advert_ttl: ADVERT_TTL, advertise }).unwrap());
    // Never started: with a coordinator known, presence is not consulted.
    let presence = Arc::new(
        Presence::new(agent, &PresenceConfig { beacon_ttl: Duration::from_secs(600), group_key: None }).unwrap(),
    );
    let config = RendezvousConfig { record_ttl: Duration::from_secs(60), replicas: 2 };
    let rendezvous = RendezvousClient::new(agent, &config, Arc::clone(&coordinators), presence).unwrap();
    Node { coordinators, rendezvous }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advert_spreads_and_renews_and_its_coordinator_holds_registrations() {
    let (a, b, c) = (agent().await, agent().await, agent().await);
    b.join(vec![a.local_addr()]).await.unwrap();
    c.join(vec![a.local_addr()]).await.unwrap();
    let (na, nb, nc) = (node(&a, true), node(&b, false), node(&c, false));
    nb.coordinators.start().await.unwrap();
    nc.coordinators.start().await.unwrap();
    a.wait_for_topic_peers(COORDINATORS_TOPIC, 2, WAIT).await.unwrap();
    na.coordinators.start().await.unwrap();

    // a lists itself at once; b and c once its advert arrives.
    let own = na.coordinators.coordinators();
    assert_eq!(own.iter().map(|x| x.peer).collect::<Vec<_>>(), vec![a.agent_id()]);
    for n in [&nb, &nc] {
        until("a's advert", || n.coordinators.coordinators().len() == 1).await;
    }
    let seen = nb.coordinators.coordinators().remove(0);
    assert_eq!(seen.peer, a.agent_id());
    assert_eq!(seen.addrs, a.advertised_addrs().iter().map(ToString::to_string).collect::<Vec<_>>());
    assert!(verify(&seen));
    // Still listed after the first advert expired: a re-advertised.
    until("a's renewed advert", || nb.coordinators.coordinators().first().is_some_and(|x| x.timestamp > seen.expires_at)).await;
    assert!(nb.coordinators.stats().accepted >= 2);
    assert!(nb.coordinators.coordinators().iter().all(|x| x.peer == a.agent_id()), "b and c never advertise");

    // The only coordinator is every shard's holder, as everyone computes it.
    let holders = nb.rendezvous.holders_for(&c.agent_id()).unwrap();
    assert_eq!(holders.iter().map(|h| h.id).collect::<Vec<_>>(), vec![a.agent_id()]);
    assert_eq!(nc.rendezvous.holders_for(&c.agent_id()).unwrap(), holders);

    // c registers at a; b, blocked from ever connecting to c, finds it there.
    b.block_peer(c.agent_id()).await.unwrap();
    c.block_peer(b.agent_id()).await.unwrap();
    let registered = nc.rendezvous.register(None, WAIT).await.unwrap();
    assert_eq!(registered.holders, vec![(a.agent_id(), HolderReply::Answered(StoreOutcome::Stored))]);
    assert_eq!(registered.addrs, c.advertised_addrs());
    let found = nb.rendezvous.lookup(c.agent_id(), WAIT).await.unwrap().expect("c's registration");
    assert_eq!((found.agent_id, found.addrs), (c.agent_id(), c.advertised_addrs()));
    assert!(!b.connected_peers().await.unwrap().iter().any(|(id, _)| *id == c.agent_id()));

    nc.rendezvous.unregister(WAIT).await.unwrap();
    assert_eq!(nb.rendezvous.lookup(c.agent_id(), WAIT).await.unwrap(), None);

    // With the coordinator stopped and its advert expired, nobody holds for
    // c but c itself (presence sees nobody); a registration there is stored
    // locally, and after close every call fails as closed.
    na.coordinators.stop();
    until("a's advert to expire", || nc.coordinators.coordinators().is_empty()).await;
    let alone = nc.rendezvous.holders_for(&c.agent_id()).unwrap();
    assert_eq!(alone.iter().map(|h| h.id).collect::<Vec<_>>(), vec![c.agent_id()]);
    c.close().await;
    assert!(matches!(nc.rendezvous.register(None, WAIT).await, Err(CoreError::Closed)));
    assert!(matches!(nc.rendezvous.holders_for(&a.agent_id()), Err(CoreError::Closed)));
    for x in [&b, &a] {
        x.close().await;
    }
}
