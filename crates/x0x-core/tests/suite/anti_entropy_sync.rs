//! Anti-entropy outside the rounds (`ae_sync`), over QUIC on 127.0.0.1,
//! with the background rounds an hour apart, so anything that arrives came
//! from a session started by a connection or a subscription.
//!
//! The publisher and the newcomer block each other: Plumtree offers a newly
//! connected peer the publisher's own recent messages, which would hide what
//! is tested. Only the holder, which relayed them, can hand them on.

use std::time::Duration;

use tokio::time::timeout;
use x0x_core::{Agent, Subscription};

use crate::support::{agent_without_anti_entropy, counter};

const TOPIC: &str = "sync.history";
/// Generous: a session is a few round trips, the machine is shared.
const ARRIVES_WITHIN: Duration = Duration::from_secs(30);
const PAYLOADS: [&[u8]; 3] = [b"one", b"two", b"three"];

/// A publisher and a holder that relayed its messages, plus a newcomer
/// that neither the publisher nor any gossip path can reach.
struct World {
    publisher: Agent,
    holder: Agent,
    newcomer: Agent,
    _subs: Vec<Subscription>,
}

async fn world() -> World {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    let publisher = agent_without_anti_entropy().await;
    let holder = agent_without_anti_entropy().await;
    let newcomer = agent_without_anti_entropy().await;
    publisher.block_peer(newcomer.agent_id()).await.unwrap();
    newcomer.block_peer(publisher.agent_id()).await.unwrap();
    let mut held = holder.subscribe(TOPIC).await.unwrap();
    let own = publisher.subscribe(TOPIC).await.unwrap();
    holder.join(vec![publisher.local_addr()]).await.unwrap();
    holder.wait_for_topic_peers(TOPIC, 1, ARRIVES_WITHIN).await.unwrap();
    publisher.wait_for_topic_peers(TOPIC, 1, ARRIVES_WITHIN).await.unwrap();
    for p in PAYLOADS {
        publisher.publish(TOPIC, p.to_vec()).await.unwrap();
    }
    for _ in PAYLOADS {
        timeout(ARRIVES_WITHIN, held.next()).await.expect("the holder gets each by gossip").unwrap();
    }
    // The holder and the publisher reconcile as they connect; a test that
    // counts sessions must not see that one finish late.
    let deadline = std::time::Instant::now() + ARRIVES_WITHIN;
    while counter(&holder, "antiEntropy.peerSyncs") + counter(&publisher, "antiEntropy.peerSyncs") < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the holder's session with the publisher never counted: holder {:?} {:?}; publisher {:?} {:?}",
            holder.anti_entropy_stats(),
            holder.diagnostics(),
            publisher.anti_entropy_stats(),
            publisher.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    World { publisher, holder, newcomer, _subs: vec![held, own] }
}

/// The three payloads, each once, from the publisher; nothing after them.
/// `w`'s anti-entropy totals are in the failure message.
async fn expect_history(sub: &mut Subscription, w: &World) {
    let publisher = &w.publisher;
    let mut got = Vec::new();
    while got.len() < PAYLOADS.len() {
        let m = timeout(ARRIVES_WITHIN, sub.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "history incomplete: got {got:?}; newcomer {:?}; holder {:?}",
                    w.newcomer.anti_entropy_stats(),
                    w.holder.anti_entropy_stats()
                )
            })
            .expect("subscription open");
        assert_eq!(m.from, publisher.agent_id());
        got.push(m.payload);
    }
    got.sort();
    let mut want: Vec<Vec<u8>> = PAYLOADS.iter().map(|p| p.to_vec()).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(timeout(Duration::from_secs(2), sub.next()).await.is_err(), "each message once");
}

