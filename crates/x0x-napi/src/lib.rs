//! Node-API binding for `x0x-core`. It converts types and errors and nothing
//! else: every failure reaches JavaScript as an `Error` whose `code` is the
//! core's stable `ERR_X0X_*` code (see [`errors`]), so the TypeScript layer can
//! raise the matching `X0xError` subclass without reading the message.

#![deny(clippy::unwrap_used)]

mod anti_entropy;
pub mod calls;
mod copied_buffer;
mod errors;
mod event_stream;
pub mod logging;
#[cfg(feature = "test-hooks")]
mod hooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use x0x_core::{Agent, AgentConfig, AgentKeypair, AgentOptions, CoreError};

pub use errors::Outcome;
use errors::{invalid_arg, outcome, outcome_async, Try};
use event_stream::{event_stream_class, Next};

// Public where they export free functions: napi-rs registers those at load
// time, and in a private module `cargo test` would see them as unused.
pub mod coordinators;
mod presence;
pub mod records;
mod discovery;
pub mod rendezvous;
mod subscription;

pub use subscription::NativeSubscription;

fn parse_addr(addr: &str) -> Result<SocketAddr, CoreError> {
    addr.parse().map_err(|_| {
        CoreError::BadAddress(format!("\"{addr}\" is not an ip:port address (e.g. 127.0.0.1:5483)"))
    })
}

/// An announce address: a literal `ip:port` a peer can dial, so no
/// wildcard host and no port 0.
fn parse_announce(addr: &str) -> Result<SocketAddr, CoreError> {
    let parsed: SocketAddr = addr.parse().map_err(|_| {
        CoreError::BadAddress(format!("announce address \"{addr}\" is not an ip:port address (e.g. 100.64.0.1:5483)"))
    })?;
    if parsed.port() == 0 || parsed.ip().is_unspecified() {
        return Err(CoreError::BadAddress(format!(
            "announce address \"{addr}\" must name a dialable host and a port from 1 to 65535"
        )));
    }
    Ok(parsed)
}

fn hex_id(id: &[u8; 32]) -> String {
    hex::encode(id)
}

fn parse_id(id: &str) -> Try<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(id, &mut out)
        .map_err(|_| invalid_arg(format!("\"{id}\" is not a 64-character hex agent id")))?;
    Ok(out)
}

/// Every code a native error's `code` can carry, one per `CoreError`
/// variant; a test ties each to its TypeScript class.
#[napi(catch_unwind)]
pub fn error_codes() -> Vec<&'static str> {
    CoreError::CODES.to_vec()
}

/// Largest payload accepted by `publish`, in bytes.
#[napi]
pub const MAX_PAYLOAD_BYTES: u32 = x0x_core::MAX_PAYLOAD_BYTES as u32;

/// Longest topic accepted, in UTF-8 bytes.
#[napi]
pub const MAX_TOPIC_BYTES: u32 = x0x_core::MAX_TOPIC_BYTES as u32;

/// An ML-DSA-65 key pair.
#[napi]
pub struct NativeKeypair {
    inner: AgentKeypair,
}

#[napi]
impl NativeKeypair {
    /// Fresh random key pair.
    #[napi(catch_unwind)]
    pub fn generate() -> Outcome<NativeKeypair> {
        AgentKeypair::generate().map(|inner| Self { inner }).into()
    }

    /// Parses the key file format.
    #[napi(catch_unwind)]
    pub fn from_bytes(bytes: Buffer) -> Outcome<NativeKeypair> {
        AgentKeypair::from_bytes(&bytes).map(|inner| Self { inner }).into()
    }

    /// Loads a key file.
    #[napi(catch_unwind)]
    pub fn load(path: String) -> Outcome<NativeKeypair> {
        AgentKeypair::load(&PathBuf::from(path)).map(|inner| Self { inner }).into()
    }

    /// Saves to a key file with mode 0600.
    #[napi(catch_unwind)]
    pub fn save(&self, path: String) -> Outcome<()> {
        self.inner.save(&PathBuf::from(path)).into()
    }

    /// Key file bytes.
    #[napi(catch_unwind)]
    pub fn to_bytes(&self) -> Buffer {
        self.inner.to_bytes().into()
    }

    /// Agent id, lowercase hex.
    #[napi(getter, catch_unwind)]
    pub fn agent_id(&self) -> String {
        hex_id(&self.inner.agent_id())
    }

