//! One running agent: its own Tokio runtime, QUIC transport, HyParView/SWIM
//! membership and Plumtree pub/sub, plus the dispatcher that feeds them.
//! This file is the wiring: the public types, the agent's state and its
//! start; each of the agent's jobs lives in a child module (listed at the
//! end), one job each.
//!
//! saorsa-gossip spawns background loops with no cancel handle, so every agent
//! owns a dedicated runtime: dropping it is the only way to end those loops,
//! and it is what lets a Node process exit after `close()`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, RwLock as StdRwLock, Weak};

use saorsa_gossip_membership::{HyParViewMembership, MembershipConfig};
use tokio::sync::broadcast;
use saorsa_gossip_pubsub::{PlumtreePubSub, PubSubCacheConfig, SubscriptionMarker};
use saorsa_gossip_types::{PeerId, TopicId};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, Notify};

use crate::ae_sync;
use crate::anti_entropy::{self, AntiEntropy};
use crate::config::AgentConfig;
use crate::addr_record::OwnRecord;
use crate::foaf::Foaf;
use crate::inbound_lanes::Lanes;
use crate::dedup::{self, DedupCache};
use crate::supervise::{self, Faults, Scope};
use crate::envelope::MessageId;
use crate::flood::{self, Flood, FloodStats};
use crate::records;
use crate::rendezvous::Rendezvous;
use crate::publisher_keys::KeyBook;
use crate::topic_interest::TopicInterest;
use crate::error::{CoreError, CoreResult};
use crate::identity::{AgentId, AgentKeypair};
use crate::membership_watch::{self, MembershipCounters, MembershipEvent, MembershipHints, Watch};
use crate::stats::PubSubCounters;
use crate::transport::{QuicTransport, TransportOptions};
use crate::MAX_TOPIC_BYTES;

type Membership_ = HyParViewMembership<QuicTransport>;
type PubSub_ = PlumtreePubSub<QuicTransport>;

/// How to start an agent.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// UDP address to bind, e.g. `127.0.0.1:0`.
    pub bind_addr: SocketAddr,
    /// Gossip settings.
    pub config: AgentConfig,
    /// Directory for the persistent bootstrap cache; `None` keeps it in memory.
    pub data_dir: Option<PathBuf>,
    /// Worker threads of the agent's runtime.
    pub worker_threads: usize,
    /// Addresses to advertise instead of the ones found, e.g. a router's
    /// port forward; empty: found from the bind address, the interfaces and
    /// what peers observe (see [`Agent::advertised_addrs`]).
    pub announce_addrs: Vec<SocketAddr>,
    /// Ask the router for a port mapping (UPnP). Off unless asked for:
    /// opening a port on a user's router is the user's decision.
    pub upnp: bool,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            config: AgentConfig::default(),
            data_dir: None,
            worker_threads: 2,
            announce_addrs: Vec::new(),
            upnp: false,
        }
    }
}

/// Connections opened since the agent started, by how each was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionCounts {
    /// By a plain handshake.
    pub direct: u64,
    /// By hole punching through NATs.
    pub holepunched: u64,
    /// Through a relay.
    pub relayed: u64,
    /// Of `holepunched`, those ant-quic's coordination made on this side;
    /// the others came in through this agent's NAT, opened by a punch
    /// (coordinated by the dialling side, or both sides dialling at once).
    pub holepunched_by_coordination: u64,
}

/// A delivered message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Topic it was published on.
    pub topic: String,
    /// Application bytes.
    pub payload: Vec<u8>,
    /// Verified publisher.
    pub from: AgentId,
    /// BLAKE3 message id.
    pub id: MessageId,
    /// Publisher clock, ms since the Unix epoch.
    pub published_at: u64,
    /// Local clock at delivery, ms since the Unix epoch.
    pub received_at: u64,
}

