//! A neighbour that entered the active view without SWIM being told (as
//! HyParView's degree maintenance promotes passive peers) is still found dead
//! when it vanishes.

use std::time::Duration;

use crate::{Agent, AgentConfig, AgentKeypair, AgentOptions, LeaveReason, MembershipEventKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_neighbour_swim_never_tracked_is_still_found_dead() {
    let config = AgentConfig {
        probe_interval: Duration::from_millis(200),
        suspect_timeout: Duration::from_secs(1),
        ..AgentConfig::default()
    };
    let options = || AgentOptions { config: config.clone(), ..AgentOptions::default() };
    let watcher = Agent::start(AgentKeypair::generate().unwrap(), options()).await.unwrap();
    let neighbour = Agent::start(AgentKeypair::generate().unwrap(), options()).await.unwrap();
    let id = neighbour.shared.keypair.peer_id();
    let mut events = watcher.membership_events().unwrap();
    neighbour.join(vec![watcher.local_addr()]).await.unwrap();
    let m = &watcher.shared.membership;
    for _ in 0..100 {
        if m.sample_active(usize::MAX).await.contains(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(m.sample_active(usize::MAX).await.contains(&id));
    // Gone without a goodbye: dropping an agent does not run its graceful close.
    drop(neighbour);
    // Let its last frames land (a ping from it would register it again), then
    // leave the state degree maintenance leaves behind: a neighbour SWIM has
    // no entry for.
    tokio::time::sleep(Duration::from_millis(300)).await;
    m.swim().remove_peer(&id).await;

    let left = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.recv().await {
                Ok(e) if e.peer == id => {
                    if let MembershipEventKind::Left { reason } = e.kind {
                        return Some(reason);
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("membership events ended: {e}"),
            }
        }
    })
    .await
    .expect("the vanished neighbour was never reported as left");
    assert_eq!(left, Some(LeaveReason::Failed));
    watcher.close().await;
}
