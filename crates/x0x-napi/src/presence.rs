//! Binding of presence (`x0x_core::presence`): conversion only; the
//! protocol, its schedule and its crypto live in the core.

use std::sync::Arc;
use std::time::Duration;

use napi_derive::napi;
use tokio::sync::watch;
use x0x_core::presence::GROUP_KEY_BYTES;
use x0x_core::{OnlineAgent, Presence, PresenceConfig, PresenceEvent};

use crate::errors::{invalid_arg, outcome, outcome_async, Outcome, Try};
use crate::event_stream::{event_stream_class, Next};
use crate::{hex_id, NativeAgent};

/// Presence settings, already validated by TypeScript (validated again in Rust).
#[napi(object)]
pub struct NativePresenceConfig {
    /// Beacon lifetime; beacons go out every half of it.
    pub beacon_ttl_ms: u32,
    /// Group key, 64 hex characters, or absent for beacons in the clear.
    pub group_key: Option<String>,
}

fn group_key(hex_key: &str) -> Try<[u8; GROUP_KEY_BYTES]> {
    let mut key = [0u8; GROUP_KEY_BYTES];
    hex::decode_to_slice(hex_key, &mut key)
        .map_err(|_| invalid_arg("presence group key must be 64 hex characters".to_owned()))?;
    Ok(key)
}

/// An agent currently online.
#[napi(object)]
pub struct NativeOnlineAgent {
    pub agent_id: String,
    pub addrs: Vec<String>,
    /// Local clock when its newest beacon arrived, ms since epoch.
    pub last_seen: f64,
}

fn to_native_online(a: OnlineAgent) -> NativeOnlineAgent {
    NativeOnlineAgent { agent_id: hex_id(&a.agent), addrs: a.addrs, last_seen: a.last_seen_ms as f64 }
}

/// Presence counters.
#[napi(object)]
pub struct NativePresenceStats {
    pub beacons_sent: f64,
    pub beacons_received: f64,
    pub replays_dropped: f64,
    pub invalid_dropped: f64,
    pub decrypt_failures: f64,
    pub plaintext_ignored: f64,
    pub full_dropped: f64,
    pub online: f64,
    pub relay_rate_limited: f64,
    pub relay_invalid: f64,
}

/// A presence change, or a lag report, as a union discriminated by `type`.
#[napi(discriminant = "type", discriminant_case = "kebab-case")]
pub enum NativePresenceEvent {
    /// `agent_id` came online.
    AgentOnline { agent_id: String, at: f64 },
    /// `agent_id` went offline (goodbye or expiry).
    AgentOffline { agent_id: String, at: f64 },
    /// The reader fell behind; `missed` events were dropped.
    Lagged { missed: f64 },
}

impl From<Next<PresenceEvent>> for NativePresenceEvent {
    fn from(next: Next<PresenceEvent>) -> Self {
        match next {
            Next::Lagged(n) => Self::Lagged { missed: n as f64 },
            Next::Item(PresenceEvent::Online { agent, at_ms }) => {
                Self::AgentOnline { agent_id: hex_id(&agent), at: at_ms as f64 }
            }
            Next::Item(PresenceEvent::Offline { agent, at_ms }) => {
                Self::AgentOffline { agent_id: hex_id(&agent), at: at_ms as f64 }
            }
        }
    }
}

event_stream_class! {
    /// Presence events.
    NativePresenceEvents(PresenceEvent) -> NativePresenceEvent
}

/// Presence of one agent.
#[napi]
pub struct NativePresence {
    pub(crate) inner: Arc<Presence>,
    agent_closed: watch::Receiver<bool>,
}

#[napi]
impl NativeAgent {
    /// Presence for this agent, idle until `start()`.
    #[napi(catch_unwind)]
    pub fn presence(&self, config: NativePresenceConfig) -> Outcome<NativePresence> {
        outcome(|| {
            let config = PresenceConfig {
                beacon_ttl: Duration::from_millis(config.beacon_ttl_ms.into()),
                group_key: config.group_key.as_deref().map(group_key).transpose()?,
            };
            Ok(NativePresence {
                inner: Arc::new(Presence::new(&self.inner, &config)?),
                agent_closed: self.inner.closed_signal(),
            })
        })
    }
}

#[napi]
impl NativePresence {
    /// Starts beaconing; resolves once the first beacon went out. Idempotent.
    #[napi(catch_unwind)]
    pub async fn start(&self) -> Outcome<()> {
        outcome_async(async { Ok(self.inner.start().await?) }).await
    }

    /// Floods a fresh beacon now.
    #[napi(catch_unwind)]
    pub async fn broadcast(&self) -> Outcome<()> {
        outcome_async(async { Ok(self.inner.broadcast().await?) }).await
    }

    /// Stops beaconing and floods the offline beacon; never rejects.
    #[napi(catch_unwind)]
    pub async fn stop(&self) {
        self.inner.stop().await;
    }

    /// Agents online now, by id.
    #[napi(catch_unwind)]
    pub fn online_agents(&self) -> Vec<NativeOnlineAgent> {
        self.inner.online_agents().into_iter().map(to_native_online).collect()
    }

    /// Presence changes from now on.
    #[napi(catch_unwind)]
    pub fn events(&self) -> NativePresenceEvents {
        NativePresenceEvents::open(self.inner.events(), self.agent_closed.clone())
    }

    /// Counters.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> NativePresenceStats {
        let s = self.inner.stats();
        NativePresenceStats {
            beacons_sent: s.beacons_sent as f64,
            beacons_received: s.beacons_received as f64,
            replays_dropped: s.replays_dropped as f64,
            invalid_dropped: s.invalid_dropped as f64,
            decrypt_failures: s.decrypt_failures as f64,
            plaintext_ignored: s.plaintext_ignored as f64,
            full_dropped: s.full_dropped as f64,
            online: s.online as f64,
            relay_rate_limited: s.relay_rate_limited as f64,
            relay_invalid: s.relay_invalid as f64,
        }
    }
}