/// One subscription's sending end and its count of messages dropped because
/// its buffer was full.
struct Subscriber {
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

type Subscribers = Arc<StdMutex<HashMap<u64, Subscriber>>>;

struct TopicEntry {
    subscribers: Subscribers,
    /// Keeps Plumtree's subscription; delivery happens in the validator
    /// ([`Shared::admit`]), so Plumtree holds no payload queue for us.
    _plumtree: SubscriptionMarker,
}

/// A subscribed topic as the receive path needs it.
struct LocalTopic {
    name: String,
    subscribers: Subscribers,
}

struct Shared {
    /// This agent, for callbacks that must not keep it alive (Plumtree's
    /// topic validators).
    me: Weak<Shared>,
    keypair: AgentKeypair,
    transport: Arc<QuicTransport>,
    membership: Arc<Membership_>,
    pubsub: Arc<PubSub_>,
    topics: tokio::sync::Mutex<HashMap<String, TopicEntry>>,
    /// The subscribed topics by id, for delivery from inside Plumtree's
    /// (synchronous) topic validator; kept in step with `topics`.
    local_topics: StdRwLock<HashMap<TopicId, LocalTopic>>,
    /// Topics whose Plumtree peer set has been initialised.
    known_topics: StdMutex<HashSet<TopicId>>,
    /// Topics taken up from frames that could not be verified.
    unverified: StdMutex<agent_topic_gate::Unverified>,
    dedup: StdMutex<DedupCache>,
    /// Panics caught in this agent's tasks ([`crate::supervise`]).
    faults: Arc<Faults>,
    /// Envelope store and reconciliation state (see [`anti_entropy`]).
    anti_entropy: AntiEntropy,
    counters: PubSubCounters,
    message_ttl_ms: u64,
    /// Messages each subscription buffers before it drops (see [`agent_subscription::deliver`]).
    subscription_buffer: usize,
    membership_events: broadcast::Sender<MembershipEvent>,
    membership_counters: Arc<MembershipCounters>,
    hints: Arc<MembershipHints>,
    /// HyParView's target active view size (`activeViewSize`).
    active_degree: usize,
    /// Dropped with the agent; background watchers stop when it is gone.
    alive: Arc<()>,
    refresh: Arc<Notify>,
    next_sub: AtomicU64,
    flood: Flood,
    lanes: Lanes,
    foaf: Foaf,
    own_record: OwnRecord,
    rendezvous: Rendezvous,
    /// Which connected peers subscribe to which topics.
    interest: TopicInterest,
    /// Publisher keys known here, and asks for missing ones in flight.
    keys: Arc<KeyBook>,
    /// Per-source broadcast trees (see [`crate::source_trees`]).
    tree: Arc<agent_tree::TreeRouting>,
    /// Test hook: where anti-entropy frames go instead of being handled.
    #[cfg(feature = "test-hooks")]
    ae_tap: StdMutex<Option<agent_test_hooks::Tap>>,
}

/// A running agent. Every method may be called from any Tokio runtime or thread.
pub struct Agent {
    shared: Arc<Shared>,
    handle: Handle,
    runtime: StdMutex<Option<Runtime>>,
    closed: AtomicBool,
    closed_tx: tokio::sync::watch::Sender<bool>,
}

/// Shared read access to a [`Subscription`]'s dropped-message count.
#[derive(Debug, Clone)]
pub struct DropCount(Arc<AtomicU64>);

impl DropCount {
    /// Messages dropped so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A subscription's receiving end.
pub struct Subscription {
    id: u64,
    topic: String,
    rx: mpsc::Receiver<Message>,
    dropped: Arc<AtomicU64>,
    agent: Weak<Shared>,
    handle: Handle,
}

fn topic_id(topic: &str) -> TopicId {
    TopicId::from_entity(topic.as_bytes())
}

/// Checks a topic name against the API rules.
pub fn validate_topic(topic: &str) -> CoreResult<()> {
    if topic.is_empty() {
        return Err(CoreError::InvalidTopic("topic must not be empty".into()));
    }
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(CoreError::InvalidTopic(format!(
            "topic is {} bytes; the limit is {MAX_TOPIC_BYTES} bytes",
            topic.len()
        )));
    }
    Ok(())
}

impl Agent {
    /// Binds the endpoint and starts the agent's runtime and background tasks.
    pub async fn start(keypair: AgentKeypair, options: AgentOptions) -> CoreResult<Self> {
        options.config.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.worker_threads.max(1))
            .thread_name("x0x-agent")
            .enable_all()
            .build()
            .map_err(|e| CoreError::network("cannot start agent runtime", e))?;
        let handle = runtime.handle().clone();
        let started = handle.spawn(Shared::start(keypair, options)).await;
        let shared = match started {
            Ok(Ok(shared)) => shared,
            Ok(Err(e)) => {
                runtime.shutdown_background();
                return Err(e);
            }
            Err(e) => {
                runtime.shutdown_background();
                return Err(CoreError::network("agent start task failed", e));
            }
        };
        let (closed_tx, _) = tokio::sync::watch::channel(false);
        Ok(Self {
            shared,
            handle,
            runtime: StdMutex::new(Some(runtime)),
            closed: AtomicBool::new(false),
            closed_tx,
        })
    }