    /// Public key bytes.
    #[napi(getter, catch_unwind)]
    pub fn public_key(&self) -> Buffer {
        self.inner.public_key().to_vec().into()
    }
}

/// Config values, already validated by TypeScript (validated again in Rust).
#[napi(object)]
pub struct NativeConfig {
    pub active_view_size: u32,
    pub passive_view_size: u32,
    pub probe_interval_ms: u32,
    pub suspect_timeout_ms: u32,
    pub message_cache_size: u32,
    pub message_cache_ttl_ms: u32,
    pub anti_entropy_interval_ms: u32,
    pub foaf_ttl: u32,
    pub foaf_fanout: u32,
    pub subscription_buffer: u32,
}

/// How to start an agent.
#[napi(object)]
pub struct NativeAgentOptions {
    pub bind_addr: String,
    pub config: NativeConfig,
    pub data_dir: Option<String>,
    /// `ip:port` addresses to advertise instead of the ones found.
    pub announce_addrs: Option<Vec<String>>,
    /// Ask the router for a port mapping; off when absent.
    pub upnp: Option<bool>,
}

/// A delivered message (only ever handed to JS).
#[napi(object, object_from_js = false)]
pub struct NativeMessage {
    pub topic: String,
    /// Copied, not external: see [`copied_buffer`].
    pub payload: copied_buffer::CopiedBuffer,
    pub from: String,
    pub id: String,
    pub published_at: f64,
    pub received_at: f64,
}

pub(crate) fn to_native_message(m: x0x_core::Message) -> NativeMessage {
    NativeMessage {
        topic: m.topic,
        payload: copied_buffer::CopiedBuffer(m.payload),
        from: hex_id(&m.from),
        id: hex_id(&m.id),
        published_at: m.published_at as f64,
        received_at: m.received_at as f64,
    }
}

/// A transport connection change, as a union discriminated by `type`.
#[napi(discriminant = "type", discriminant_case = "lowercase")]
pub enum NativeConnectionEvent {
    /// A connection to `peer_id` opened; `path` is `direct`, `holepunched` or `relayed`.
    Connected { peer_id: String, addr: Option<String>, path: String, at: f64 },
    /// The connection to `peer_id` closed.
    Disconnected { peer_id: String, addr: Option<String>, at: f64 },
    /// The reader fell behind; `missed` events were dropped.
    Lagged { missed: f64 },
}

impl From<Next<x0x_core::ConnectionEvent>> for NativeConnectionEvent {
    fn from(next: Next<x0x_core::ConnectionEvent>) -> Self {
        let e = match next {
            Next::Lagged(n) => return Self::Lagged { missed: n as f64 },
            Next::Item(e) => e,
        };
        let (peer_id, addr, at) = (hex_id(&e.peer.to_bytes()), e.addr.map(|a| a.to_string()), e.at_ms as f64);
        if e.connected {
            let path = e.path.map_or("direct", |p| p.as_str()).to_owned();
            Self::Connected { peer_id, addr, path, at }
        } else {
            Self::Disconnected { peer_id, addr, at }
        }
    }
}

event_stream_class! {
    /// Transport connection events.
    NativeConnectionEvents(x0x_core::ConnectionEvent) -> NativeConnectionEvent
}

/// A connected peer.
#[napi(object)]
pub struct NativePeer {
    pub peer_id: String,
    pub addr: String,
}

/// A live connection: the peer, its address, and how it was made.
#[napi(object)]
pub struct NativeConnection {
    pub peer_id: String,
    pub addr: String,
    /// `direct`, `holepunched` or `relayed`.
    pub path: String,
}

/// Connections opened since start, by how each was made.
#[napi(object)]
pub struct NativeConnectionCounts {
    pub direct: f64,
    pub holepunched: f64,
    pub relayed: f64,
    pub holepunched_by_coordination: f64,
}

/// Pub/sub counters.
#[napi(object)]
pub struct NativePubSubStats {
    pub published: f64,
    pub delivered: f64,
    pub duplicates_dropped: f64,
    pub invalid_dropped: f64,
    pub oversized_dropped: f64,
    pub stale_dropped: f64,
    pub lagged_dropped: f64,
    pub cache_size: f64,
}

/// Membership counters and view sizes.
#[napi(object)]
pub struct NativeMembershipStats {
    pub active_view_size: f64,
    pub passive_view_size: f64,
    pub probes_sent: f64,
    pub suspicions: f64,
    pub confirmed_failures: f64,
    pub graceful_leaves: f64,
    pub refills: f64,
}

