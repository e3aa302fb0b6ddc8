//! When a registration is renewed, as a sans-IO schedule: time is passed
//! in, nothing here sleeps. A registration is renewed every `ttl / 2` (at
//! least every [`MIN_PERIOD_MS`]), so holders never forget a live agent
//! when one renewal is lost, until it is withdrawn.

use std::net::SocketAddr;
use std::time::Duration;

/// Shortest renewal period, whatever the TTL.
pub const MIN_PERIOD_MS: u64 = 1_000;

/// What a renewal registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renew {
    /// The addresses given at registration, or `None` for the agent's
    /// advertised ones, taken afresh at each renewal (the address peers
    /// observe, a NAT's mapping, is learnt later).
    pub addrs: Option<Vec<SocketAddr>>,
    /// How long each holder gets to answer.
    pub timeout: Duration,
}

#[derive(Debug)]
struct Planned {
    renew: Renew,
    due: u64,
}

/// The renewal schedule of one agent's registration.
#[derive(Debug)]
pub struct Renewal {
    period_ms: u64,
    planned: Option<Planned>,
    /// Bumped by every register and unregister: a registration that
    /// completes after a newer call must not schedule itself.
    epoch: u64,
}

impl Renewal {
    /// No registration yet, for records living `ttl_ms`.
    pub fn new(ttl_ms: u64) -> Self {
        Self { period_ms: (ttl_ms / 2).max(MIN_PERIOD_MS), planned: None, epoch: 0 }
    }

    /// The period between renewals.
    pub fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// A register or unregister call begins; returns its epoch. An
    /// unregister also stops renewing at once.
    pub fn begin(&mut self, unregister: bool) -> u64 {
        self.epoch += 1;
        if unregister {
            self.planned = None;
        }
        self.epoch
    }

    /// The registration begun at `epoch` succeeded at `now`: renew it a
    /// period later. False (nothing scheduled) when a newer call began
    /// meanwhile.
    pub fn registered(&mut self, epoch: u64, renew: Renew, now: u64) -> bool {
        if epoch != self.epoch {
            return false;
        }
        self.planned = Some(Planned { renew, due: now.saturating_add(self.period_ms) });
        true
    }

    /// Stops renewing (the agent closes).
    pub fn stop(&mut self) {
        self.epoch += 1;
        self.planned = None;
    }

    /// When the next renewal is due.
    pub fn next_deadline(&self) -> Option<u64> {
        self.planned.as_ref().map(|p| p.due)
    }

    /// The renewal due at `now`, if any; the next is scheduled a period
    /// after this one (a long stall gives one renewal, not a burst).
    pub fn poll(&mut self, now: u64) -> Option<Renew> {
        let period = self.period_ms;
        let planned = self.planned.as_mut().filter(|p| now >= p.due)?;
        planned.due = planned.due.saturating_add(period);
        if planned.due <= now {
            planned.due = now.saturating_add(period);
        }
        Some(planned.renew.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn renew(port: u16) -> Renew {
        Renew { addrs: Some(vec![SocketAddr::from(([10, 0, 0, 1], port))]), timeout: Duration::from_secs(5) }
    }

    #[test]
    fn renews_every_half_ttl_after_a_registration() {
        let mut r = Renewal::new(60_000);
        assert_eq!((r.next_deadline(), r.poll(T0 + 1_000_000)), (None, None), "nothing before registering");
        let e = r.begin(false);
        assert!(r.registered(e, renew(1), T0));
        assert_eq!(r.next_deadline(), Some(T0 + 30_000));
        assert_eq!(r.poll(T0 + 29_999), None);
        assert_eq!(r.poll(T0 + 30_000), Some(renew(1)));
        assert_eq!(r.poll(T0 + 30_000), None);
        assert_eq!(r.next_deadline(), Some(T0 + 60_000));
        // A stall past several periods: one renewal, then the cadence resumes.
        assert_eq!(r.poll(T0 + 200_000), Some(renew(1)));
        assert_eq!(r.next_deadline(), Some(T0 + 230_000));
    }

    #[test]
    fn a_new_registration_replaces_the_schedule_and_an_unregister_ends_it() {
        let mut r = Renewal::new(60_000);
        let e = r.begin(false);
        r.registered(e, renew(1), T0);
        let e = r.begin(false);
        r.registered(e, renew(2), T0 + 10_000);
        assert_eq!(r.next_deadline(), Some(T0 + 40_000));
        assert_eq!(r.poll(T0 + 40_000), Some(renew(2)));
        r.begin(true);
        assert_eq!((r.next_deadline(), r.poll(T0 + 1_000_000)), (None, None));
    }

    #[test]
    fn a_registration_finishing_after_an_unregister_does_not_come_back() {
        let mut r = Renewal::new(60_000);
        let slow = r.begin(false);
        r.begin(true);
        assert!(!r.registered(slow, renew(1), T0));
        assert_eq!(r.next_deadline(), None);
        let before_stop = r.begin(false);
        r.stop();
        assert!(!r.registered(before_stop, renew(1), T0));
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn short_ttls_renew_at_most_every_second() {
        assert_eq!(Renewal::new(1_500).period_ms(), MIN_PERIOD_MS);
        assert_eq!(Renewal::new(10_000).period_ms(), 5_000);
    }
}