    /// `Err` once closed, or once one of the agent's own tasks panicked.
    fn ensure_open(&self) -> CoreResult<()> {
        self.ensure_not_closed()?;
        self.shared.faults.check()
    }

    fn ensure_not_closed(&self) -> CoreResult<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(CoreError::Closed)
        } else {
            Ok(())
        }
    }

    /// Spawns one of the agent's long-lived tasks on the current runtime: a
    /// panic in it is logged, counted (`tasks.panicked`) and faults the agent
    /// instead of silently stopping that part of it.
    pub(crate) fn spawn_task<F>(&self, task: &'static str, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.shared.spawn_loop(task, fut);
    }

    /// Starts `fut` on the agent's runtime and returns at once: for a caller
    /// on another thread (Node's) that learns the outcome from `fut` itself,
    /// instead of waiting in a runtime of its own. Once the agent is closed
    /// `fut` is dropped unpolled, and one still running when it closes is
    /// dropped too: a caller that must hear back reports from a drop guard.
    pub fn spawn_detached(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        drop(self.handle.spawn(fut));
    }

    /// Runs `fut` on the agent's runtime (saorsa-gossip spawns onto the
    /// current runtime, and it must be this one).
    async fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = CoreResult<T>> + Send + 'static,
    ) -> CoreResult<T> {
        self.ensure_open()?;
        self.run_unchecked(fut).await
    }

    /// [`Self::run`] for a read that must still answer once a task
    /// panicked (counters, so that the fault can be seen).
    async fn run_reading<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = CoreResult<T>> + Send + 'static,
    ) -> CoreResult<T> {
        self.ensure_not_closed()?;
        self.run_unchecked(fut).await
    }

    async fn run_unchecked<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = CoreResult<T>> + Send + 'static,
    ) -> CoreResult<T> {
        match self.handle.spawn(fut).await {
            Ok(r) => r,
            Err(e) if e.is_cancelled() => Err(CoreError::Closed),
            Err(e) => Err(CoreError::Internal(format!("an agent call panicked: {e}"))),
        }
    }

    /// This agent's id.
    pub fn agent_id(&self) -> AgentId {
        self.shared.keypair.agent_id()
    }

    /// Address agents on this machine dial to reach this agent (a wildcard
    /// bind is given as loopback).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.transport.local_addr()
    }

    /// The bound address: the IP asked for (a wildcard stays one) with the
    /// port the socket got.
    pub fn listen_addr(&self) -> SocketAddr {
        self.shared.transport.bound_addr()
    }

    /// What this agent advertises to others, now: the announce addresses
    /// when set; a specific bind address; or, for a wildcard bind, the
    /// machine's non-loopback interface addresses with the bound port and
    /// the addresses peers observed this agent at (behind a NAT, its public
    /// mapping). Every signed record this agent makes carries this list.
    pub fn advertised_addrs(&self) -> Vec<SocketAddr> {
        self.shared.transport.advertised_addrs()
    }

    /// Signs a record (see [`crate::records`]) with this agent's key.
    pub fn sign_record(&self, kind: u8, body: &[u8], timestamp: u64, expires_at: u64) -> CoreResult<Vec<u8>> {
        self.ensure_open()?;
        records::sign(&self.shared.keypair, kind, body, timestamp, expires_at)
    }

    /// Floods `payload` to the whole network without naming this agent (see
    /// [`crate::flood`]); resolves once every neighbour took it or timed out,
    /// with the number that took it.
    pub async fn flood(&self, payload: Vec<u8>) -> CoreResult<usize> {
        if payload.len() > flood::MAX_PAYLOAD_BYTES {
            return Err(CoreError::PayloadTooLarge { size: payload.len(), limit: flood::MAX_PAYLOAD_BYTES });
        }
        let shared = Arc::clone(&self.shared);
        self.run(async move {
            let frame = shared.flood.originate(&payload);
            Ok(flood::send_to_all(&shared.transport, frame, None).await)
        })
        .await
    }

    /// Flooded payloads from other agents, from now on.
    pub fn flood_payloads(&self) -> CoreResult<broadcast::Receiver<Vec<u8>>> {
        self.ensure_open()?;
        Ok(self.shared.flood.subscribe())
    }

    /// Flood counters.
    pub fn flood_stats(&self) -> CoreResult<FloodStats> {
        self.ensure_not_closed()?;
        Ok(self.shared.flood.stats())
    }
}

