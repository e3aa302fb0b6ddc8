//! Coordinator adverts as a sans-IO state machine: every input carries the
//! time (`now`, ms since the Unix epoch), every output is returned, and
//! nothing here touches a socket, a clock or a timer. The driver
//! ([`super::Coordinators`]) feeds it the adverts that arrive and wakes it
//! at [`CoordinatorBook::next_deadline`].

use std::collections::BTreeMap;

use super::{body, CoordinatorConfig, CoordinatorStats, COORDINATOR_KIND, MAX_COORDINATORS, MIN_PERIOD_MS, REJECTIONS};
use crate::error::CoreResult;
use crate::identity::AgentId;
use crate::records::{self, RecordBook, RecordRejection, MAX_CLOCK_SKEW_MS};

/// A verified, unexpired coordinator advert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorAdvert {
    /// The coordinator's agent id; `public_key` hashes to it.
    pub peer: AgentId,
    /// Addresses (`"ip:port"`) it can be dialled on.
    pub addrs: Vec<String>,
    /// The coordinator's clock when it signed, ms since the epoch.
    pub timestamp: u64,
    /// When the advert stops being valid, ms since the epoch.
    pub expires_at: u64,
    /// ML-DSA-65 signature over the other fields.
    pub signature: Vec<u8>,
    /// The coordinator's ML-DSA-65 public key.
    pub public_key: Vec<u8>,
}

/// Why an advert was not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvertRejection {
    /// The record failed a check of [`RecordBook`].
    Record(RecordRejection),
    /// A new coordinator while [`MAX_COORDINATORS`] are listed.
    Full,
    /// Signed and accepted, but its body is not an address list. Counted
    /// as accepted (the signer's problem), never listed.
    Unreadable,
}

/// What to sign for this agent's next advert ([`CoordinatorBook::plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertPlan {
    /// Record timestamp: strictly increasing, so no advert looks like a
    /// replay of the one before.
    pub timestamp: u64,
    /// Record expiry: `timestamp + ttl`.
    pub expires_at: u64,
    /// Record body ([`body::encode_fitting`]).
    pub body: Vec<u8>,
}

/// The coordinators one agent knows, and its own advertising schedule.
#[derive(Debug)]
pub struct CoordinatorBook {
    ttl_ms: u64,
    book: RecordBook,
    listed: BTreeMap<AgentId, CoordinatorAdvert>,
    /// When the next own advert is due, while advertising.
    next_advert: Option<u64>,
    last_timestamp: u64,
    full: u64,
}

impl CoordinatorBook {
    /// An empty book for `config` (its `advertise` flag is the driver's).
    pub fn new(config: &CoordinatorConfig) -> CoreResult<Self> {
        config.validate()?;
        Ok(Self {
            ttl_ms: u64::try_from(config.advert_ttl.as_millis()).unwrap_or(u64::MAX),
            book: RecordBook::new(COORDINATOR_KIND, MAX_CLOCK_SKEW_MS)
                .with_max_lifetime(u64::try_from(super::MAX_TTL.as_millis()).unwrap_or(u64::MAX)),
            listed: BTreeMap::new(),
            next_advert: None,
            last_timestamp: 0,
            full: 0,
        })
    }

    /// Re-advertising period: half the TTL, so one lost advert does not
    /// make a coordinator drop out, but at least [`MIN_PERIOD_MS`].
    pub fn period_ms(&self) -> u64 {
        (self.ttl_ms / 2).max(MIN_PERIOD_MS)
    }

    /// Starts advertising: the caller advertises now and the next advert is
    /// due a period later. False (and nothing changes) if already started.
    pub fn start_advertising(&mut self, now: u64) -> bool {
        if self.next_advert.is_some() {
            return false;
        }
        self.next_advert = Some(now.saturating_add(self.period_ms()));
        true
    }

    /// Stops advertising; the adverts already out expire on their own.
    pub fn stop_advertising(&mut self) {
        self.next_advert = None;
    }

    /// Whether this agent advertises.
    pub fn advertising(&self) -> bool {
        self.next_advert.is_some()
    }

    /// When [`Self::poll`] has work next: an own advert, or the expiry of a
    /// listed one.
    pub fn next_deadline(&self) -> Option<u64> {
        let expiry = self.listed.values().map(|a| a.expires_at).min();
        [self.next_advert, expiry].into_iter().flatten().min()
    }

    /// Does what is due at `now`: drops expired adverts and returns whether
    /// to advertise.
    pub fn poll(&mut self, now: u64) -> bool {
        self.expire(now);
        let Some(due) = self.next_advert else { return false };
        if now < due {
            return false;
        }
        // Keeps the cadence; a long stall gives one advert, not a burst.
        let mut next = due.saturating_add(self.period_ms());
        if next <= now {
            next = now.saturating_add(self.period_ms());
        }
        self.next_advert = Some(next);
        true
    }

    /// What to sign for an advert of `addrs` at `now`.
    pub fn plan(&mut self, addrs: &[String], now: u64) -> AdvertPlan {
        let timestamp = now.max(self.last_timestamp.saturating_add(1));
        self.last_timestamp = timestamp;
        AdvertPlan {
            timestamp,
            expires_at: timestamp.saturating_add(self.ttl_ms),
            body: body::encode_fitting(addrs),
        }
    }

    /// Takes an advert (a signed record) received, or made, at `now`: the
    /// advert now listed, or why not. Every rejection is counted.
    pub fn offer(&mut self, bytes: &[u8], now: u64) -> Result<CoordinatorAdvert, AdvertRejection> {
        if self.listed.len() >= MAX_COORDINATORS {
            self.expire(now);
        }
        if self.listed.len() >= MAX_COORDINATORS {
            // Decoding is cheap; only a new signer is refused, and before
            // the costly signature check.
            let known = records::decode(bytes).is_ok_and(|r| self.listed.contains_key(&r.signer));
            if !known {
                self.full += 1;
                return Err(AdvertRejection::Full);
            }
        }
        let record = self.book.offer(bytes, now).map_err(AdvertRejection::Record)?;
        let Some(addrs) = body::decode(&record.body) else {
            // Its newest word is unreadable: it is no longer listed.
            self.book.remove(&record.signer);
            self.listed.remove(&record.signer);
            return Err(AdvertRejection::Unreadable);
        };
        let advert = CoordinatorAdvert {
            peer: record.signer,
            addrs,
            timestamp: record.timestamp,
            expires_at: record.expires_at,
            signature: record.signature,
            public_key: record.public_key,
        };
        self.listed.insert(advert.peer, advert.clone());
        Ok(advert)
    }

    /// Drops the adverts expired at `now`.
    pub fn expire(&mut self, now: u64) {
        self.book.expire(now);
        self.listed.retain(|_, a| a.expires_at > now);
    }

    /// The unexpired adverts at `now`, newest per coordinator, by id.
    pub fn coordinators(&mut self, now: u64) -> Vec<CoordinatorAdvert> {
        self.expire(now);
        self.listed.values().cloned().collect()
    }

    /// Counters.
    pub fn stats(&self) -> CoordinatorStats {
        let counts = self.book.rejections();
        let count = |why: RecordRejection| counts.iter().find(|(k, _)| *k == why).map_or(0, |(_, n)| *n);
        let mut rejected: Vec<(&'static str, u64)> = REJECTIONS.iter().map(|&why| (why.as_str(), count(why))).collect();
        rejected.push(("full", self.full));
        CoordinatorStats { accepted: self.book.accepted(), rejected }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
