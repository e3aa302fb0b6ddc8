//! Settings the core applies. TypeScript validates the user-facing
//! `GossipConfig`; [`AgentConfig::validate`] repeats the checks so the core
//! is safe to use on its own.

use std::time::Duration;

use crate::error::{CoreError, CoreResult};

/// Per-agent gossip settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// HyParView active view size (8..=12).
    pub active_view_size: usize,
    /// HyParView passive view size (64..=128).
    pub passive_view_size: usize,
    /// SWIM probe period.
    pub probe_interval: Duration,
    /// SWIM suspicion timeout.
    pub suspect_timeout: Duration,
    /// Capacity of the delivered-message dedup cache.
    pub message_cache_size: usize,
    /// How long a delivered message id is remembered.
    pub message_cache_ttl: Duration,
    /// Time between two background anti-entropy rounds.
    pub anti_entropy_interval: Duration,
    /// Hops a FOAF query may travel (1..=10).
    pub foaf_ttl: u8,
    /// Neighbours each FOAF hop forwards to (1..=16).
    pub foaf_fanout: usize,
    /// Messages one subscription buffers for a slow reader before it drops
    /// the newest ones (1..=1_000_000).
    pub subscription_buffer: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            active_view_size: 10,
            passive_view_size: 96,
            probe_interval: Duration::from_secs(1),
            suspect_timeout: Duration::from_secs(3),
            message_cache_size: 10_000,
            message_cache_ttl: Duration::from_secs(300),
            anti_entropy_interval: Duration::from_secs(30),
            foaf_ttl: 3,
            foaf_fanout: 4,
            subscription_buffer: 10_000,
        }
    }
}

fn check(field: &'static str, value: u128, lo: u128, hi: u128, unit: &str) -> CoreResult<()> {
    if value < lo || value > hi {
        return Err(CoreError::InvalidConfig {
            field: Some(field),
            message: format!("{field} must be from {lo} to {hi}{unit} (got {value})"),
        });
    }
    Ok(())
}

impl AgentConfig {
    /// Checks every field against its allowed range, naming the first offender.
    pub fn validate(&self) -> CoreResult<()> {
        check("activeViewSize", self.active_view_size as u128, 8, 12, "")?;
        check("passiveViewSize", self.passive_view_size as u128, 64, 128, "")?;
        check("probeInterval", self.probe_interval.as_millis(), 100, 60_000, " ms")?;
        check("suspectTimeout", self.suspect_timeout.as_millis(), 100, 600_000, " ms")?;
        check("messageCacheSize", self.message_cache_size as u128, 1, 10_000_000, "")?;
        check("messageCacheTtl", self.message_cache_ttl.as_millis(), 1_000, 86_400_000, " ms")?;
        check("antiEntropyInterval", self.anti_entropy_interval.as_millis(), 100, 3_600_000, " ms")?;
        check("foafTtl", self.foaf_ttl as u128, 1, crate::foaf::MAX_TTL as u128, "")?;
        check("foafFanout", self.foaf_fanout as u128, 1, 16, "")?;
        check("subscriptionBuffer", self.subscription_buffer as u128, 1, 1_000_000, "")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        AgentConfig::default().validate().unwrap();
    }

    #[test]
    fn out_of_range_names_the_field() {
        let cfg = AgentConfig { active_view_size: 20, ..AgentConfig::default() };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("activeViewSize") && err.contains("8 to 12") && err.contains("20"), "{err}");
        let cfg = AgentConfig { anti_entropy_interval: Duration::from_millis(50), ..AgentConfig::default() };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("antiEntropyInterval") && err.contains("100 to 3600000 ms"), "{err}");
    }
}
