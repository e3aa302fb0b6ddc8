//! The client side of rendezvous for one agent: which holders a shard has
//! as this agent sees the network, registering and renewing its own
//! record, and lookups. Frames and the holder's store are [`super::wire`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::ranking::{self, Candidate};
use super::renewal::{Renew, Renewal};
use super::wire::RendezvousStats;
use crate::addr_record::{self, AddrRecord};
use crate::agent::{Agent, Holder, HolderReply, MAX_RECORD_TTL_MS};
use crate::coordinators::Coordinators;
use crate::error::{CoreError, CoreResult};
use crate::lock::lock;
use crate::identity::AgentId;
use crate::presence::Presence;
use crate::shard::shard_id;
use crate::time::now_ms;

/// Shortest registration lifetime accepted.
pub const MIN_TTL: Duration = Duration::from_secs(10);
/// Most holders per registration.
pub const MAX_REPLICAS: usize = 16;

/// How an agent registers and looks up.
#[derive(Clone, Debug)]
pub struct RendezvousConfig {
    /// Lifetime of this agent's registration; renewed every half of it.
    pub record_ttl: Duration,
    /// Holders per shard.
    pub replicas: usize,
}

impl RendezvousConfig {
    /// Checks the ranges (the TypeScript config checks them first; this
    /// keeps the core safe on its own).
    pub fn validate(&self) -> CoreResult<()> {
        let ttl = self.record_ttl.as_millis();
        if ttl < MIN_TTL.as_millis() || ttl > u128::from(MAX_RECORD_TTL_MS) {
            return Err(CoreError::InvalidConfig {
                field: Some("rendezvousTtl"),
                message: format!(
                    "rendezvousTtl must be {} to {MAX_RECORD_TTL_MS} ms (got {ttl} ms)",
                    MIN_TTL.as_millis()
                ),
            });
        }
        if !(1..=MAX_REPLICAS).contains(&self.replicas) {
            return Err(CoreError::InvalidConfig {
                field: Some("rendezvousReplicas"),
                message: format!("rendezvousReplicas must be 1 to {MAX_REPLICAS} (got {})", self.replicas),
            });
        }
        Ok(())
    }
}

/// The result of a registration or unregistration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The registered agent (always this one).
    pub agent: AgentId,
    /// Its shard.
    pub shard: u16,
    /// Addresses registered; empty after an unregistration.
    pub addrs: Vec<SocketAddr>,
    /// When holders forget the record unless renewed, ms since the epoch.
    pub expires_at_ms: u64,
    /// Each holder asked, with its answer.
    pub holders: Vec<(AgentId, HolderReply)>,
}

struct Shared {
    agent: Weak<Agent>,
    coordinators: Arc<Coordinators>,
    presence: Arc<Presence>,
    ttl_ms: u64,
    replicas: usize,
    renewal: StdMutex<Renewal>,
    /// Wakes the renewal task when the schedule changed.
    rescheduled: Notify,
    task: StdMutex<bool>,
    stop: watch::Sender<bool>,
}

/// Rendezvous of one agent (see [`super`]). Holds the agent weakly, so it
/// never keeps a dropped agent alive.
pub struct RendezvousClient {
    shared: Arc<Shared>,
}


impl RendezvousClient {
    /// Rendezvous for `agent`, taking holders from its coordinator adverts
    /// or, with none known, from the agents its presence sees online.
    pub fn new(
        agent: &Arc<Agent>,
        config: &RendezvousConfig,
        coordinators: Arc<Coordinators>,
        presence: Arc<Presence>,
    ) -> CoreResult<Self> {
        config.validate()?;
        let ttl_ms = u64::try_from(config.record_ttl.as_millis()).unwrap_or(MAX_RECORD_TTL_MS);
        Ok(Self {
            shared: Arc::new(Shared {
                agent: Arc::downgrade(agent),
                coordinators,
                presence,
                ttl_ms,
                replicas: config.replicas,
                renewal: StdMutex::new(Renewal::new(ttl_ms)),
                rescheduled: Notify::new(),
                task: StdMutex::new(false),
                stop: watch::channel(false).0,
            }),
        })
    }

