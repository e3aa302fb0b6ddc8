//! What several test modules start from.

use std::time::Duration;

use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, Subscription};

/// An agent with background anti-entropy out of the way (one round an hour),
/// so what a test sees arrived by gossip.
pub async fn agent_without_anti_entropy() -> Agent {
    let options = AgentOptions {
        config: AgentConfig { anti_entropy_interval: Duration::from_secs(3600), ..AgentConfig::default() },
        ..AgentOptions::default()
    };
    Agent::start(AgentKeypair::generate().unwrap(), options).await.unwrap()
}

/// One of `agent`'s diagnostics counters; panics naming it when it is missing.
pub fn counter(agent: &Agent, name: &str) -> u64 {
    let diag = agent.diagnostics().unwrap();
    diag.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or_else(|| panic!("no counter {name}"))
}

/// `n` agents without anti-entropy, joined through the first, each
/// subscribed to `topic` and seeing at least `peers` topic peers.
pub async fn subscribed_mesh(n: usize, topic: &str, peers: usize) -> (Vec<Agent>, Vec<Subscription>) {
    let mut agents = Vec::new();
    for _ in 0..n {
        agents.push(agent_without_anti_entropy().await);
    }
    let seed = agents[0].local_addr();
    for a in &agents[1..] {
        a.join(vec![seed]).await.unwrap();
    }
    let mut subs = Vec::new();
    for a in &agents {
        subs.push(a.subscribe(topic).await.unwrap());
    }
    for (i, a) in agents.iter().enumerate() {
        a.wait_for_topic_peers(topic, peers, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("agent {i} never saw {peers} topic peers: {e}"));
    }
    (agents, subs)
}
