//! Runs the coordinator book for one agent: feeds it the adverts that
//! arrive on [`COORDINATORS_TOPIC`], wakes it when it has work, and signs
//! and publishes this agent's adverts while it advertises.

use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;

use tokio::sync::{watch, Mutex};

use super::state::{AdvertRejection, CoordinatorAdvert, CoordinatorBook};
use super::{CoordinatorConfig, CoordinatorStats, COORDINATORS_TOPIC, COORDINATOR_KIND};
use crate::agent::{Agent, Subscription};
use crate::error::{CoreError, CoreResult};
use crate::lock::lock;
use crate::time::now_ms;

/// Longest sleep of the timer task with nothing scheduled; it wakes for
/// every advert anyway.
const IDLE_WAKE: Duration = Duration::from_secs(60);

struct Shared {
    agent: Weak<Agent>,
    advertise_on_start: bool,
    book: StdMutex<CoordinatorBook>,
    /// Set once the topic is subscribed and the task runs.
    started: Mutex<bool>,
    stop: watch::Sender<bool>,
}

/// Coordinator adverts of one agent (see [`super`]): the coordinators it
/// knows and, once asked, its own adverts. Holds the agent weakly, so it
/// never keeps a dropped agent alive.
pub struct Coordinators {
    shared: Arc<Shared>,
}


impl Coordinators {
    /// Coordinator adverts for `agent`, idle until [`Self::start`].
    pub fn new(agent: &Arc<Agent>, config: &CoordinatorConfig) -> CoreResult<Self> {
        let book = CoordinatorBook::new(config)?;
        Ok(Self {
            shared: Arc::new(Shared {
                agent: Arc::downgrade(agent),
                advertise_on_start: config.advertise,
                book: StdMutex::new(book),
                started: Mutex::new(false),
                stop: watch::channel(false).0,
            }),
        })
    }

    /// Starts listening for adverts and, if configured so, advertises.
    /// Idempotent. Must run inside a Tokio runtime, where the timer task
    /// goes; the task ends with [`Self::stop`] or with the agent.
    pub async fn start(&self) -> CoreResult<()> {
        self.shared.listen().await?;
        if self.shared.advertise_on_start {
            self.advertise().await?;
        }
        Ok(())
    }

    /// Announces this agent as a coordinator at its advertised addresses,
    /// now and every `ttl / 2` until [`Self::stop`] or the agent closes
    /// (starting to listen if not yet). A second call just re-advertises.
    /// Returns the advert as published, checked as peers will check it.
    pub async fn advertise(&self) -> CoreResult<CoordinatorAdvert> {
        self.shared.listen().await?;
        if *self.shared.stop.borrow() {
            return Err(CoreError::Closed);
        }
        let advert = self.shared.publish().await?;
        lock(&self.shared.book).start_advertising(now_ms());
        Ok(advert)
    }

    /// The coordinators whose adverts are verified and unexpired, newest
    /// advert per coordinator, by id (this agent included if it advertises).
    pub fn coordinators(&self) -> Vec<CoordinatorAdvert> {
        lock(&self.shared.book).coordinators(now_ms())
    }

    /// Adverts accepted and rejected, by reason.
    pub fn stats(&self) -> CoordinatorStats {
        lock(&self.shared.book).stats()
    }

    /// Stops advertising and listening. Idempotent; the book stays readable.
    pub fn stop(&self) {
        lock(&self.shared.book).stop_advertising();
        self.shared.stop.send_replace(true);
    }
}

impl Shared {
    fn agent(&self) -> CoreResult<Arc<Agent>> {
        self.agent.upgrade().ok_or(CoreError::Closed)
    }

    /// Subscribes to the topic and spawns the task, once.
    async fn listen(self: &Arc<Self>) -> CoreResult<()> {
        let mut started = self.started.lock().await;
        if *started {
            return Ok(());
        }
        let agent = self.agent()?;
        tokio::runtime::Handle::try_current()
            .map_err(|e| CoreError::network("coordinator adverts need a Tokio runtime", e))?;
        let adverts = agent.subscribe(COORDINATORS_TOPIC).await?;
        agent.spawn_task("coordinator adverts", run(Arc::clone(self), adverts, agent.closed_signal()));
        *started = true;
        Ok(())
    }

    /// Signs and publishes one advert, after checking it in our own book
    /// exactly as peers will (so this agent lists itself).
    async fn publish(&self) -> CoreResult<CoordinatorAdvert> {
        let agent = self.agent()?;
        let addrs: Vec<String> = agent.advertised_addrs().iter().map(|a| a.to_string()).collect();
        let now = now_ms();
        let plan = lock(&self.book).plan(&addrs, now);
        let record = agent.sign_record(COORDINATOR_KIND, &plan.body, plan.timestamp, plan.expires_at)?;
        let advert = lock(&self.book).offer(&record, now).map_err(|why| {
            let why = match why {
                AdvertRejection::Record(r) => r.as_str(),
                AdvertRejection::Full => "full",
                AdvertRejection::Unreadable => "unreadable",
            };
            CoreError::Network(format!("own coordinator advert was rejected ({why})"))
        })?;
        agent.publish(COORDINATORS_TOPIC, record).await?;
        Ok(advert)
    }
}

/// The timer task: takes adverts as they come and wakes at the book's next
/// deadline, until stopped or the agent closes.
async fn run(shared: Arc<Shared>, mut adverts: Subscription, mut agent_closed: watch::Receiver<bool>) {
    let mut stop = shared.stop.subscribe();
    let Ok(me) = shared.agent().map(|a| a.agent_id()) else { return };
    loop {
        let wait = lock(&shared.book)
            .next_deadline()
            .map_or(IDLE_WAKE, |at| Duration::from_millis(at.saturating_sub(now_ms())));
        tokio::select! {
            // Also ends when the sender is gone (this object dropped).
            _ = stop.wait_for(|s| *s) => return,
            _ = agent_closed.wait_for(|c| *c) => return,
            message = adverts.next() => match message {
                // Our own adverts went into the book when we made them.
                Some(m) if m.from != me => {
                    // Rejections are counted in the book; nothing else to do.
                    let _ = lock(&shared.book).offer(&m.payload, now_ms());
                }
                Some(_) => {}
                None => return,
            },
            () = tokio::time::sleep(wait) => {
                if lock(&shared.book).poll(now_ms()) {
                    // Sent aside, so a slow publish does not hold up
                    // receiving; a failure is retried next period.
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        if let Err(e) = shared.publish().await {
                            tracing::debug!("coordinator advert not sent: {e}");
                        }
                    });
                }
            }
        }
    }
}