/// Why a peer left the active view.
#[napi(string_enum = "lowercase")]
pub enum NativeLeaveReason {
    /// It said goodbye.
    Graceful,
    /// SWIM declared it dead.
    Failed,
    /// HyParView moved it to the passive view.
    Demoted,
}

/// A membership change, as a union discriminated by `type`.
#[napi(discriminant = "type", discriminant_case = "kebab-case")]
pub enum NativeMembershipEvent {
    /// `peer_id` entered the active view.
    PeerJoined { peer_id: String, addr: Option<String>, at: f64 },
    /// SWIM stopped hearing from `peer_id`.
    PeerSuspected { peer_id: String, addr: Option<String>, at: f64 },
    /// `peer_id` left the active view.
    PeerLeft { peer_id: String, addr: Option<String>, reason: NativeLeaveReason, at: f64 },
    /// The reader fell behind; `missed` events were dropped.
    Lagged { missed: f64 },
}

impl From<Next<x0x_core::MembershipEvent>> for NativeMembershipEvent {
    fn from(next: Next<x0x_core::MembershipEvent>) -> Self {
        use x0x_core::{LeaveReason, MembershipEventKind};
        let e = match next {
            Next::Lagged(n) => return Self::Lagged { missed: n as f64 },
            Next::Item(e) => e,
        };
        let (peer_id, addr, at) = (hex_id(&e.peer.to_bytes()), e.addr.map(|a| a.to_string()), e.at_ms as f64);
        match e.kind {
            MembershipEventKind::Joined => Self::PeerJoined { peer_id, addr, at },
            MembershipEventKind::Suspected => Self::PeerSuspected { peer_id, addr, at },
            MembershipEventKind::Left { reason } => Self::PeerLeft {
                peer_id,
                addr,
                reason: match reason {
                    LeaveReason::Graceful => NativeLeaveReason::Graceful,
                    LeaveReason::Failed => NativeLeaveReason::Failed,
                    LeaveReason::Demoted => NativeLeaveReason::Demoted,
                },
                at,
            },
        }
    }
}

event_stream_class! {
    /// Membership events.
    NativeMembershipEvents(x0x_core::MembershipEvent) -> NativeMembershipEvent
}

fn to_peers(list: Vec<([u8; 32], Option<SocketAddr>)>) -> Vec<NativePeer> {
    list.into_iter()
        .map(|(id, addr)| NativePeer {
            peer_id: hex_id(&id),
            addr: addr.map(|a| a.to_string()).unwrap_or_default(),
        })
        .collect()
}

/// One running agent.
#[napi]
pub struct NativeAgent {
    inner: Arc<Agent>,
    port: calls::CallPort,
}

/// The function through which the agents of this process settle their
/// per-message calls (`publishCall`, a subscription's `nextBatchCall`):
/// `settle(id, outcome)`, on Node's thread. See [`calls`].
#[napi]
pub struct NativeCallPort {
    port: calls::CallPort,
}

#[napi]
impl NativeCallPort {
    /// Wraps `settle`; it must not throw (an exception from it is an
    /// uncaught exception in Node).
    #[napi(constructor, catch_unwind)]
    pub fn new(settle: napi::bindgen_prelude::Function<'_, calls::Completion, ()>) -> napi::Result<Self> {
        Ok(Self { port: calls::CallPort::new(settle)? })
    }
}

#[napi]
impl NativeAgent {
    /// Binds the endpoint and starts the agent.
    #[napi(catch_unwind)]
    pub async fn create(
        options: NativeAgentOptions,
        keypair: &NativeKeypair,
        calls: &NativeCallPort,
    ) -> Outcome<NativeAgent> {
        outcome_async(Self::start(options, keypair.inner.clone(), calls.port.clone())).await
    }

