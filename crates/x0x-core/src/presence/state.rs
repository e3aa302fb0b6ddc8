//! The presence protocol as a sans-IO state machine: every input carries
//! the time (`now`, ms since the Unix epoch), every output is returned, and
//! nothing here touches a socket, a clock or a timer. The driver
//! ([`super::Presence`]) feeds it received frames and wakes it at
//! [`PresenceBook::next_deadline`].

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::body::{self, BeaconState};
use super::seal::{self, BeaconKey, Opened, NONCE_BYTES};
use super::{PresenceConfig, PresenceStats, PRESENCE_KIND};
use crate::error::CoreResult;
use crate::identity::AgentId;
use crate::records::{RecordBook, RecordRejection, MAX_CLOCK_SKEW_MS};

/// Least time between two beacons sent in answer to newcomers, in ms.
pub const ANSWER_SPACING_MS: u64 = 1_000;
/// Answers are delayed by up to this much more, so that the agents that
/// see a newcomer do not all answer at the same instant.
const ANSWER_JITTER_MS: u64 = 250;

/// An agent currently online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineAgent {
    /// Its id.
    pub agent: AgentId,
    /// Addresses (`"ip:port"`) from its newest beacon.
    pub addrs: Vec<String>,
    /// Local clock when its newest beacon arrived, ms since the epoch.
    pub last_seen_ms: u64,
    /// When its newest beacon expires, ms since the epoch.
    pub expires_at_ms: u64,
}

/// An agent came online or went offline (local clock, ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceEvent {
    /// A first valid beacon from `agent` (or the first since it went offline).
    Online {
        /// Who.
        agent: AgentId,
        /// When we learned it.
        at_ms: u64,
    },
    /// `agent` said goodbye, or its newest beacon expired.
    Offline {
        /// Who.
        agent: AgentId,
        /// When we learned it.
        at_ms: u64,
    },
}

/// What to sign for the next beacon ([`PresenceBook::plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeaconPlan {
    /// Record timestamp: strictly increasing, so no beacon looks like a
    /// replay of the one before.
    pub timestamp: u64,
    /// Record expiry: `timestamp + ttl`.
    pub expires_at: u64,
    /// Record body ([`body::encode`]).
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Running,
    Stopped,
}

/// Presence state of one agent: its own beacon schedule, and the newest
/// valid beacon of every other agent.
#[derive(Debug)]
pub struct PresenceBook {
    ttl_ms: u64,
    key: Option<BeaconKey>,
    book: RecordBook,
    online: BTreeMap<AgentId, OnlineAgent>,
    phase: Phase,
    last_timestamp: u64,
    next_round: u64,
    answer_at: Option<u64>,
    last_answer: Option<u64>,
    rng: StdRng,
    sent: u64,
    decrypt_failures: u64,
    plaintext_ignored: u64,
    bad_bodies: u64,
}

impl PresenceBook {
    /// A book for `config`; `seed` seeds the answer jitter (fixed in tests).
    pub fn new(config: &PresenceConfig, seed: u64) -> CoreResult<Self> {
        config.validate()?;
        let key = config.group_key.as_ref().map(BeaconKey::derive).transpose()?;
        Ok(Self {
            ttl_ms: u64::try_from(config.beacon_ttl.as_millis()).unwrap_or(u64::MAX),
            key,
            book: RecordBook::new(PRESENCE_KIND, MAX_CLOCK_SKEW_MS),
            online: BTreeMap::new(),
            phase: Phase::Idle,
            last_timestamp: 0,
            next_round: 0,
            answer_at: None,
            last_answer: None,
            rng: StdRng::seed_from_u64(seed),
            sent: 0,
            decrypt_failures: 0,
            plaintext_ignored: 0,
            bad_bodies: 0,
        })
    }

    /// Beacon period: half the TTL (at least 500 ms, as the TTL is at
    /// least 1 s), so one lost beacon does not make an agent look offline.
    fn round_ms(&self) -> u64 {
        self.ttl_ms / 2
    }

    /// Starts the schedule; the caller beacons now and the next round is
    /// due a period later. False (and nothing changes) if already started
    /// or stopped.
    pub fn start(&mut self, now: u64) -> bool {
        if self.phase != Phase::Idle {
            return false;
        }
        self.phase = Phase::Running;
        self.next_round = now.saturating_add(self.round_ms());
        true
    }

    /// Whether beacons are going out.
    pub fn running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// When [`Self::poll`] has work next: a beacon round, an answer to a
    /// newcomer, or the expiry of someone's beacon.
    pub fn next_deadline(&self) -> Option<u64> {
        let own = (self.phase == Phase::Running).then_some(self.next_round);
        let expiry = self.online.values().map(|a| a.expires_at_ms).min();
        [own, self.answer_at, expiry].into_iter().flatten().min()
    }

    /// Does what is due at `now`: returns whether to beacon, and who went
    /// offline. A round and an answer due together make one beacon.
    pub fn poll(&mut self, now: u64) -> (bool, Vec<PresenceEvent>) {
        let events = self.expire(now);
        if self.phase != Phase::Running {
            return (false, events);
        }
        let mut beacon = false;
        if now >= self.next_round {
            beacon = true;
            // Keeps the cadence; a long stall gives one beacon, not a burst.
            self.next_round = self.next_round.saturating_add(self.round_ms());
            if self.next_round <= now {
                self.next_round = now.saturating_add(self.round_ms());
            }
        }
        if self.answer_at.is_some_and(|at| now >= at) {
            beacon = true;
            self.answer_at = None;
            self.last_answer = Some(now);
        }
        (beacon, events)
    }