async fn close(w: World) {
    for a in [&w.newcomer, &w.holder, &w.publisher] {
        a.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_that_subscribes_after_joining_gets_the_history_from_a_relay_at_once() {
    let w = world().await;
    w.newcomer.join(vec![w.holder.local_addr()]).await.unwrap();
    let mut sub = w.newcomer.subscribe(TOPIC).await.unwrap();
    expect_history(&mut sub, &w).await;
    assert_eq!(w.newcomer.anti_entropy_stats().unwrap().rounds, 0, "no background round ran");
    assert!(counter(&w.newcomer, "antiEntropy.peerSyncs") >= 1);
    close(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_agent_is_repaired_when_it_connects_in_one_session() {
    let w = world().await;
    let mut sub = w.newcomer.subscribe(TOPIC).await.unwrap();
    let holder_before = counter(&w.holder, "antiEntropy.peerSyncs");
    w.newcomer.join(vec![w.holder.local_addr()]).await.unwrap();
    expect_history(&mut sub, &w).await;
    let rounds = w.newcomer.anti_entropy_stats().unwrap().rounds + w.holder.anti_entropy_stats().unwrap().rounds;
    assert_eq!(rounds, 0, "no background round ran");
    // One session for the connection, started by one side only (the
    // newcomer's own subscription came before it had peers).
    let syncs = counter(&w.newcomer, "antiEntropy.peerSyncs") + counter(&w.holder, "antiEntropy.peerSyncs") - holder_before;
    assert_eq!(syncs, 1, "exactly one session between the two");
    close(w).await;
}

/// Relaying is not delivering: an agent that passed a topic's messages on
/// before it subscribed (an agent joins, then starts its coordinator
/// listener) gets them from anti-entropy once it subscribes. It used to mark
/// them seen while relaying, and then refused them as duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_relayed_before_subscribing_are_delivered_once_subscribed() {
    let (relay, publisher, far) = (
        agent_without_anti_entropy().await,
        agent_without_anti_entropy().await,
        agent_without_anti_entropy().await,
    );
    publisher.join(vec![relay.local_addr()]).await.unwrap();
    far.join(vec![relay.local_addr()]).await.unwrap();
    far.block_peer(publisher.agent_id()).await.unwrap();
    publisher.block_peer(far.agent_id()).await.unwrap();
    let mut far_sub = far.subscribe(TOPIC).await.unwrap();
    let _own = publisher.subscribe(TOPIC).await.unwrap();
    // A fresh tree through a relay may lose its first messages on a busy
    // machine, so publish until one crosses: that one the relay relayed.
    let deadline = std::time::Instant::now() + ARRIVES_WITHIN;
    let mut crossed = None;
    while crossed.is_none() {
        assert!(std::time::Instant::now() < deadline, "no message crossed the relay");
        let id = publisher.publish(TOPIC, b"relayed".to_vec()).await.unwrap();
        while let Ok(Some(m)) = timeout(Duration::from_millis(500), far_sub.next()).await {
            if m.id == id {
                crossed = Some(id);
            }
        }
    }
    let crossed = crossed.unwrap();
    let mut late = relay.subscribe(TOPIC).await.unwrap();
    let got = timeout(ARRIVES_WITHIN, async {
        loop {
            let m = late.next().await.expect("subscription open");
            if m.id == crossed {
                return m;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the relayed message never reached the late subscription: {:?}", relay.anti_entropy_stats()));
    assert_eq!(got.from, publisher.agent_id());
    for a in [relay, publisher, far] {
        a.close().await;
    }
}

/// `ae_sync::MIN_GAP`: a peer gets at most one session per this long.
const MIN_GAP: Duration = Duration::from_secs(10);
const RECONNECTS: usize = 8;

/// Polls `done` every 50 ms for up to [`ARRIVES_WITHIN`].
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + ARRIVES_WITHIN;
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An attack: a peer that closes and redials in a loop, a full QUIC
/// handshake under the same identity each time, to make its victim run an
/// anti-entropy session (digests of every topic) per connection. The
/// victim runs one per `MIN_GAP` at most, however often the peer returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_reconnects_in_a_loop_gets_one_session_per_gap() {
    let victim = agent_without_anti_entropy().await;
    let _sub = victim.subscribe(TOPIC).await.unwrap();
    // The lower id starts the session, so the attacker takes a higher one.
    let key = loop {
        let k = x0x_core::AgentKeypair::generate().unwrap();
        if k.agent_id() > victim.agent_id() {
            break k;
        }
    };
    let attacker_id = key.agent_id();
    let sees_attacker = async |victim: &Agent| {
        victim.connected_peers().await.unwrap().iter().any(|(id, _)| *id == attacker_id)
    };
    let before = counter(&victim, "antiEntropy.peerSyncs");
    let mut first_session = None;
    for i in 0..RECONNECTS {
        let options = x0x_core::AgentOptions {
            config: x0x_core::AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..Default::default() },
            ..Default::default()
        };
        let attacker = Agent::start(key.clone(), options).await.unwrap();
        // A shared topic makes each session a full reconciliation.
        let sub = attacker.subscribe(TOPIC).await.unwrap();
        attacker.join(vec![victim.local_addr()]).await.unwrap();
        until("the victim sees the attacker", async || sees_attacker(&victim).await).await;
        if i == 0 {
            until("the first connection gets its session", async || counter(&victim, "antiEntropy.peerSyncs") > before).await;
            first_session = Some(std::time::Instant::now());
        }
        drop(sub);
        attacker.close().await;
        until("the victim sees the attacker gone", async || !sees_attacker(&victim).await).await;
    }
    // Sessions are spawned: give any the gate let through time to count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let elapsed = first_session.expect("a first session").elapsed();
    let sessions = counter(&victim, "antiEntropy.peerSyncs") - before;
    // Not a timing threshold: a slow machine only allows more sessions.
    let allowed = 1 + (elapsed.as_secs_f64() / MIN_GAP.as_secs_f64()) as u64;
    assert!(
        sessions <= allowed,
        "{RECONNECTS} connections in {elapsed:?} started {sessions} sessions; at most {allowed} allowed"
    );
    victim.close().await;
}
