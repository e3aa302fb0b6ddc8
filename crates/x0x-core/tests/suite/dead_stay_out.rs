//! A peer SWIM found dead stays out of a survivor's views, even when a
//! neighbour that has not noticed yet lists it in a SHUFFLE-REPLY. Upstream
//! HyParView took it back into the passive view, promoted it on the next
//! refill and marked it alive, so SWIM had to find it dead again, round
//! after round: in x0x's "SIGKILL 4 of 12" network test, survivors held
//! killed victims in their active views for over a minute. The stale
//! SHUFFLE-REPLY is sent through the `test-hooks` feature's
//! `Agent::send_raw`, over real QUIC on 127.0.0.1.

use std::time::Duration;

use saorsa_gossip_membership::{HyParViewMessage, MembershipProtocolMessage};
use saorsa_gossip_types::PeerId;
use tokio::sync::broadcast;
use x0x_core::{Agent, AgentConfig, AgentId, AgentKeypair, AgentOptions, LeaveReason, MembershipEvent, MembershipEventKind, RawStream};

async fn agent() -> Agent {
    let config = AgentConfig {
        probe_interval: Duration::from_millis(200),
        suspect_timeout: Duration::from_secs(1),
        ..AgentConfig::default()
    };
    let options = AgentOptions { config, ..AgentOptions::default() };
    Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap()
}

async fn active(a: &Agent) -> Vec<AgentId> {
    a.active_peers().await.unwrap().into_iter().map(|(p, _)| p).collect()
}

/// Events up to and including the first that `last` accepts.
async fn events_until(
    events: &mut broadcast::Receiver<MembershipEvent>,
    what: &str,
    last: impl Fn(&MembershipEvent) -> bool,
) -> Vec<MembershipEvent> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = events.recv().await.expect("membership events open");
            let done = last(&e);
            seen.push(e);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within 30 s; saw {seen:?}"));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_peer_shuffled_back_is_not_promoted_again() {
    let (survivor, victim, leaver) = (agent().await, agent().await, agent().await);
    let (victim_id, leaver_id) = (victim.agent_id(), leaver.agent_id());
    let mut events = survivor.membership_events().unwrap();
    victim.join(vec![survivor.local_addr()]).await.unwrap();
    leaver.join(vec![survivor.local_addr()]).await.unwrap();
    for _ in 0..200 {
        let view = active(&survivor).await;
        if view.contains(&victim_id) && view.contains(&leaver_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(active(&survivor).await.contains(&victim_id), "the victim never became a neighbour");

    // Killed: dropping an agent does not run its graceful close.
    drop(victim);
    events_until(&mut events, "the victim reported failed", |e| {
        e.peer.to_bytes() == victim_id && e.kind == MembershipEventKind::Left { reason: LeaveReason::Failed }
    })
    .await;

    // A neighbour that has not noticed yet shuffles the dead peer back.
    let gossip = agent().await;
    let link = gossip.connect_raw(survivor.local_addr()).await.unwrap();
    let stale = MembershipProtocolMessage::HyParView(HyParViewMessage::ShuffleReply { peers: vec![PeerId::new(victim_id)] });
    gossip.send_raw(link, RawStream::Membership, postcard::to_stdvec(&stale).unwrap()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A goodbye makes the survivor refill its active view from the passive
    // view, in the same step, before its watcher reports the leave.
    leaver.close().await;
    let after = events_until(&mut events, "the leaver reported gone", |e| {
        e.peer.to_bytes() == leaver_id && matches!(e.kind, MembershipEventKind::Left { .. })
    })
    .await;
    let back: Vec<_> = after.iter().filter(|e| e.peer.to_bytes() == victim_id).collect();
    assert!(back.is_empty(), "the dead victim came back: {back:?}");
    assert!(!active(&survivor).await.contains(&victim_id), "the dead victim is in the active view again");
    for a in [gossip, survivor] {
        a.close().await;
    }
}