    async fn start(options: NativeAgentOptions, keypair: AgentKeypair, port: calls::CallPort) -> Try<NativeAgent> {
        let bind_addr = parse_addr(&options.bind_addr)?;
        let announce_addrs = options
            .announce_addrs
            .unwrap_or_default()
            .iter()
            .map(|a| parse_announce(a))
            .collect::<Result<Vec<_>, _>>()?;
        let c = options.config;
        let config = AgentConfig {
            active_view_size: c.active_view_size as usize,
            passive_view_size: c.passive_view_size as usize,
            probe_interval: Duration::from_millis(c.probe_interval_ms.into()),
            suspect_timeout: Duration::from_millis(c.suspect_timeout_ms.into()),
            message_cache_size: c.message_cache_size as usize,
            message_cache_ttl: Duration::from_millis(c.message_cache_ttl_ms.into()),
            anti_entropy_interval: Duration::from_millis(c.anti_entropy_interval_ms.into()),
            foaf_ttl: c.foaf_ttl.min(u8::MAX.into()) as u8,
            foaf_fanout: c.foaf_fanout as usize,
            subscription_buffer: c.subscription_buffer as usize,
        };
        let opts = AgentOptions {
            bind_addr,
            config,
            data_dir: options.data_dir.map(PathBuf::from),
            announce_addrs,
            upnp: options.upnp.unwrap_or(false),
            ..AgentOptions::default()
        };
        let agent = Agent::start(keypair, opts).await?;
        Ok(NativeAgent { inner: Arc::new(agent), port })
    }

    /// Agent id, hex.
    #[napi(getter, catch_unwind)]
    pub fn agent_id(&self) -> String {
        hex_id(&self.inner.agent_id())
    }

    /// The bound address (a wildcard stays a wildcard), with its port.
    #[napi(catch_unwind)]
    pub fn listen_addrs(&self) -> Vec<String> {
        vec![self.inner.listen_addr().to_string()]
    }

    /// What this agent advertises in its signed records, now.
    #[napi(catch_unwind)]
    pub fn advertised_addrs(&self) -> Vec<String> {
        self.inner.advertised_addrs().iter().map(|a| a.to_string()).collect()
    }

    /// Live connections with how each was made.
    #[napi(catch_unwind)]
    pub async fn connections(&self) -> Outcome<Vec<NativeConnection>> {
        self.inner
            .connection_paths()
            .await
            .map(|list| {
                list.into_iter()
                    .map(|c| NativeConnection {
                        peer_id: hex_id(&c.peer.to_bytes()),
                        addr: c.addr.map(|a| a.to_string()).unwrap_or_default(),
                        path: c.path.as_str().to_owned(),
                    })
                    .collect()
            })
            .into()
    }

    /// Connections opened since start, by how each was made.
    #[napi(catch_unwind)]
    pub fn connection_counts(&self) -> NativeConnectionCounts {
        let c = self.inner.connection_counts();
        NativeConnectionCounts {
            direct: c.direct as f64,
            holepunched: c.holepunched as f64,
            relayed: c.relayed as f64,
            holepunched_by_coordination: c.holepunched_by_coordination as f64,
        }
    }

    /// Joins through the given seeds.
    #[napi(catch_unwind)]
    pub async fn join(&self, seeds: Vec<String>) -> Outcome<()> {
        outcome_async(async {
            let seeds = seeds.iter().map(|s| parse_addr(s)).collect::<Result<Vec<_>, _>>()?;
            Ok(self.inner.join(seeds).await?)
        })
        .await
    }

    /// Subscribes to a topic.
    #[napi(catch_unwind)]
    pub async fn subscribe(&self, topic: String) -> Outcome<NativeSubscription> {
        self.inner
            .subscribe(&topic)
            .await
            .map(|sub| NativeSubscription::new(sub, Arc::clone(&self.inner), self.port.clone()))
            .into()
    }

    /// Connected subscribers of `topic`, once there are `n`, or after
    /// `timeout_ms` with fewer (the facade loops, checking its AbortSignal).
    #[napi(catch_unwind)]
    pub async fn wait_for_topic_peers(&self, topic: String, n: u32, timeout_ms: u32) -> Outcome<Vec<String>> {
        self.inner
            .wait_for_topic_peers(&topic, n as usize, Duration::from_millis(u64::from(timeout_ms)))
            .await
            .map(|peers| peers.iter().map(hex_id).collect())
            .into()
    }

    /// Publishes; settles call `id` with the message id.
    #[napi(catch_unwind)]
    pub fn publish_call(&self, topic: String, payload: Buffer, id: u32) {
        let call = self.port.call(id, calls::closed_id);
        let agent = Arc::clone(&self.inner);
        let payload = payload.to_vec();
        self.inner.spawn_detached(async move {
            let result = agent.publish(&topic, payload).await;
            call.settle(calls::Settled::Id(result.map(|id| hex_id(&id))));
        });
    }

