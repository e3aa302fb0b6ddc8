//! `QuicTransport`: saorsa-gossip's `GossipTransport` over one `ant_quic::Node`.
//!
//! Written here rather than using saorsa-gossip's `UdpTransportAdapter` because
//! that adapter cannot set the bootstrap cache (ant-quic's default is shared by
//! every node on the host), mDNS, or stream limits, and cannot shut its node
//! down. Frames are one QUIC uni stream each: a stream-type byte, then the body.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, RwLock as StdRwLock};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use ant_quic::transport::TransportAddr;
use ant_quic::{
    BootstrapCacheConfig, ConnectionMethod, MlDsaPublicKey, MlDsaSecretKey, Node, NodeConfig, NodeEvent, PeerLifecycleEvent,
    TraversalMethod,
};
use bytes::Bytes;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;
use tokio::sync::{broadcast, mpsc, Mutex, Notify, OwnedMutexGuard, Semaphore};
use tracing::{debug, warn};

use crate::addr_claims::{AddrClaimStats, AddrClaims};
use crate::addr_record::AddrRecord;
use crate::error::{CoreError, CoreResult};
use crate::identity::AgentKeypair;
use crate::outbox::{OutboxPermit, Outboxes, OUTBOX_BYTES_PER_PEER};
use crate::time::now_ms;

/// How long a membership or bulk send may take before it is given up.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one pub/sub frame's write may take before its connection is
/// deemed stuck and closed (see `spawn_pubsub_send`).
const STUCK_SEND: Duration = Duration::from_secs(20);
/// How long a dial to an address may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a dial to a known peer may take: ant-quic's ladder tries the
/// address briefly, then coordinated hole punching (rounds through a
/// connected peer as coordinator), then a relay.
const PEER_DIAL_TIMEOUT: Duration = Duration::from_secs(25);
/// How long close() lets QUIC say goodbye before the runtime is dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(750);
/// Inbound frames buffered between the QUIC reader and the dispatcher.
const INBOUND_QUEUE: usize = 8192;
/// Inbound bytes buffered there (each frame charged at least
/// [`crate::inbound_lanes::MIN_CHARGE`]): the frame count alone let 8,192
/// frames of 1.06 MiB wait. The dispatcher drains this queue without
/// waiting, so a full budget only holds the reader back briefly.
const INBOUND_BYTES: usize = 64 * 1024 * 1024;
/// Largest frame accepted from the network: the payload limit plus the
/// envelope and Plumtree's signature overhead, with headroom.
pub const MAX_FRAME_BYTES: usize = crate::MAX_PAYLOAD_BYTES + 64 * 1024;

/// How a connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionPath {
    /// A plain handshake to the peer's address.
    Direct,
    /// Through NATs by a punch: ant-quic's coordinated hole punching (or
    /// port prediction), or, on the accepting side, a connection that came
    /// in through this agent's own NAT (see [`QuicTransport::path_of`]).
    Holepunched,
    /// Through a relay (MASQUE CONNECT-UDP); no direct path.
    Relayed,
}

impl ConnectionPath {
    /// The name the API uses: `direct`, `holepunched` or `relayed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Holepunched => "holepunched",
            Self::Relayed => "relayed",
        }
    }

    fn of(method: TraversalMethod) -> Self {
        match method {
            TraversalMethod::Direct => Self::Direct,
            TraversalMethod::HolePunch | TraversalMethod::PortPrediction => Self::Holepunched,
            TraversalMethod::Relay => Self::Relayed,
        }
    }
}

/// Whether this agent sits behind a NAT: some peer observed it at an address
/// that is none of its own interfaces' (the router's mapping).
fn observed_behind_nat(observed: &[SocketAddr], interfaces: &[IpAddr]) -> bool {
    observed.iter().any(|a| {
        let ip = match a.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        !ip.is_loopback() && !ip.is_unspecified() && !interfaces.contains(&ip)
    })
}

/// What a frame of `len` bytes costs of [`INBOUND_BYTES`]; never more than
/// the budget, which [`MAX_FRAME_BYTES`] is far below.
fn inbound_charge(len: usize) -> u32 {
    len.clamp(crate::inbound_lanes::MIN_CHARGE, INBOUND_BYTES) as u32
}

/// A transport connection change.
#[derive(Debug, Clone)]
pub struct ConnectionEvent {
    /// True for connected, false for disconnected.
    pub connected: bool,
    /// The remote peer.
    pub peer: PeerId,
    /// Remote address, when known.
    pub addr: Option<SocketAddr>,
    /// How the connection was made (connected events only).
    pub path: Option<ConnectionPath>,
    /// Wall clock, ms since the Unix epoch.
    pub at_ms: u64,
}

/// A peer with a live connection.
#[derive(Debug, Clone)]
pub struct ConnectedPeer {
    /// The peer.
    pub peer: PeerId,
    /// Its address on this connection.
    pub addr: Option<SocketAddr>,
    /// How this connection was made.
    pub path: ConnectionPath,
}

/// Where and how the endpoint listens and what it advertises.
#[derive(Debug, Clone, Default)]
pub struct TransportOptions {
    /// Addresses to advertise instead of the ones found (see [`crate::advertise`]).
    pub announce: Vec<SocketAddr>,
    /// Ask the router for a port mapping (UPnP/NAT-PMP via ant-quic).
    pub upnp: bool,
    /// Directory for the persistent bootstrap cache; `None` keeps it in memory.
    pub data_dir: Option<PathBuf>,
}

