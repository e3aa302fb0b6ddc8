//! What a bug costs when remote input trips it (issue 14, finding 13), over
//! real QUIC on 127.0.0.1. A test build's receiver panics on purpose on a
//! special Bulk frame (`test-hooks` feature; the shipped addon has no such
//! frame): in the task handling that one frame, or in the frame dispatcher
//! itself. Before, tokio swallowed either panic: the first silently, the
//! second leaving an agent that looked alive but heard nothing more.

use std::time::Duration;

use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, RawStream, PANIC_FRAME_TAG, PANIC_IN_DISPATCHER, PANIC_IN_HANDLER};

async fn agent() -> Agent {
    let config = AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() };
    Agent::start(AgentKeypair::generate().unwrap(), AgentOptions { config, ..AgentOptions::default() }).await.unwrap()
}

fn panicked(agent: &Agent) -> u64 {
    agent.diagnostics().unwrap().into_iter().find(|(k, _)| k == "tasks.panicked").map_or(0, |(_, v)| v)
}

async fn until_panicked(agent: &Agent, n: u64) {
    for _ in 0..100 {
        if panicked(agent) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the panic was never counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_handling_one_frame_costs_that_frame_and_the_agent_carries_on() {
    let victim = agent().await;
    let sender = agent().await;
    sender.join(vec![victim.local_addr()]).await.unwrap();
    let mut sub = victim.subscribe("after").await.unwrap();
    let _own = sender.subscribe("after").await.unwrap();
    sender.wait_for_topic_peers("after", 1, Duration::from_secs(20)).await.unwrap();

    for _ in 0..3 {
        sender.send_raw(victim.agent_id(), RawStream::Bulk, vec![PANIC_FRAME_TAG, PANIC_IN_HANDLER]).await.unwrap();
    }
    until_panicked(&victim, 3).await;
    assert!(victim.is_running());
    sender.publish("after", b"still here".to_vec()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), sub.next()).await.expect("delivered after the panics").unwrap();
    assert_eq!(got.payload, b"still here");
    assert_eq!(panicked(&victim), 3);
    sender.close().await;
    victim.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_dispatcher_faults_the_agent_with_a_coded_error() {
    let victim = agent().await;
    let sender = agent().await;
    let to = sender.connect_raw(victim.local_addr()).await.unwrap();
    assert!(victim.subscribe("t").await.is_ok());

    sender.send_raw(to, RawStream::Bulk, vec![PANIC_FRAME_TAG, PANIC_IN_DISPATCHER]).await.unwrap();
    until_panicked(&victim, 1).await;
    assert!(!victim.is_running(), "a deaf agent must not report itself running");
    let err = victim.publish("t", b"x".to_vec()).await.expect_err("calls fail once the dispatcher is gone");
    assert_eq!(err.code(), "ERR_X0X_INTERNAL");
    assert!(err.to_string().contains("frame dispatcher"), "{err}");
    // Its counters still answer, so that the fault shows in metrics.
    assert!(victim.pubsub_stats().is_ok() && victim.membership_stats().is_ok());
    assert!(victim.connected_peers().await.is_ok());
    // close() still frees everything.
    victim.close().await;
    assert_eq!(victim.publish("t", b"x".to_vec()).await.unwrap_err().code(), "ERR_X0X_CLOSED");
    sender.close().await;
}