impl Shared {
    /// Spawns one of the agent's loops: a panic in it faults the agent
    /// (see [`crate::supervise`]).
    fn spawn_loop<F>(&self, task: &'static str, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        supervise::spawn(Arc::clone(&self.faults), task, Scope::Agent, fut);
    }

    async fn start(keypair: AgentKeypair, options: AgentOptions) -> CoreResult<Arc<Self>> {
        let transport = QuicTransport::bind(
            &keypair,
            options.bind_addr,
            TransportOptions { announce: options.announce_addrs, upnp: options.upnp, data_dir: options.data_dir },
        )
        .await?;
        let cfg = &options.config;
        let mconfig = MembershipConfig::default()
            .with_active_degree(cfg.active_view_size)
            .with_max_active_degree(cfg.active_view_size)
            .with_max_passive_degree(cfg.passive_view_size)
            // The user's view sizes are the contract; adaptive scaling would
            // move them.
            .with_adaptive_enabled(false);
        let membership = Arc::new(HyParViewMembership::with_swim_timing(
            keypair.peer_id(),
            mconfig,
            cfg.probe_interval,
            cfg.suspect_timeout,
            Arc::clone(&transport),
        ));
        let cache = PubSubCacheConfig::default();
        let pubsub = Arc::new(
            PlumtreePubSub::new_with_cache_config(
                keypair.peer_id(),
                Arc::clone(&transport),
                keypair.gossip_keypair().clone(),
                cache,
            )
            .with_health_oracle(membership.swim_arc())
            // ant-quic proves every connection's peer with ML-DSA-65, and
            // every payload carries its publisher's signature (checked in
            // the topic validator), so Plumtree's own per-frame signature
            // would be a second sign per send and verify per receipt.
            .with_transport_authenticated_hops()
            // x0x reconciles topic history itself (crate::anti_entropy, IBLT
            // rounds bounded in bytes); Plumtree's digests would list every
            // cached id every 30 s and answer with unbounded re-sends.
            .without_anti_entropy(),
        );
        let keypair_id = keypair.agent_id();
        let (tree, tree_signals) = agent_tree::TreeRouting::new(keypair_id);
        pubsub.set_source_routing(Arc::clone(&tree) as Arc<dyn saorsa_gossip_pubsub::SourceRouting>);
        let keys = Arc::new(KeyBook::new(keypair_id, keypair.public_key()));
        let shared = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            local_topics: StdRwLock::new(HashMap::new()),
            faults: Arc::new(Faults::default()),
            dedup: StdMutex::new(DedupCache::new(cfg.message_cache_size, dedup::window(cfg.message_cache_ttl))),
            anti_entropy: AntiEntropy::new(cfg.message_cache_size, cfg.message_cache_ttl),
            keypair,
            transport,
            membership,
            pubsub,
            topics: tokio::sync::Mutex::new(HashMap::new()),
            known_topics: StdMutex::new(HashSet::new()),
            unverified: StdMutex::new(agent_topic_gate::Unverified::default()),
            counters: PubSubCounters::default(),
            message_ttl_ms: cfg.message_cache_ttl.as_millis() as u64,
            subscription_buffer: cfg.subscription_buffer,
            membership_events: broadcast::channel(4096).0,
            membership_counters: Arc::new(MembershipCounters::default()),
            hints: Arc::new(MembershipHints::default()),
            active_degree: cfg.active_view_size,
            alive: Arc::new(()),
            refresh: Arc::new(Notify::new()),
            next_sub: AtomicU64::new(1),
            flood: Flood::default(),
            lanes: Lanes::default(),
            foaf: Foaf::new(keypair_id, cfg.foaf_fanout, cfg.foaf_ttl),
            own_record: OwnRecord::default(),
            rendezvous: Rendezvous::new(),
            interest: TopicInterest::default(),
            keys,
            tree,
            #[cfg(feature = "test-hooks")]
            ae_tap: StdMutex::new(None),
        });
        shared.spawn_loop("membership watcher", membership_watch::run(
            Watch {
                membership: Arc::clone(&shared.membership),
                transport: Arc::clone(&shared.transport),
                events: shared.membership_events.clone(),
                counters: Arc::clone(&shared.membership_counters),
                hints: Arc::clone(&shared.hints),
                period: cfg.probe_interval,
            },
            Arc::downgrade(&shared.alive),
        ));
        shared.spawn_loop("address announcer", agent_loops::addr_announce_loop(Arc::downgrade(&shared)));
        shared.spawn_loop("key introductions", agent_keys::introduce_loop(
            Arc::downgrade(&shared.keys),
            Arc::downgrade(&shared.transport),
            shared.transport.subscribe_events(),
        ));
        shared.spawn_loop("tree signals", agent_tree::send_loop(
            Arc::downgrade(&shared.tree),
            Arc::downgrade(&shared.transport),
            tree_signals,
            shared.transport.subscribe_events(),
        ));
        shared.pubsub.set_eager_degree_ceiling(PLUMTREE_EAGER_DEGREE).await;
        shared.spawn_loop("frame dispatcher", agent_dispatch::dispatch_loop(Arc::clone(&shared)));
        shared.spawn_loop("topic refresher", agent_loops::topic_refresh_loop(Arc::downgrade(&shared)));
        shared.spawn_loop("anti-entropy", anti_entropy::background(Arc::downgrade(&shared), cfg.anti_entropy_interval));
        shared.spawn_loop("anti-entropy on connect", ae_sync::on_connect_loop(
            Arc::downgrade(&shared),
            PeerId::new(keypair_id),
            shared.transport.subscribe_events(),
        ));
        Ok(shared)
    }
}