    /// The holders `target`'s record goes to and is looked up at, as this
    /// agent sees the network now, heaviest first.
    pub fn holders_for(&self, target: &AgentId) -> CoreResult<Vec<Candidate>> {
        let agent = self.shared.agent()?;
        running(&agent)?;
        Ok(self.shared.holders_for(&agent, target))
    }

    /// Registers this agent at its shard's holders at `addrs` (by default
    /// its advertised addresses, taken afresh at each renewal) and renews
    /// the registration every `ttl / 2` until [`Self::unregister`],
    /// [`Self::stop`] or the agent closes. Each holder gets `timeout`.
    /// Fails with [`CoreError::Rendezvous`] when no holder stored it.
    pub async fn register(&self, addrs: Option<Vec<SocketAddr>>, timeout: Duration) -> CoreResult<Registration> {
        let epoch = lock(&self.shared.renewal).begin(false);
        let renew = Renew { addrs, timeout };
        let registration = self.shared.store(&renew).await?;
        if lock(&self.shared.renewal).registered(epoch, renew, now_ms()) {
            self.shared.rescheduled.notify_one();
            self.spawn_renewal()?;
        }
        Ok(registration)
    }

    /// Withdraws this agent's registration: holders keep a signed record
    /// with no addresses in its place, so lookups find nothing and an older
    /// registration cannot be replayed. Stops the renewal.
    pub async fn unregister(&self, timeout: Duration) -> CoreResult<Registration> {
        lock(&self.shared.renewal).begin(true);
        self.shared.rescheduled.notify_one();
        self.shared.store(&Renew { addrs: Some(Vec::new()), timeout }).await
    }

    /// Where `target` can be reached, asking its shard's holders: the
    /// newest registration that verifies against its own key, or `None`
    /// (never registered, expired, unregistered, or no holder answered).
    pub async fn lookup(&self, target: AgentId, timeout: Duration) -> CoreResult<Option<AddrRecord>> {
        let agent = self.shared.agent()?;
        running(&agent)?;
        let holders = self.shared.holders_for(&agent, &target);
        if holders.is_empty() {
            return Ok(None);
        }
        Ok(agent.rendezvous_lookup(dialable(holders), target, timeout).await?.record)
    }

    /// Counters, as a holder and as a client.
    pub fn stats(&self) -> CoreResult<RendezvousStats> {
        self.shared.agent()?.rendezvous_stats()
    }

    /// Stops renewing. Idempotent.
    pub fn stop(&self) {
        lock(&self.shared.renewal).stop();
        self.shared.stop.send_replace(true);
    }

    fn spawn_renewal(&self) -> CoreResult<()> {
        let mut started = lock(&self.shared.task);
        if *started {
            return Ok(());
        }
        let agent = self.shared.agent()?;
        tokio::runtime::Handle::try_current()
            .map_err(|e| CoreError::network("rendezvous renewal needs a Tokio runtime", e))?;
        agent.spawn_task("rendezvous renewal", renew_until_stopped(Arc::clone(&self.shared), agent.closed_signal()));
        *started = true;
        Ok(())
    }
}

fn running(agent: &Agent) -> CoreResult<()> {
    if agent.is_running() {
        Ok(())
    } else {
        Err(CoreError::Closed)
    }
}

/// Holders as the agent dials them; addresses that do not parse are
/// skipped (they come from other agents' adverts, so one bad entry must
/// not hide the rest).
fn dialable(candidates: Vec<Candidate>) -> Vec<Holder> {
    candidates
        .into_iter()
        .map(|c| Holder { id: c.id, addrs: c.addrs.iter().filter_map(|a| a.parse().ok()).collect() })
        .collect()
}