    /// Publishes if the outbound backlog drains within `max_wait_ms`;
    /// settles call `id` with the message id, or with null when it did not
    /// (nothing was sent).
    #[napi(catch_unwind)]
    pub fn publish_within_call(&self, topic: String, payload: Buffer, max_wait_ms: u32, id: u32) {
        let call = self.port.call(id, calls::closed_maybe_id);
        let agent = Arc::clone(&self.inner);
        let payload = payload.to_vec();
        let max_wait = Duration::from_millis(u64::from(max_wait_ms));
        self.inner.spawn_detached(async move {
            let result = agent.publish_within(&topic, payload, max_wait).await;
            call.settle(calls::Settled::MaybeId(result.map(|id| id.map(|id| hex_id(&id)))));
        });
    }

    /// Transport connection events.
    #[napi(catch_unwind)]
    pub fn connection_events(&self) -> Outcome<NativeConnectionEvents> {
        self.inner
            .connection_events()
            .map(|rx| NativeConnectionEvents::open(rx, self.inner.closed_signal()))
            .into()
    }

    /// Peers with a live connection.
    #[napi(catch_unwind)]
    pub async fn connected_peers(&self) -> Outcome<Vec<NativePeer>> {
        self.inner.connected_peers().await.map(to_peers).into()
    }

    /// HyParView active view with addresses.
    #[napi(catch_unwind)]
    pub async fn active_peers(&self) -> Outcome<Vec<NativePeer>> {
        self.inner.active_peers().await.map(to_peers).into()
    }

    /// HyParView passive view with addresses.
    #[napi(catch_unwind)]
    pub async fn passive_peers(&self) -> Outcome<Vec<NativePeer>> {
        self.inner.passive_peers().await.map(to_peers).into()
    }

    /// Membership counters, and the view sizes as of the watcher's last look.
    #[napi(catch_unwind)]
    pub fn membership_stats(&self) -> Outcome<NativeMembershipStats> {
        self.inner.membership_stats().map(|s| NativeMembershipStats {
            active_view_size: s.active_view_size as f64,
            passive_view_size: s.passive_view_size as f64,
            probes_sent: s.probes_sent as f64,
            suspicions: s.suspicions as f64,
            confirmed_failures: s.confirmed_failures as f64,
            graceful_leaves: s.graceful_leaves as f64,
            refills: s.refills as f64,
        }).into()
    }

    /// Membership events.
    #[napi(catch_unwind)]
    pub fn membership_events(&self) -> Outcome<NativeMembershipEvents> {
        self.inner
            .membership_events()
            .map(|rx| NativeMembershipEvents::open(rx, self.inner.closed_signal()))
            .into()
    }

    /// Pub/sub counters.
    #[napi(catch_unwind)]
    pub fn pubsub_stats(&self) -> Outcome<NativePubSubStats> {
        self.inner.pubsub_stats().map(|s| NativePubSubStats {
            published: s.published as f64,
            delivered: s.delivered as f64,
            duplicates_dropped: s.duplicates_dropped as f64,
            invalid_dropped: s.invalid_dropped as f64,
            oversized_dropped: s.oversized_dropped as f64,
            stale_dropped: s.stale_dropped as f64,
            lagged_dropped: s.lagged_dropped as f64,
            cache_size: s.cache_size as f64,
        }).into()
    }

    /// Diagnostic: counters of the layers under pub/sub, by name.
    #[napi(catch_unwind)]
    pub fn diagnostics(&self) -> Outcome<HashMap<String, f64>> {
        let list = self.inner.diagnostics();
        list.map(|l| l.into_iter().map(|(k, v)| (k, v as f64)).collect()).into()
    }

    /// Refuses all traffic with a peer.
    #[napi(catch_unwind)]
    pub async fn block_peer(&self, peer_id: String) -> Outcome<()> {
        outcome_async(async { Ok(self.inner.block_peer(parse_id(&peer_id)?).await?) }).await
    }

    /// Lifts a block.
    #[napi(catch_unwind)]
    pub fn unblock_peer(&self, peer_id: String) -> Outcome<()> {
        outcome(|| Ok(self.inner.unblock_peer(parse_id(&peer_id)?)?))
    }

    /// True until closed.
    #[napi(catch_unwind)]
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// Closes the agent. Idempotent.
    #[napi(catch_unwind)]
    pub async fn close(&self) {
        self.inner.close().await;
    }
}