/// Eager (payload-pushing) links per topic: what a source's first message
/// costs per node, before per-source PRUNEs ([`crate::source_trees`]) thin
/// its pushes to a spanning tree (the other links carry IHAVEs that repair
/// it). With every link of the active view eager, a source that publishes a
/// few messages only paid that flood each time (bench:pubsub, N = 30, one
/// message per publisher: 2.0 payload copies per delivery); 3 gives every
/// node three ways in and costs 1.6 there. saorsa-gossip's own minimum is 6.
const PLUMTREE_EAGER_DEGREE: usize = 3;

// Child modules, so they can reach the agent's private state; one job each.
#[path = "agent_pubsub.rs"]
mod agent_pubsub;
#[path = "agent_admit.rs"]
mod agent_admit;
#[path = "agent_subscription.rs"]
mod agent_subscription;
#[path = "agent_dispatch.rs"]
mod agent_dispatch;
#[path = "agent_loops.rs"]
mod agent_loops;
#[path = "agent_peers.rs"]
mod agent_peers;
#[path = "agent_diagnostics.rs"]
mod agent_diagnostics;
#[path = "agent_lifecycle.rs"]
mod agent_lifecycle;
#[path = "agent_anti_entropy.rs"]
mod agent_anti_entropy;
#[path = "agent_foaf.rs"]
mod agent_foaf;
#[path = "agent_keys.rs"]
mod agent_keys;
#[path = "agent_tree.rs"]
mod agent_tree;
#[path = "agent_rendezvous.rs"]
mod agent_rendezvous;
#[path = "agent_topic_gate.rs"]
mod agent_topic_gate;
pub use agent_topic_gate::{MAX_RELAY_TOPICS, UNVERIFIED_TOPICS, UNVERIFIED_TOPICS_PER_PEER};
pub use agent_rendezvous::{Holder, HolderReply, LookupOutcome, MAX_RECORD_TTL_MS};

// Test-only entry points for attack tests; never in the shipped addon.
#[cfg(feature = "test-hooks")]
#[path = "agent_test_hooks.rs"]
mod agent_test_hooks;
#[cfg(feature = "test-hooks")]
pub use agent_test_hooks::{RawStream, PANIC_FRAME_TAG, PANIC_IN_DISPATCHER, PANIC_IN_HANDLER};

// A child module, so the test can reach the agent's transport to inject
// membership frames.
#[cfg(test)]
#[path = "view_size_tests.rs"]
mod view_size_tests;

#[cfg(test)]
#[path = "forward_join_tests.rs"]
mod forward_join_tests;

#[cfg(test)]
#[path = "watch_tests.rs"]
mod watch_tests;

#[cfg(test)]
#[path = "dial_tests.rs"]
mod dial_tests;