fn strings(addrs: &[SocketAddr]) -> Vec<String> {
    addrs.iter().map(ToString::to_string).collect()
}

impl Shared {
    fn agent(&self) -> CoreResult<Arc<Agent>> {
        self.agent.upgrade().ok_or(CoreError::Closed)
    }

    fn candidates(&self, agent: &Agent) -> Vec<Candidate> {
        let coordinators = self.coordinators.coordinators();
        if !coordinators.is_empty() {
            return coordinators.into_iter().map(|c| Candidate { id: c.peer, addrs: c.addrs }).collect();
        }
        let mut online: Vec<Candidate> =
            self.presence.online_agents().into_iter().map(|a| Candidate { id: a.agent, addrs: a.addrs }).collect();
        online.push(Candidate { id: agent.agent_id(), addrs: strings(&agent.advertised_addrs()) });
        online
    }

    fn holders_for(&self, agent: &Agent, target: &AgentId) -> Vec<Candidate> {
        ranking::rank(shard_id(target), self.candidates(agent), self.replicas)
    }

    /// Signs a record of `renew`'s addresses and stores it at this agent's
    /// holders.
    async fn store(&self, renew: &Renew) -> CoreResult<Registration> {
        let agent = self.agent()?;
        running(&agent)?;
        let me = agent.agent_id();
        let addrs = renew.addrs.clone().unwrap_or_else(|| agent.advertised_addrs());
        let holders = self.holders_for(&agent, &me);
        let record = agent.sign_addr_record(&addrs, self.ttl_ms)?;
        let signed = addr_record::open(&record, now_ms())
            .map_err(|e| CoreError::Network(format!("own address record does not verify: {e:?}")))?;
        let holders = agent.rendezvous_store(dialable(holders), record, renew.timeout).await?;
        if !holders.iter().any(|(_, r)| *r == HolderReply::Answered(super::StoreOutcome::Stored)) {
            return Err(CoreError::Rendezvous(refusal(&holders)));
        }
        Ok(Registration { agent: me, shard: shard_id(&me), addrs, expires_at_ms: signed.expires_at_ms, holders })
    }
}

/// Why no holder stored a record, holder by holder.
fn refusal(holders: &[(AgentId, HolderReply)]) -> String {
    if holders.is_empty() {
        return "no rendezvous holder stored the record (no holder is known)".to_owned();
    }
    let each: Vec<String> = holders
        .iter()
        .map(|(id, reply)| {
            let what = match reply {
                HolderReply::Answered(o) => o.as_str(),
                HolderReply::Unreachable => "unreachable",
            };
            format!("{}: {what}", &hex::encode(id)[..8])
        })
        .collect();
    format!("no rendezvous holder stored the record ({})", each.join(", "))
}

/// The renewal task: sleeps until the schedule's next renewal and renews,
/// until stopped or the agent closes.
async fn renew_until_stopped(shared: Arc<Shared>, mut agent_closed: watch::Receiver<bool>) {
    let mut stop = shared.stop.subscribe();
    loop {
        let next = lock(&shared.renewal).next_deadline();
        let wait = next.map(|at| Duration::from_millis(at.saturating_sub(now_ms())));
        // The select only decides; the renewal runs after it, so no
        // branch's output (a watch guard) is held across its await.
        let due = tokio::select! {
            // Also ends when the sender is gone (the client dropped).
            _ = stop.wait_for(|s| *s) => return,
            _ = agent_closed.wait_for(|c| *c) => return,
            () = shared.rescheduled.notified() => false,
            () = sleep_or_forever(wait) => true,
        };
        let Some(renew) = due.then(|| lock(&shared.renewal).poll(now_ms())).flatten() else { continue };
        // A failure (no holder reachable right now) is retried next period.
        if let Err(e) = shared.store(&renew).await {
            tracing::debug!("rendezvous renewal failed: {e}");
        }
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}
