//! Agents talking over real QUIC on 127.0.0.1.

use std::time::Duration;

use x0x_core::{Agent, AgentKeypair, AgentOptions, Message, Subscription};

async fn agent() -> Agent {
    Agent::start(AgentKeypair::generate().unwrap(), AgentOptions::default())
        .await
        .unwrap()
}

async fn next(sub: &mut Subscription) -> Message {
    tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .expect("message within 20 s")
        .expect("subscription open")
}

/// Publishes until the subscriber sees one message: the first publishes can
/// race the overlay forming.
async fn publish_until_seen(publisher: &Agent, sub: &mut Subscription, topic: &str) {
    for _ in 0..100 {
        publisher.publish(topic, b"warmup".to_vec()).await.unwrap();
        if tokio::time::timeout(Duration::from_millis(200), sub.next()).await.is_ok() {
            return;
        }
    }
    panic!("overlay never delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_exchange_with_publisher_identity() {
    let (a, b, c) = (agent().await, agent().await, agent().await);
    b.join(vec![a.local_addr()]).await.unwrap();
    c.join(vec![a.local_addr()]).await.unwrap();
    let mut sub_c = c.subscribe("t1").await.unwrap();
    let mut sub_a = a.subscribe("t1").await.unwrap();
    publish_until_seen(&b, &mut sub_c, "t1").await;
    while tokio::time::timeout(Duration::from_millis(300), sub_a.next()).await.is_ok() {}
    while tokio::time::timeout(Duration::from_millis(300), sub_c.next()).await.is_ok() {}

    let id = b.publish("t1", b"same".to_vec()).await.unwrap();
    let id2 = b.publish("t1", b"same".to_vec()).await.unwrap();
    assert_ne!(id, id2);
    for sub in [&mut sub_a, &mut sub_c] {
        let m1 = next(sub).await;
        let m2 = next(sub).await;
        assert_eq!(m1.from, b.agent_id(), "from names the publisher, not the hop");
        assert_eq!(m1.payload, b"same");
        assert_eq!(m2.payload, b"same");
        let mut ids = [m1.id, m2.id];
        ids.sort();
        let mut want = [id, id2];
        want.sort();
        assert_eq!(ids, want);
    }
    for x in [a, b, c] {
        x.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_payload_crosses_a_relay() {
    let (a, relay, c) = (agent().await, agent().await, agent().await);
    // a and c refuse each other, so every frame between them goes through the relay.
    a.block_peer(c.agent_id()).await.unwrap();
    c.block_peer(a.agent_id()).await.unwrap();
    a.join(vec![relay.local_addr()]).await.unwrap();
    c.join(vec![relay.local_addr()]).await.unwrap();
    let mut sub = c.subscribe("zeros").await.unwrap();
    publish_until_seen(&a, &mut sub, "zeros").await;
    while tokio::time::timeout(Duration::from_millis(300), sub.next()).await.is_ok() {}
    let zeros = vec![0u8; 64 * 1024];
    a.publish("zeros", zeros.clone()).await.unwrap();
    let m = next(&mut sub).await;
    assert_eq!(m.payload, zeros);
    assert_eq!(m.from, a.agent_id());
    let peers: Vec<_> = c.connected_peers().await.unwrap().into_iter().map(|(p, _)| p).collect();
    assert!(!peers.contains(&a.agent_id()), "c must not be connected to a");
    for x in [a, relay, c] {
        x.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_frees_the_port_and_rejects_calls() {
    let a = agent().await;
    let addr = a.local_addr();
    a.close().await;
    assert_eq!(a.publish("t", vec![1]).await.unwrap_err().code(), "ERR_X0X_CLOSED");
    a.close().await;
    let again = Agent::start(
        AgentKeypair::generate().unwrap(),
        AgentOptions { bind_addr: addr, ..AgentOptions::default() },
    )
    .await
    .expect("port is free after close");
    again.close().await;
}

/// Sends on `tx` when dropped: tells whether a detached future ever ended.
struct DropSignal(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_call_runs_on_the_agent_and_is_dropped_when_it_closes() {
    let a = std::sync::Arc::new(agent().await);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let publisher = std::sync::Arc::clone(&a);
    a.spawn_detached(async move {
        let _ = done_tx.send(publisher.publish("t", vec![1]).await.map(|_| ()));
    });
    let published = tokio::time::timeout(Duration::from_secs(10), done_rx).await.expect("settled").expect("sent");
    assert!(published.is_ok(), "a detached publish runs to completion: {published:?}");

    // One still waiting when the agent closes is dropped, never left hanging.
    let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel();
    let guard = DropSignal(Some(dropped_tx));
    a.spawn_detached(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    a.close().await;
    tokio::time::timeout(Duration::from_secs(10), dropped_rx).await.expect("dropped at close").expect("signal");

    // And one started after close is dropped unpolled.
    let (late_tx, late_rx) = tokio::sync::oneshot::channel();
    let (polled_tx, mut polled_rx) = tokio::sync::oneshot::channel::<()>();
    let guard = DropSignal(Some(late_tx));
    a.spawn_detached(async move {
        let _guard = guard;
        let _ = polled_tx.send(());
    });
    tokio::time::timeout(Duration::from_secs(10), late_rx).await.expect("dropped").expect("signal");
    assert!(polled_rx.try_recv().is_err(), "a future started after close must not run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_seed_is_a_coded_error() {
    let a = agent().await;
    let err = a.join(vec!["127.0.0.1:9".parse().unwrap()]).await.unwrap_err();
    assert_eq!(err.code(), "ERR_X0X_JOIN_FAILED");
    assert!(a.is_running());
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlay_is_a_mesh_not_a_star() {
    let seed = agent().await;
    let mut others = Vec::new();
    for _ in 0..6 {
        let a = agent().await;
        a.join(vec![seed.local_addr()]).await.unwrap();
        others.push(a);
    }
    // Forward-joined peers learn each other's addresses and connect directly,
    // so most agents end up with connections besides the bootstrap.
    let mut meshed = 0;
    for _ in 0..40 {
        meshed = 0;
        for a in &others {
            if a.connected_peers().await.unwrap().len() > 1 {
                meshed += 1;
            }
        }
        if meshed == others.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(meshed, others.len(), "every non-bootstrap agent has a peer besides the seed");
    for a in others {
        a.close().await;
    }
    seed.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_does_not_read_holds_its_buffer_and_counts_the_rest() {
    let mut options = AgentOptions::default();
    options.config.subscription_buffer = 16;
    let slow = Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap();
    let publisher = agent().await;
    publisher.join(vec![slow.local_addr()]).await.unwrap();
    let mut sub = slow.subscribe("burst").await.unwrap();
    let mut warm = slow.subscribe("warm").await.unwrap();
    publish_until_seen(&publisher, &mut warm, "warm").await;

    const SENT: u64 = 100;
    for i in 0..SENT {
        publisher.publish("burst", vec![i as u8; 64]).await.unwrap();
    }
    // Every message either sits in the buffer or was dropped, counted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while sub.dropped() < SENT - 16 {
        assert!(tokio::time::Instant::now() < deadline, "only {} dropped", sub.dropped());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        got.push(m.payload[0]);
    }
    // The first 16 to arrive were kept (arrival order is not publish order:
    // frames are dispatched concurrently); the later ones were dropped.
    assert_eq!(got.len(), 16);
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 16, "no message delivered twice");
    assert!(got.iter().all(|&b| u64::from(b) < SENT));
    assert_eq!(sub.dropped(), SENT - 16);
    assert_eq!(slow.pubsub_stats().unwrap().lagged_dropped, SENT - 16);
    // Reading again frees the buffer: the next message is delivered.
    publisher.publish("burst", vec![200; 64]).await.unwrap();
    assert_eq!(next(&mut sub).await.payload[0], 200);
    slow.close().await;
    publisher.close().await;
}