/// Transport counters.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Frames handed to the dispatcher.
    pub frames_in: AtomicU64,
    /// Frames dropped for being malformed or oversized.
    pub frames_rejected: AtomicU64,
    /// Frames sent successfully.
    pub frames_out: AtomicU64,
    /// Bytes of the frames handed to the dispatcher (QUIC and UDP headers
    /// not included).
    pub bytes_in: AtomicU64,
    /// Bytes of the frames sent successfully (QUIC and UDP headers not
    /// included).
    pub bytes_out: AtomicU64,
    /// Sends that failed.
    pub send_failures: AtomicU64,
    /// SWIM probes (ping and ping-req) sent.
    pub probes_sent: AtomicU64,
    /// Connections that went down.
    pub disconnects: AtomicU64,
    /// ant-quic connection readers that exited (since ant-quic 0.27.45 only
    /// a lost connection ends a reader; a failed stream no longer does).
    pub reader_exits: AtomicU64,
    /// Writes that did not finish within the stuck-send bound; each closed
    /// its connection.
    pub stuck_sends: AtomicU64,
    /// Outgoing connection attempts (each a full PQ handshake).
    pub dials: AtomicU64,
    /// Dials to a peer known by id, through ant-quic's fallback ladder
    /// (direct, then a coordinated punch, then a relay), by how they ended.
    /// Only the dialling side counts here: the punch figures of issue 15.
    pub ladder: LadderOutcomes,
    /// Connections a newer connection to the same peer replaced.
    pub replaced: AtomicU64,
    /// Closed connections by ant-quic's close reason.
    pub closed_by_reason: StdMutex<BTreeMap<String, u64>>,
    /// Connections opened by a plain handshake.
    pub connected_direct: AtomicU64,
    /// Connections opened by hole punching.
    pub connected_holepunched: AtomicU64,
    /// Connections opened through a relay.
    pub connected_relayed: AtomicU64,
    /// Of the hole-punched ones, those ant-quic's coordination made (the
    /// rest came in through this agent's NAT: a coordinated punch or a
    /// simultaneous dial by both sides, which this side cannot tell apart).
    pub punched_by_coordination: AtomicU64,
}

/// How dials through ant-quic's fallback ladder ended (see [`TransportStats::ladder`]).
#[derive(Debug, Default)]
pub struct LadderOutcomes {
    /// Connected at the direct stage.
    pub direct: AtomicU64,
    /// Connected by a coordinated hole punch.
    pub holepunched: AtomicU64,
    /// Connected through a relay.
    pub relayed: AtomicU64,
    /// Every stage failed.
    pub failed: AtomicU64,
    /// The ladder outlived [`PEER_DIAL_TIMEOUT`].
    pub timed_out: AtomicU64,
}