    /// Drops agents whose newest beacon has expired at `now`.
    pub fn expire(&mut self, now: u64) -> Vec<PresenceEvent> {
        // The book forgets the records and, later, their replay marks.
        self.book.expire(now);
        let gone: Vec<AgentId> = self
            .online
            .values()
            .filter(|a| a.expires_at_ms <= now)
            .map(|a| a.agent)
            .collect();
        gone.into_iter().filter_map(|id| self.set_offline(id, now)).collect()
    }

    /// What to sign for a beacon saying `state` with `addrs`; `None` once
    /// stopped. A plan for [`BeaconState::Offline`] stops the schedule: the
    /// goodbye is the last beacon, and is only made if beacons went out.
    pub fn plan(&mut self, state: BeaconState, addrs: &[String], now: u64) -> Option<BeaconPlan> {
        match (self.phase, state) {
            (Phase::Stopped, _) => return None,
            (Phase::Idle, BeaconState::Offline) => {
                self.phase = Phase::Stopped;
                return None;
            }
            (_, BeaconState::Offline) => {
                self.phase = Phase::Stopped;
                self.answer_at = None;
            }
            (_, BeaconState::Online) => {}
        }
        let timestamp = now.max(self.last_timestamp.saturating_add(1));
        self.last_timestamp = timestamp;
        Some(BeaconPlan {
            timestamp,
            expires_at: timestamp.saturating_add(self.ttl_ms),
            body: body::encode(state, addrs),
        })
    }

    /// Wraps a signed beacon record into its frame (sealed when there is a
    /// group key) and counts it as sent.
    pub fn frame(&mut self, record: &[u8], nonce: [u8; NONCE_BYTES]) -> CoreResult<Vec<u8>> {
        let frame = seal::seal(record, self.key.as_ref(), nonce)?;
        self.sent += 1;
        Ok(frame)
    }

    /// Takes a flooded frame received at `now`. Returns the change it
    /// makes, if any; every frame that is dropped is counted.
    pub fn receive(&mut self, frame: &[u8], now: u64) -> Option<PresenceEvent> {
        let record = match seal::open(frame, self.key.as_ref()) {
            Opened::Record(record) => record,
            Opened::Undecryptable => {
                self.decrypt_failures += 1;
                return None;
            }
            Opened::Plaintext => {
                self.plaintext_ignored += 1;
                return None;
            }
            Opened::Malformed => {
                self.bad_bodies += 1;
                return None;
            }
        };
        let record = self.book.offer(&record, now).ok()?;
        let addrs = match body::decode(&record.body) {
            Some((BeaconState::Online, addrs)) => addrs,
            said => {
                // Signed but unreadable counts as invalid; either way the
                // signer's newest word is that it is not online.
                if said.is_none() {
                    self.bad_bodies += 1;
                }
                self.book.remove(&record.signer);
                return self.set_offline(record.signer, now);
            }
        };
        let agent = OnlineAgent {
            agent: record.signer,
            addrs,
            last_seen_ms: now,
            expires_at_ms: record.expires_at,
        };
        if self.online.insert(record.signer, agent).is_some() {
            return None;
        }
        self.answer_soon(now);
        Some(PresenceEvent::Online { agent: record.signer, at_ms: now })
    }

    /// A newcomer's first beacon reaches agents already online, but theirs
    /// would reach it only a beacon period later (minutes, by default). So
    /// on seeing a new agent, beacon once soon: coalesced and spaced, so a
    /// burst of joins costs one beacon per agent per spacing period.
    fn answer_soon(&mut self, now: u64) {
        if self.phase != Phase::Running || self.answer_at.is_some() {
            return;
        }
        let earliest = self.last_answer.map_or(now, |t| t.saturating_add(ANSWER_SPACING_MS));
        let jitter = self.rng.gen_range(0..ANSWER_JITTER_MS);
        self.answer_at = Some(earliest.max(now).saturating_add(jitter));
    }

    fn set_offline(&mut self, agent: AgentId, now: u64) -> Option<PresenceEvent> {
        self.online
            .remove(&agent)
            .map(|_| PresenceEvent::Offline { agent, at_ms: now })
    }

    /// Agents whose newest beacon was valid when last checked, by id.
    /// Call [`Self::expire`] first for an answer as of now.
    pub fn online(&self) -> Vec<OnlineAgent> {
        self.online.values().cloned().collect()
    }

    /// Counters; the relay fields are the flood's and stay zero here.
    pub fn stats(&self) -> PresenceStats {
        let mut replays = 0;
        let mut invalid = self.bad_bodies;
        let mut full = 0;
        for (why, n) in self.book.rejections() {
            match why {
                RecordRejection::Replayed | RecordRejection::FromFuture => replays += n,
                RecordRejection::Malformed
                | RecordRejection::WrongKind
                | RecordRejection::SignerMismatch
                | RecordRejection::BadSignature
                | RecordRejection::Expired
                | RecordRejection::TooLong => invalid += n,
                RecordRejection::Full => full += n,
            }
        }
        PresenceStats {
            beacons_sent: self.sent,
            beacons_received: self.book.accepted(),
            replays_dropped: replays,
            invalid_dropped: invalid,
            decrypt_failures: self.decrypt_failures,
            plaintext_ignored: self.plaintext_ignored,
            full_dropped: full,
            online: self.online.len() as u64,
            relay_rate_limited: 0,
            relay_invalid: 0,
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
