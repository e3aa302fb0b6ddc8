//! Runs the presence state machine for one agent: feeds it the agent's
//! flooded payloads, wakes it when it has work, signs and floods its
//! beacons, and hands out its events.

use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::body::BeaconState;
use super::state::{OnlineAgent, PresenceBook, PresenceEvent};
use super::{PresenceConfig, PresenceStats, PRESENCE_KIND};
use crate::agent::Agent;
use crate::error::{CoreError, CoreResult};
use crate::lock::lock;
use crate::time::now_ms;

/// Presence events held for a slow reader before it is told it lagged.
const EVENT_BUFFER: usize = 1024;
/// Longest sleep of the timer task with nothing scheduled; it wakes for
/// every received frame anyway.
const IDLE_WAKE: Duration = Duration::from_secs(60);

struct Shared {
    agent: Weak<Agent>,
    book: StdMutex<PresenceBook>,
    events: broadcast::Sender<PresenceEvent>,
    stop: watch::Sender<bool>,
    /// The flood's relay counters as last read, for stats after close.
    relay: StdMutex<(u64, u64)>,
}

/// Presence of one agent (see [`super`]): beacons once started, who is
/// online, and the changes as events. Holds the agent weakly, so it never
/// keeps a dropped agent alive.
pub struct Presence {
    shared: Arc<Shared>,
}


impl Presence {
    /// Presence for `agent`, idle until [`Self::start`].
    pub fn new(agent: &Arc<Agent>, config: &PresenceConfig) -> CoreResult<Self> {
        let book = PresenceBook::new(config, rand::random())?;
        Ok(Self {
            shared: Arc::new(Shared {
                agent: Arc::downgrade(agent),
                book: StdMutex::new(book),
                events: broadcast::channel(EVENT_BUFFER).0,
                stop: watch::channel(false).0,
                relay: StdMutex::new((0, 0)),
            }),
        })
    }

    /// Starts listening and beaconing, and floods the first beacon.
    /// Idempotent. Must run inside a Tokio runtime, where the timer task
    /// goes; the task ends with [`Self::stop`] or with the agent.
    pub async fn start(&self) -> CoreResult<()> {
        let agent = self.shared.agent()?;
        let frames = agent.flood_payloads()?;
        if !lock(&self.shared.book).start(now_ms()) {
            return Ok(());
        }
        tokio::runtime::Handle::try_current()
            .map_err(|e| CoreError::network("presence needs a Tokio runtime", e))?;
        agent.spawn_task("presence", run(Arc::clone(&self.shared), frames, agent.closed_signal()));
        self.shared.beacon(BeaconState::Online).await
    }

    /// Floods a fresh beacon now (the timer task also does, every TTL/2).
    pub async fn broadcast(&self) -> CoreResult<()> {
        self.shared.beacon(BeaconState::Online).await
    }

    /// Stops beaconing and listening and, if beacons went out, floods the
    /// offline beacon so others see this agent leave at once. Best effort and idempotent:
    /// a close must not fail because the goodbye could not go out.
    pub async fn stop(&self) {
        self.shared.read_relay();
        self.shared.stop.send_replace(true);
        if let Err(e) = self.shared.beacon(BeaconState::Offline).await {
            tracing::debug!("presence goodbye not sent: {e}");
        }
    }

    /// Agents whose newest beacon is valid now, by id.
    pub fn online_agents(&self) -> Vec<OnlineAgent> {
        let events = lock(&self.shared.book).expire(now_ms());
        self.shared.emit(events);
        lock(&self.shared.book).online()
    }

    /// Presence changes from now on.
    pub fn events(&self) -> broadcast::Receiver<PresenceEvent> {
        self.shared.events.subscribe()
    }

    /// Counters, with the flood's relay counters (their last reading once
    /// the agent is closed).
    pub fn stats(&self) -> PresenceStats {
        let mut stats = lock(&self.shared.book).stats();
        (stats.relay_rate_limited, stats.relay_invalid) = self.shared.read_relay();
        stats
    }
}

impl Shared {
    fn agent(&self) -> CoreResult<Arc<Agent>> {
        self.agent.upgrade().ok_or(CoreError::Closed)
    }

    fn emit(&self, events: impl IntoIterator<Item = PresenceEvent>) {
        for e in events {
            // No reader is fine.
            let _ = self.events.send(e);
        }
    }

    fn read_relay(&self) -> (u64, u64) {
        let mut last = lock(&self.relay);
        if let Some(s) = self.agent.upgrade().and_then(|a| a.flood_stats().ok()) {
            *last = (s.rate_limited, s.invalid);
        }
        *last
    }

    /// Signs, seals and floods one beacon saying `state`.
    async fn beacon(&self, state: BeaconState) -> CoreResult<()> {
        let agent = self.agent()?;
        let addrs: Vec<String> = agent.advertised_addrs().iter().map(|a| a.to_string()).collect();
        let plan = lock(&self.book).plan(state, &addrs, now_ms()).ok_or(CoreError::Closed)?;
        let record = agent.sign_record(PRESENCE_KIND, &plan.body, plan.timestamp, plan.expires_at)?;
        let frame = lock(&self.book).frame(&record, rand::random())?;
        agent.flood(frame).await.map(drop)
    }
}

/// The timer task: takes frames as they come and wakes at the state
/// machine's next deadline, until presence stops or the agent closes.
async fn run(
    shared: Arc<Shared>,
    mut frames: broadcast::Receiver<Vec<u8>>,
    mut agent_closed: watch::Receiver<bool>,
) {
    let mut stop = shared.stop.subscribe();
    loop {
        let wait = lock(&shared.book)
            .next_deadline()
            .map_or(IDLE_WAKE, |at| Duration::from_millis(at.saturating_sub(now_ms())));
        tokio::select! {
            // Also ends when the sender is gone (presence or agent dropped).
            _ = stop.wait_for(|s| *s) => return,
            _ = agent_closed.wait_for(|c| *c) => return,
            frame = frames.recv() => match frame {
                Ok(frame) => {
                    let event = lock(&shared.book).receive(&frame, now_ms());
                    shared.emit(event);
                }
                // A lag costs beacons only: every agent repeats its beacon
                // each round, so the next round brings the state back.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = tokio::time::sleep(wait) => {
                let (beacon, events) = lock(&shared.book).poll(now_ms());
                shared.emit(events);
                if beacon {
                    // Sent aside, so a slow neighbour does not hold up
                    // receiving; a failure is retried next round.
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        if let Err(e) = shared.beacon(BeaconState::Online).await {
                            tracing::debug!("presence beacon not sent: {e}");
                        }
                    });
                }
            }
        }
    }
}
