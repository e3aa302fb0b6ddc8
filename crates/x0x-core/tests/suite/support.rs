//! What several test modules start from.

use std::time::Duration;

use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions};

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