impl LadderOutcomes {
    /// Counts one ladder dial: `outcome` as `timeout(ladder)` gave it.
    fn record<T, E>(&self, outcome: &std::result::Result<std::result::Result<(T, ConnectionMethod), E>, tokio::time::error::Elapsed>) {
        let counter = match outcome {
            Err(_) => &self.timed_out,
            Ok(Err(_)) => &self.failed,
            Ok(Ok((_, ConnectionMethod::DirectIPv4 | ConnectionMethod::DirectIPv6))) => &self.direct,
            Ok(Ok((_, ConnectionMethod::HolePunched { .. }))) => &self.holepunched,
            Ok(Ok((_, ConnectionMethod::Relayed { .. }))) => &self.relayed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

type Inbound = (PeerId, GossipStreamType, Bytes);

/// QUIC transport for one agent.
pub struct QuicTransport {
    node: Arc<Node>,
    peer_id: PeerId,
    local_addr: SocketAddr,
    /// The bound address: the IP asked for, with the port the socket got.
    bound_addr: SocketAddr,
    announce: Vec<SocketAddr>,
    upnp: bool,
    inbound: Mutex<mpsc::Receiver<Inbound>>,
    /// Bytes the inbound queue may still take (see [`INBOUND_BYTES`]).
    inbound_room: Arc<Semaphore>,
    /// Where peers can be dialled: proven addresses and hints (see
    /// [`crate::addr_claims`]).
    addrs: StdMutex<AddrClaims>,
    /// Wakes [`Self::wait_reachable`] whenever `addrs` gains an address.
    addr_learned: Notify,
    blocked: Arc<StdRwLock<HashSet<PeerId>>>,
    /// Bound to a loopback IP: refuse peers from anywhere else. ant-quic
    /// 0.27.44 binds every interface whatever IP it is given, so this is what
    /// keeps a `127.0.0.1` agent private to the machine.
    loopback_only: bool,
    events: broadcast::Sender<ConnectionEvent>,
    outboxes: Outboxes,
    /// One lock per peer being dialled, with how many dial or wait (see
    /// [`Self::dial_turn`]); an entry lives only while someone does.
    dialing: StdMutex<DialLocks>,
    /// Counters readable at any time.
    pub stats: Arc<TransportStats>,
}

fn to_ant(peer: &PeerId) -> ant_quic::PeerId {
    ant_quic::PeerId(peer.to_bytes())
}

fn from_ant(peer: &ant_quic::PeerId) -> PeerId {
    PeerId::new(peer.0)
}

/// A UDP peer address as users write it: an IPv4 peer reached over a
/// dual-stack socket shows as `[::ffff:a.b.c.d]:p` at the socket, and is
/// reported (and compared, and redialled) as `a.b.c.d:p`.
fn udp_addr(addr: &TransportAddr) -> Option<SocketAddr> {
    match addr {
        TransportAddr::Udp(a) => Some(SocketAddr::new(a.ip().to_canonical(), a.port())),
        _ => None,
    }
}

/// Replaces an unspecified host with loopback so the address can be dialled.
pub fn dialable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

impl QuicTransport {
    /// Binds the QUIC endpoint and starts the reader and event tasks on the
    /// current Tokio runtime (the agent's own).
    pub async fn bind(keypair: &AgentKeypair, bind: SocketAddr, options: TransportOptions) -> CoreResult<Arc<Self>> {
        let TransportOptions { announce, upnp, data_dir } = options;
        let pk = MlDsaPublicKey::from_bytes(keypair.public_key())
            .map_err(|e| CoreError::BadKey(format!("public key: {e}")))?;
        let sk = MlDsaSecretKey::from_bytes(keypair.secret_key())
            .map_err(|e| CoreError::BadKey(format!("secret key: {e}")))?;
        // Each agent keeps its own peer cache: the default directory is shared
        // by every node on the host, which leaks peers between unrelated agents.
        let cache = match data_dir {
            Some(dir) => BootstrapCacheConfig::builder()
                .cache_dir(dir.join("bootstrap-cache"))
                .persist(true)
                .build(),
            None => BootstrapCacheConfig::builder().persist(false).build(),
        };
        let config = NodeConfig::builder()
            .bind_addr(bind)
            .keypair(pk, sk)
            // mDNS would auto-connect whatever agents share the LAN; joining is
            // explicit in x0x.
            .mdns_enabled(false)
            .bootstrap_cache(cache)
            .max_message_size(MAX_FRAME_BYTES)
            // ant-quic's defaults (100 streams, 256 queued) stall under gossip
            // bursts; x0x upstream hit the same (its ADR-0004).
            .max_concurrent_uni_streams(1024)
            .data_channel_capacity(4096)
            // ant-quic maps a router port by default; opening a hole in a
            // user's router is the user's call (`upnp`).
            .port_mapping_enabled(upnp)
            .build();
        let node = Node::with_config(config)
            .await
            .map_err(|e| CoreError::network("cannot bind QUIC endpoint", e))?;
        let local_addr = node
            .local_addr()
            .ok_or_else(|| CoreError::Network("QUIC endpoint has no local address".into()))?;
        let node = Arc::new(node);
        let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
        let (events, _) = broadcast::channel(1024);
        let transport = Arc::new(Self {
            peer_id: keypair.peer_id(),
            // ant-quic may report a dual-stack wildcard; peers need the
            // address we were asked to bind, with the port it got.
            local_addr: if bind.ip().is_unspecified() {
                dialable(local_addr)
            } else {
                SocketAddr::new(bind.ip(), local_addr.port())
            },
            bound_addr: SocketAddr::new(bind.ip(), local_addr.port()),
            announce,
            upnp,
            node,
            inbound: Mutex::new(rx),
            inbound_room: Arc::new(Semaphore::new(INBOUND_BYTES)),
            addrs: StdMutex::new(AddrClaims::default()),
            addr_learned: Notify::new(),
            blocked: Arc::new(StdRwLock::new(HashSet::new())),
            loopback_only: bind.ip().is_loopback(),
            events,
            outboxes: Outboxes::new(OUTBOX_BYTES_PER_PEER),
            dialing: StdMutex::new(HashMap::new()),
            stats: Arc::new(TransportStats::default()),
        });
        transport.spawn_reader(tx);
        transport.spawn_acceptor();
        transport.spawn_event_bridge();
        transport.spawn_lifecycle_counter();
        Ok(transport)
    }

    fn spawn_reader(self: &Arc<Self>, tx: mpsc::Sender<Inbound>) {
        let node = Arc::clone(&self.node);
        let room = Arc::clone(&self.inbound_room);
        let stats = Arc::clone(&self.stats);
        let blocked = Arc::clone(&self.blocked);
        tokio::spawn(async move {
            loop {
                let (from, data) = match node.recv().await {
                    Ok(v) => v,
                    Err(e) => {
                        if !node.is_running() {
                            break;
                        }
                        debug!("recv error: {e}");
                        continue;
                    }
                };
                let peer = from_ant(&from);
                if is_blocked(&blocked, &peer) {
                    continue;
                }
                let Some(&kind) = data.first() else {
                    stats.frames_rejected.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let frame_len = data.len();
                // The body is a view of ant-quic's buffer, not a copy of it.
                // Views may be kept (Plumtree's cache), so the buffer must
                // hold no more than the frame: a no-op for ant-quic's
                // exact-size reassembly.
                let mut data = data;
                data.shrink_to_fit();
                let body = Bytes::from(data).slice(1..);
                let Some(kind) = GossipStreamType::from_byte(kind) else {
                    stats.frames_rejected.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                if body.len() > MAX_FRAME_BYTES {
                    stats.frames_rejected.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                stats.frames_in.fetch_add(1, Ordering::Relaxed);
                stats.bytes_in.fetch_add(frame_len as u64, Ordering::Relaxed);
                // Given back by receive_message when the frame leaves the queue.
                match room.acquire_many(inbound_charge(body.len())).await {
                    Ok(permit) => permit.forget(),
                    Err(_) => break,
                }
                if tx.send((peer, kind, body)).await.is_err() {
                    break;
                }
            }
        });
    }

    /// ant-quic queues inbound connections until `accept()` takes them; until
    /// then their frames are not read.
    fn spawn_acceptor(self: &Arc<Self>) {
        let node = Arc::clone(&self.node);
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(conn) = node.accept().await {
                let Some(me) = weak.upgrade() else { break };
                let peer = from_ant(&conn.peer_id);
                let foreign = me.loopback_only
                    && udp_addr(&conn.remote_addr).is_some_and(|a| !a.ip().is_loopback() && !is_mapped_loopback(&a));
                if foreign {
                    me.block(peer).await;
                    continue;
                }
                if me.is_blocked(&peer) {
                    let _ = node.disconnect(&conn.peer_id).await;
                    continue;
                }
                if let Some(addr) = udp_addr(&conn.remote_addr) {
                    me.remember_addr(peer, addr);
                }
            }
        });
    }

    fn spawn_event_bridge(self: &Arc<Self>) {
        let mut rx = self.node.subscribe();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let event = match rx.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!("connection events lagged by {n}");
                        if let Some(me) = weak.upgrade() {
                            me.resync_connected().await;
                        }
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let Some(me) = weak.upgrade() else { break };
                me.on_node_event(event).await;
            }
        });
    }

    fn spawn_lifecycle_counter(self: &Arc<Self>) {
        let mut rx = self.node.subscribe_all_peer_events();
        let stats = Arc::clone(&self.stats);
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok((_, PeerLifecycleEvent::ReaderExited { .. })) => {
                        stats.reader_exits.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((_, PeerLifecycleEvent::Replaced { .. })) => {
                        stats.replaced.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((_, PeerLifecycleEvent::Closed { reason, .. })) => {
                        let name = format!("{reason:?}");
                        let name = name.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("").to_owned();
                        if let Ok(mut m) = stats.closed_by_reason.lock() {
                            *m.entry(name).or_insert(0) += 1;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    /// After missed connection events: the address table's connected peers
    /// are those ant-quic has now (see [`AddrClaims::keep_connected`]).
    async fn resync_connected(&self) {
        let live: HashSet<PeerId> = self.node.connected_peers().await.iter().map(|c| from_ant(&c.peer_id)).collect();
        if let Ok(mut claims) = self.addrs.lock() {
            claims.keep_connected(|p| live.contains(p));
        }
    }

    /// Waits while more than `limit` bytes of pub/sub frames are queued for
    /// sending to peers that are draining them (see [`crate::outbox`]).
    pub async fn wait_for_backlog_below(&self, limit: usize) {
        self.outboxes.wait_below(limit).await;
    }

    /// Pub/sub bytes queued or being written, over all peers.
    pub fn backlog_bytes(&self) -> usize {
        self.outboxes.backlog()
    }

    /// Pub/sub sends that found their peer's outbox budget spent and waited.
    pub fn outbox_waits(&self) -> u64 {
        self.outboxes.waits.load(Ordering::Relaxed)
    }

    /// Local publishes that went ahead of peers that had lagged (taken no
    /// frame for [`crate::outbox::LAG`]) while their frames were queued.
    pub fn publishes_past_lagging(&self) -> u64 {
        self.outboxes.past_lagging.load(Ordering::Relaxed)
    }

    /// Times ant-quic found its shared inbound queue at least 80 % full
    /// (its high-water count) since the endpoint started.
    pub fn inbound_high_water(&self) -> u64 {
        self.node.data_channel_diagnostics().data_tx_high_water_count
    }

    async fn on_node_event(&self, event: NodeEvent) {
        let (connected, peer, addr, path) = match event {
            NodeEvent::PeerConnected { peer_id, addr, method, .. } => {
                let side = self
                    .node
                    .connected_peers()
                    .await
                    .into_iter()
                    .find(|c| c.peer_id == peer_id)
                    .map(|c| c.side);
                (true, from_ant(&peer_id), udp_addr(&addr), Some(self.path_of(method, side)))
            }
            NodeEvent::PeerDisconnected { peer_id, .. } => (false, from_ant(&peer_id), None, None),
            _ => return,
        };
        if !connected {
            self.stats.disconnects.fetch_add(1, Ordering::Relaxed);
            self.outboxes.forget(&peer);
            // A superseded connection can close after its successor opened.
            if !self.node.is_connected(&to_ant(&peer)).await {
                if let Ok(mut claims) = self.addrs.lock() {
                    claims.disconnected(&peer);
                }
            }
        }
        let foreign = self.loopback_only
            && addr.is_some_and(|a| !a.ip().is_loopback() && !is_mapped_loopback(&a));
        if connected && foreign {
            self.block(peer).await;
            return;
        }
        if connected && self.is_blocked(&peer) {
            let _ = self.node.disconnect(&to_ant(&peer)).await;
            return;
        }
        let addr = match addr {
            Some(a) => {
                self.remember_addr(peer, a);
                Some(a)
            }
            None => {
                if connected {
                    if let Ok(mut claims) = self.addrs.lock() {
                        claims.connected(peer, None, now_ms(), Instant::now());
                    }
                }
                self.peer_addr(&peer)
            }
        };
        if let Some(path) = path {
            let counter = match path {
                ConnectionPath::Direct => &self.stats.connected_direct,
                ConnectionPath::Holepunched => &self.stats.connected_holepunched,
                ConnectionPath::Relayed => &self.stats.connected_relayed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if connected && path == Some(ConnectionPath::Holepunched) && self.last_method_was_coordinated(&peer).await {
            self.stats.punched_by_coordination.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.events.send(ConnectionEvent { connected, peer, addr, path, at_ms: now_ms() });
    }

    /// Takes `claimant`'s word that `peer` is at `addr`, as a hint only
    /// (see [`crate::addr_claims`]): tried after any proven address, and
    /// dropped when a dial to it fails.
    pub fn learn_hint(&self, peer: PeerId, addr: SocketAddr, claimant: PeerId) {
        if peer == self.peer_id || self.is_blocked(&peer) || !self.worth_dialling(&addr) {
            return;
        }
        let kept = self.addrs.lock().is_ok_and(|mut c| c.hint(peer, addr, claimant, Instant::now()));
        if kept {
            self.addr_learned.notify_waiters();
        }
    }

    /// Takes a verified address record (signed by the agent it describes)
    /// as proof of that agent's addresses, unless a newer proof is held.
    pub fn learn_record(&self, record: &AddrRecord) {
        let peer = PeerId::new(record.agent_id);
        if peer == self.peer_id || self.is_blocked(&peer) {
            return;
        }
        let addrs: Vec<SocketAddr> = record.addrs.iter().copied().filter(|a| self.worth_dialling(a)).collect();
        let kept = self.addrs.lock().is_ok_and(|mut c| {
            c.signed(peer, &addrs, record.issued_at_ms, record.expires_at_ms, now_ms(), Instant::now())
        });
        if kept {
            self.addr_learned.notify_waiters();
        }
    }

    /// False for addresses no dial should go to: port 0, a wildcard, and,
    /// for an agent bound to loopback, anything off this machine.
    fn worth_dialling(&self, addr: &SocketAddr) -> bool {
        let local = addr.ip().is_loopback() || is_mapped_loopback(addr);
        addr.port() != 0 && !addr.ip().is_unspecified() && (local || !self.loopback_only)
    }

    /// A connection with `peer` from `addr`: proof of the address.
    fn remember_addr(&self, peer: PeerId, addr: SocketAddr) {
        if let Ok(mut claims) = self.addrs.lock() {
            claims.connected(peer, Some(addr), now_ms(), Instant::now());
        }
        self.addr_learned.notify_waiters();
    }

    /// Counters of the address table, with its size.
    pub fn addr_stats(&self) -> AddrClaimStats {
        self.addrs.lock().map(|c| c.stats()).unwrap_or_default()
    }

    /// Every address `peer` would be dialled at: proven ones, then hints.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn addr_candidates(&self, peer: &PeerId) -> Vec<SocketAddr> {
        let Ok(claims) = self.addrs.lock() else { return Vec::new() };
        let (proven, hints) = claims.candidates(peer, Instant::now());
        proven.into_iter().chain(hints).collect()
    }

    /// Waits until `peer` is connected or has a known address, at most
    /// `timeout`; true when it can be reached.
    pub async fn wait_reachable(&self, peer: &PeerId, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so an address learned in between
            // still wakes us.
            let learned = self.addr_learned.notified();
            tokio::pin!(learned);
            learned.as_mut().enable();
            if self.peer_addr(peer).is_some() || self.is_connected(peer).await {
                return true;
            }
            if tokio::time::timeout_at(deadline, learned).await.is_err() {
                return false;
            }
        }
    }

    /// True while a QUIC connection to `peer` is open.
    pub async fn is_connected(&self, peer: &PeerId) -> bool {
        self.node.is_connected(&to_ant(peer)).await
    }

    /// True when a frame for `peer` can go out now without a dial: what
    /// ant-quic's `send` looks up. Not [`Self::is_connected`], which also
    /// wants the peer in the endpoint's peer table: a dialer starts reading
    /// a new connection before it files the peer there, so a request that
    /// arrives at once (the acceptor's anti-entropy session, say) would be
    /// answered with a dial, and by address the peer is not yet known.
    fn can_send(&self, peer: &PeerId) -> bool {
        matches!(
            self.node.inner_endpoint().get_quic_connection(&to_ant(peer)),
            Ok(Some(c)) if c.close_reason().is_none()
        )
    }

    /// The address peers on this machine can dial (wildcard hosts replaced
    /// by loopback).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound address as asked for (a wildcard stays a wildcard), with
    /// the port the socket got.
    pub fn bound_addr(&self) -> SocketAddr {
        self.bound_addr
    }

    /// What this agent tells others to dial, now (see [`crate::advertise`]):
    /// recomputed on each call, since interfaces change and the address
    /// peers observe is learned after the first connection.
    pub fn advertised_addrs(&self) -> Vec<SocketAddr> {
        let wildcard = self.announce.is_empty() && self.bound_addr.ip().is_unspecified();
        let (interfaces, observed) = if wildcard {
            (crate::advertise::interface_ips(), self.node.inner_endpoint().all_external_addrs())
        } else {
            (Vec::new(), Vec::new())
        };
        crate::advertise::choose(self.bound_addr, &self.announce, &interfaces, &observed)
    }

    /// How a connection came about. ant-quic names its coordinated punches
    /// and relays; but a connection a NAT let in on the accepting side is
    /// reported `Direct`, though a home router only lets an unsolicited
    /// handshake through once a punch (coordinated, or both sides dialling
    /// at once) has opened it. So an accepted connection of an agent behind
    /// a NAT counts as punched, unless the agent announced its addresses
    /// (a port forward) or has a UPnP mapping, where inbound is plain.
    fn path_of(&self, method: TraversalMethod, side: Option<ant_quic::Side>) -> ConnectionPath {
        let path = ConnectionPath::of(method);
        let accepted = side.is_some_and(|s| s.is_server());
        if path == ConnectionPath::Direct && accepted && self.announce.is_empty() && !self.upnp && self.behind_nat() {
            return ConnectionPath::Holepunched;
        }
        path
    }

    /// True when a peer observed this agent at an address none of its
    /// interfaces has.
    fn behind_nat(&self) -> bool {
        let observed = self.node.inner_endpoint().all_external_addrs();
        !observed.is_empty() && observed_behind_nat(&observed, &crate::advertise::interface_ips())
    }

    async fn last_method_was_coordinated(&self, peer: &PeerId) -> bool {
        let ant = to_ant(peer);
        self.node.connected_peers().await.iter().any(|c| {
            c.peer_id == ant && matches!(c.traversal_method, TraversalMethod::HolePunch | TraversalMethod::PortPrediction)
        })
    }

    /// True when `addr` is one of this agent's own addresses (so a seed
    /// list that names it is not dialled).
    pub fn is_own_addr(&self, addr: &SocketAddr) -> bool {
        *addr == self.local_addr || *addr == self.bound_addr || self.advertised_addrs().contains(addr)
    }

    /// Live connection events.
    pub fn subscribe_events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.events.subscribe()
    }

    /// Best known address of a peer: proven if any, else the newest hint.
    pub fn peer_addr(&self, peer: &PeerId) -> Option<SocketAddr> {
        self.addrs.lock().ok().and_then(|c| c.best(peer, Instant::now()))
    }

    /// Peers with a live QUIC connection, with their addresses.
    pub async fn connected(&self) -> Vec<(PeerId, Option<SocketAddr>)> {
        self.connected_paths().await.into_iter().map(|c| (c.peer, c.addr)).collect()
    }

    /// Peers with a live QUIC connection, with address and how it was made.
    pub async fn connected_paths(&self) -> Vec<ConnectedPeer> {
        self.node
            .connected_peers()
            .await
            .into_iter()
            .map(|c| ConnectedPeer {
                peer: from_ant(&c.peer_id),
                addr: udp_addr(&c.remote_addr),
                path: self.path_of(c.traversal_method, Some(c.side)),
            })
            .filter(|c| !self.is_blocked(&c.peer))
            .collect()
    }

    /// Refuses all traffic with `peer` from now on and drops any connection.
    pub async fn block(&self, peer: PeerId) {
        if let Ok(mut b) = self.blocked.write() {
            b.insert(peer);
        }
        if let Ok(mut claims) = self.addrs.lock() {
            claims.forget(&peer);
        }
        let _ = self.node.disconnect(&to_ant(&peer)).await;
    }

    /// Lifts a [`Self::block`].
    pub fn unblock(&self, peer: &PeerId) {
        if let Ok(mut b) = self.blocked.write() {
            b.remove(peer);
        }
    }

    /// True when `peer` is blocked.
    pub fn is_blocked(&self, peer: &PeerId) -> bool {
        is_blocked(&self.blocked, peer)
    }

    /// Closes every connection and releases the UDP socket.
    pub async fn shutdown(&self) {
        // ant-quic's own shutdown joins its workers and releases the socket,
        // but bounds each phase separately and no longer the whole (about
        // 22 s in the worst case, with dead peers). close() must stay fast,
        // so it gets a grace period; the agent's runtime is dropped right
        // after, which ends whatever is left and closes the socket.
        match tokio::time::timeout(SHUTDOWN_GRACE, self.node.inner_endpoint().try_shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => debug!("QUIC endpoint shutdown: {e}"),
            Err(_) => debug!("QUIC endpoint shutdown still draining after {SHUTDOWN_GRACE:?}; dropping it"),
        }
    }

    /// Sends one frame and waits until the peer's reader has taken it (an
    /// ant-quic receive ACK), or `timeout`. Plain sends are fire-and-forget:
    /// a frame sent right before [`Self::shutdown`] can die with the
    /// connection, which is what a goodbye must not do.
    pub async fn send_acked(&self, peer: PeerId, stream: GossipStreamType, data: &[u8], timeout: Duration) -> Result<()> {
        if self.is_blocked(&peer) {
            return Err(anyhow!("peer {peer} is blocked"));
        }
        let mut frame = Vec::with_capacity(1 + data.len());
        frame.push(stream.to_byte());
        frame.extend_from_slice(data);
        self.node
            .send_with_receive_ack(&to_ant(&peer), &frame, timeout)
            .await
            .map_err(|e| anyhow!("acknowledged send to {peer} failed: {e}"))?;
        self.stats.frames_out.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_out.fetch_add(frame.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// True until [`Self::shutdown`].
    pub fn is_running(&self) -> bool {
        self.node.is_running()
    }

    async fn connect(&self, addr: SocketAddr) -> Result<PeerId> {
        self.stats.dials.fetch_add(1, Ordering::Relaxed);
        let conn = tokio::time::timeout(DIAL_TIMEOUT, self.node.connect_addr(addr))
            .await
            .map_err(|_| anyhow!("dial {addr} timed out"))?
            .map_err(|e| anyhow!("dial {addr} failed: {e}"))?;
        let peer = from_ant(&conn.peer_id);
        if self.is_blocked(&peer) {
            let _ = self.node.disconnect(&conn.peer_id).await;
            return Err(anyhow!("peer at {addr} is blocked"));
        }
        self.remember_addr(peer, addr);
        Ok(peer)
    }

    /// Dials a peer whose id is known. Through ant-quic's fallback ladder
    /// rather than `connect_addr`: an address-only dial cannot hole-punch
    /// (the coordinator must be told whom to reach), and behind a NAT the
    /// address peers gave us is the router's, which drops unsolicited
    /// packets. The ladder's direct stage stays short when a punch is
    /// possible, so a reachable address still connects at once.
    async fn connect_peer_at(&self, peer: PeerId, addr: SocketAddr) -> Result<PeerId> {
        self.stats.dials.fetch_add(1, Ordering::Relaxed);
        let (v4, v6) = if addr.is_ipv4() { (Some(addr), None) } else { (None, Some(addr)) };
        let dial = self.node.inner_endpoint().connect_with_fallback(v4, v6, None, Some(to_ant(&peer)));
        let outcome = tokio::time::timeout(PEER_DIAL_TIMEOUT, dial).await;
        self.stats.ladder.record(&outcome);
        let (conn, _) = outcome
            .map_err(|_| anyhow!("dial {peer} at {addr} timed out"))?
            .map_err(|e| anyhow!("dial {peer} at {addr} failed: {e}"))?;
        let got = from_ant(&conn.peer_id);
        if self.is_blocked(&got) {
            let _ = self.node.disconnect(&conn.peer_id).await;
            return Err(anyhow!("peer at {addr} is blocked"));
        }
        if let Some(a) = udp_addr(&conn.remote_addr) {
            self.remember_addr(got, a);
        }
        Ok(got)
    }
}

/// A dial in a race of several (see [`first_ok`]).
type Dial<'a> = Pin<Box<dyn Future<Output = (SocketAddr, Result<()>)> + Send + 'a>>;

/// Runs `dials` at once until one succeeds; otherwise every failure.
/// Dropping the rest when one wins cancels them.
async fn first_ok(mut dials: Vec<Dial<'_>>) -> std::result::Result<(), Vec<(SocketAddr, anyhow::Error)>> {
    let mut failed = Vec::new();
    std::future::poll_fn(|cx| {
        let mut i = 0;
        while i < dials.len() {
            match dials[i].as_mut().poll(cx) {
                Poll::Ready((_, Ok(()))) => return Poll::Ready(Ok(())),
                Poll::Ready((addr, Err(e))) => {
                    failed.push((addr, e));
                    drop(dials.swap_remove(i));
                }
                Poll::Pending => i += 1,
            }
        }
        if dials.is_empty() {
            Poll::Ready(Err(std::mem::take(&mut failed)))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Per peer: its dial lock, and how many hold or wait for it.
type DialLocks = HashMap<PeerId, (Arc<Mutex<()>>, usize)>;

/// A turn to dial one peer, or a place in the queue for it (see
/// [`QuicTransport::dial_turn`]). Dropping it, also while still waiting
/// (a caller's timeout), lets the next waiter dial and removes the peer's
/// lock once nobody holds or waits for it.
struct DialTurn<'a> {
    dialing: &'a StdMutex<DialLocks>,
    peer: PeerId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for DialTurn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let Ok(mut map) = self.dialing.lock() else { return };
        if let Some((_, users)) = map.get_mut(&self.peer) {
            *users = users.saturating_sub(1);
            if *users == 0 {
                map.remove(&self.peer);
            }
        }
    }
}

impl QuicTransport {
    /// Waits for the turn to dial `peer`. One dial per peer at a time: every
    /// send to a peer whose connection just dropped would otherwise dial it,
    /// each a full PQ handshake. (Since ant-quic 0.27.58 the extra
    /// connections no longer take the frames in flight down with them; they
    /// still cost the handshakes.) The lock map holds only peers being
    /// dialled, so ids a remote peer makes us dial do not pile up in it.
    async fn dial_turn(&self, peer: PeerId) -> Result<DialTurn<'_>> {
        let lock = {
            let mut map = self.dialing.lock().map_err(|_| anyhow!("dial table poisoned"))?;
            let (lock, users) = map.entry(peer).or_insert_with(|| (Arc::default(), 0));
            *users += 1;
            Arc::clone(lock)
        };
        // Counted before the wait, so a wait given up still uncounts.
        let mut turn = DialTurn { dialing: &self.dialing, peer, guard: None };
        turn.guard = Some(lock.lock_owned().await);
        Ok(turn)
    }

    /// Peers with a dial lock now (a test hook's window on the dial map).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn dialing_len(&self) -> usize {
        self.dialing.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Dials `peer` at `addr` and checks who answered.
    async fn connect_expecting(&self, peer: PeerId, addr: SocketAddr) -> Result<()> {
        let got = self.connect_peer_at(peer, addr).await?;
        if got != peer {
            return Err(anyhow!("dialled {addr} expecting {peer} but reached {got}"));
        }
        Ok(())
    }

    /// Connects to `peer` at whatever addresses are known: its proven ones
    /// first, and only if none answers, all hints at once, so a lying
    /// claimant's address costs no wait when an honest hint is there. A
    /// hint that fails is dropped.
    async fn reconnect(&self, peer: PeerId) -> Result<()> {
        let _turn = self.dial_turn(peer).await?;
        if self.can_send(&peer) {
            return Ok(());
        }
        let (proven, hints) = self
            .addrs
            .lock()
            .map(|c| c.candidates(&peer, Instant::now()))
            .map_err(|_| anyhow!("address table poisoned"))?;
        if proven.is_empty() && hints.is_empty() {
            return Err(anyhow!("peer {peer} not connected and address unknown"));
        }
        let mut errors = Vec::new();
        for (addrs, are_hints) in [(proven, false), (hints, true)] {
            if addrs.is_empty() {
                continue;
            }
            let dials: Vec<Dial<'_>> = addrs
                .into_iter()
                .map(|a| Box::pin(async move { (a, self.connect_expecting(peer, a).await) }) as Dial<'_>)
                .collect();
            match first_ok(dials).await {
                Ok(()) => return Ok(()),
                Err(failed) => {
                    if are_hints {
                        if let Ok(mut claims) = self.addrs.lock() {
                            for (addr, _) in &failed {
                                claims.dial_failed(&peer, *addr);
                            }
                        }
                    }
                    errors.extend(failed.into_iter().map(|(_, e)| e.to_string()));
                }
            }
        }
        Err(anyhow!("cannot reach {peer}: {}", errors.join("; ")))
    }
}

fn is_mapped_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        IpAddr::V4(_) => false,
    }
}

fn is_probe(data: &[u8]) -> bool {
    use saorsa_gossip_membership::{MembershipProtocolMessage, SwimMessage};
    matches!(
        postcard::from_bytes::<MembershipProtocolMessage>(data),
        Ok(MembershipProtocolMessage::Swim(SwimMessage::Ping | SwimMessage::PingReq { .. }))
    )
}

/// Writes one pub/sub frame on a task of its own, so that the send completes
/// for its caller once queued. Plumtree 0.5.90 admits one Data send in
/// flight per peer and priority lane, and skips (for Critical: drops and
/// counts as a hard error) a forward that finds the lane busy; a send that
/// awaited the QUIC write would hold that lane for the write's duration and
/// lose every frame published meanwhile. The outbox budget (see
/// [`crate::outbox`]) bounds what this queues, and a write that makes no
/// progress for [`STUCK_SEND`] closes its connection: a peer that stops
/// reading must not pin its budget, and with it every local publish.
fn spawn_pubsub_send(
    node: Arc<Node>,
    stats: Arc<TransportStats>,
    peer: PeerId,
    frame: Vec<u8>,
    permit: OutboxPermit,
) {
    tokio::spawn(async move {
        let ant = to_ant(&peer);
        let result = match tokio::time::timeout(STUCK_SEND, node.send(&ant, &frame)).await {
            Ok(r) => r.map_err(|e| anyhow!("send to {peer} failed: {e}")),
            Err(_) => {
                stats.stuck_sends.fetch_add(1, Ordering::Relaxed);
                let _ = node.disconnect(&ant).await;
                Err(anyhow!("send to {peer} stuck for {STUCK_SEND:?}; connection closed"))
            }
        };
        drop(permit);
        count_send(&stats, &result, frame.len());
    });
}

fn count_send(stats: &TransportStats, result: &Result<()>, bytes: usize) {
    if result.is_ok() {
        stats.frames_out.fetch_add(1, Ordering::Relaxed);
        stats.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    } else {
        stats.send_failures.fetch_add(1, Ordering::Relaxed);
    }
}

fn is_blocked(blocked: &StdRwLock<HashSet<PeerId>>, peer: &PeerId) -> bool {
    blocked.read().map(|b| b.contains(peer)).unwrap_or(false)
}

#[async_trait::async_trait]
impl GossipTransport for QuicTransport {
    async fn dial(&self, peer: PeerId, addr: SocketAddr) -> Result<()> {
        if self.node.is_connected(&to_ant(&peer)).await {
            return Ok(());
        }
        let _turn = self.dial_turn(peer).await?;
        if self.node.is_connected(&to_ant(&peer)).await {
            return Ok(());
        }
        self.connect_expecting(peer, addr).await
    }

    async fn dial_bootstrap(&self, addr: SocketAddr) -> Result<PeerId> {
        self.connect(addr).await
    }

    async fn listen(&self, _bind: SocketAddr) -> Result<()> {
        // The endpoint listens from the moment it is bound.
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        for conn in self.node.connected_peers().await {
            let _ = self.node.disconnect(&conn.peer_id).await;
        }
        Ok(())
    }

    async fn send_to_peer(&self, peer: PeerId, stream: GossipStreamType, data: Bytes) -> Result<()> {
        if self.is_blocked(&peer) {
            return Err(anyhow!("peer {peer} is blocked"));
        }
        let ant = to_ant(&peer);
        if !self.can_send(&peer) {
            // The peer may have dropped an idle connection, or be known so
            // far only by id (from membership) and hints.
            self.reconnect(peer).await?;
        }
        if stream == GossipStreamType::Membership && is_probe(&data) {
            self.stats.probes_sent.fetch_add(1, Ordering::Relaxed);
        }
        let mut frame = Vec::with_capacity(1 + data.len());
        frame.push(stream.to_byte());
        frame.extend_from_slice(&data);
        if stream == GossipStreamType::PubSub {
            // Taken before the frame is handed over: waiting here is the only
            // backpressure, and giving up here (a caller's timeout) costs
            // nothing on the wire.
            let permit = self.outboxes.reserve(peer, frame.len()).await?;
            spawn_pubsub_send(Arc::clone(&self.node), Arc::clone(&self.stats), peer, frame, permit);
            return Ok(());
        }
        // Membership and bulk frames are written in place. Since ant-quic
        // 0.27.45 a write given up at the timeout resets only its own stream,
        // not the connection, so nothing else is lost with it.
        let result = match tokio::time::timeout(SEND_TIMEOUT, self.node.send(&ant, &frame)).await {
            Ok(r) => r.map_err(|e| anyhow!("send to {peer} failed: {e}")),
            Err(_) => Err(anyhow!("send to {peer} timed out after {SEND_TIMEOUT:?}")),
        };
        count_send(&self.stats, &result, frame.len());
        result
    }

    async fn receive_message(&self) -> Result<Inbound> {
        let frame = self
            .inbound
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| anyhow!("transport closed"))?;
        self.inbound_room.add_permits(inbound_charge(frame.2.len()) as usize);
        Ok(frame)
    }

    async fn connected_peer_ids(&self) -> Vec<PeerId> {
        self.connected().await.into_iter().map(|(p, _)| p).collect()
    }

    fn local_peer_id(&self) -> PeerId {
        self.peer_id
    }
}

#[cfg(test)]
mod nat_tests {
    use super::observed_behind_nat;

    #[test]
    fn behind_a_nat_only_when_observed_at_a_foreign_address() {
        let ifaces = ["100.100.1.2".parse().unwrap()];
        assert!(observed_behind_nat(&["[::ffff:100.64.0.2]:4000".parse().unwrap()], &ifaces));
        assert!(!observed_behind_nat(&["100.100.1.2:4000".parse().unwrap()], &ifaces));
        assert!(!observed_behind_nat(&["127.0.0.1:4000".parse().unwrap()], &ifaces));
        assert!(!observed_behind_nat(&[], &ifaces));
    }
}
