/**
 * The QUIC transport underneath an agent: addresses, connections and their
 * events.
 *
 * @module
 */

import type { AgentCore } from './agent-core.js';
import { badAgentId } from './arg-errors.js';
import { callNative, callNativeSync } from './errors.js';
import type { LaggedEvent } from './events.js';
import { type AgentId, isAgentId } from './identity.js';
import type { NativeConnection, NativeConnectionEvent, NativeLagged } from './native.js';

/** A peer and its address. */
export interface PeerInfo {
  /** The peer's id (its agent id). */
  readonly peerId: AgentId;
  /** The peer's address as `"ip:port"`. */
  readonly addr: string;
}

/**
 * How a connection was made, as ant-quic reports it:
 * - `direct`: a plain QUIC handshake to the peer's address (either side
 *   dialled; on a LAN or to a public node);
 * - `holepunched`: through NATs by a punch: ant-quic's coordinated hole
 *   punching (a connected agent, e.g. a public node, as coordinator), or,
 *   on the accepting side, a connection that came in through this agent's
 *   own NAT, which a home router only lets in once a punch (coordinated, or
 *   both sides dialling at once) opened it. An agent with announce addresses
 *   or UPnP counts inbound connections as `direct`;
 * - `relayed`: through a relay, with no direct path.
 */
export type ConnectionPath = 'direct' | 'holepunched' | 'relayed';

/** A peer with an open QUIC connection. */
export interface ConnectedPeer extends PeerInfo {
  /** How this connection was made. */
  readonly path: ConnectionPath;
}

/** Connections opened since the agent started, by how each was made. */
export interface TransportStats {
  /** Plain handshakes. */
  readonly direct: number;
  /** Punched through NATs (see {@link ConnectionPath}). */
  readonly holepunched: number;
  /** Through a relay. */
  readonly relayed: number;
  /**
   * Of `holepunched`, those ant-quic's coordination made, as the dialling
   * side sees it. The others were accepted through this agent's own NAT:
   * opened by a punch the other side coordinated, or by both sides dialling
   * at once; this side cannot tell which.
   */
  readonly holepunchedByCoordination: number;
}

/**
 * A connection opening or closing.
 *
 * @example
 * ```ts
 * for await (const event of agent.transport.events()) {
 *   if (event.type === 'connected') console.log('up', event.peerId, event.addr);
 * }
 * ```
 */
export interface ConnectionChange {
  /** Whether the connection opened or closed. */
  readonly type: 'connected' | 'disconnected';
  /** The remote peer's id (its agent id). */
  readonly peerId: AgentId;
  /** The remote address as `"ip:port"`, when known. */
  readonly addr?: string;
  /** How the connection was made (`connected` events only). */
  readonly path?: ConnectionPath;
  /** When it happened, in milliseconds since the epoch. */
  readonly at: number;
}

/**
 * What `transport.events()` yields: a {@link ConnectionChange}, or a
 * {@link LaggedEvent} when the reader fell behind and older events were
 * dropped.
 */
export type ConnectionEvent = ConnectionChange | LaggedEvent;

/** Options of {@link TransportAdapter.events}. */
export interface EventsOptions {
  /** Aborting ends the iterator: the pending `next()` rejects with `AbortError`. */
  readonly signal?: AbortSignal | undefined;
}

function checkPeerId(peerId: unknown): asserts peerId is AgentId {
  if (!isAgentId(peerId)) throw badAgentId('peerId', peerId);
}

function toConnected(native: NativeConnection): ConnectedPeer {
  return { peerId: native.peerId, addr: native.addr, path: native.path };
}

function toEvent(native: Exclude<NativeConnectionEvent, NativeLagged>): ConnectionChange {
  const base = {
    type: native.type,
    peerId: native.peerId,
    at: native.at,
    ...(native.type === 'connected' ? { path: native.path } : {}),
  };
  return native.addr === undefined ? base : { ...base, addr: native.addr };
}

let create: (core: AgentCore) => TransportAdapter;

/**
 * The transport of one agent, reachable as `agent.transport`. Every member
 * except {@link TransportAdapter.localPeerId} fails with `ClosedError` once
 * the agent is closed.
 */
export class TransportAdapter {
  static {
    create = (core) => new TransportAdapter(core);
  }

  readonly #core: AgentCore;

  private constructor(core: AgentCore) {
    this.#core = core;
  }

  /**
   * This node's transport peer id. Transport and gossip derive the id from
   * the same key, so it equals `agent.agentId`.
   */
  get localPeerId(): AgentId {
    return this.#core.native.agentId;
  }

  /**
   * Addresses the QUIC endpoint is bound to, as `"ip:port"`, exactly as
   * bound: a wildcard bind stays `0.0.0.0:port` or `[::]:port`. What other
   * agents are told to dial is {@link TransportAdapter.advertisedAddrs}.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  get listenAddrs(): string[] {
    const native = this.#core.use();
    return callNativeSync(() => native.listenAddrs());
  }

  /**
   * Addresses this agent advertises, as `"ip:port"`, worked out on each
   * read; every signed record it makes (presence beacons, coordinator
   * adverts, rendezvous registrations, FOAF answers) carries this list.
   * - With `withAnnounceAddrs([...])`: exactly those.
   * - Bound to a specific IP: that IP with the bound port.
   * - Bound to a wildcard (`0.0.0.0`, `[::]`): the machine's interface
   *   addresses with the bound port, without loopback and link-local ones
   *   (IPv4 only for `0.0.0.0`), followed by the addresses peers observed
   *   this agent at (QUIC address discovery; behind a NAT, the router's
   *   public mapping) once a connection has told it. A machine with only
   *   loopback advertises loopback.
   * At most 16 addresses.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  get advertisedAddrs(): string[] {
    const native = this.#core.use();
    return callNativeSync(() => native.advertisedAddrs());
  }

  /**
   * Peers with an open connection right now, each with how it was made.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async connectedPeers(): Promise<ConnectedPeer[]> {
    const native = this.#core.use();
    const peers = await callNative(() => native.connections());
    return peers.map(toConnected);
  }

  /**
   * Connections opened since the agent started, by how each was made
   * ({@link ConnectionPath}).
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  stats(): TransportStats {
    const native = this.#core.use();
    return Object.freeze({ ...callNativeSync(() => native.connectionCounts()) });
  }

  /**
   * Refuses all traffic with a peer from now on: its connection is dropped,
   * its frames are discarded and nothing is sent to it. Gossip between the
   * two then flows only through other agents. Use it to shut out a
   * misbehaving peer. The block lasts until {@link TransportAdapter.unblockPeer}
   * or the agent closes; it is not persisted.
   * @param peerId - the peer's agent id, 64 lowercase hex characters
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `peerId` is not a string; (`ERR_INVALID_ARG_VALUE`)
   *   when it is not 64 lowercase hex characters
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async blockPeer(peerId: AgentId): Promise<void> {
    const native = this.#core.use();
    checkPeerId(peerId);
    await callNative(() => native.blockPeer(peerId));
  }

  /**
   * Lifts {@link TransportAdapter.blockPeer}; the peer may connect again.
   * A peer that is not blocked is a no-op.
   * @param peerId - the peer's agent id, 64 lowercase hex characters
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `peerId` is not a string; (`ERR_INVALID_ARG_VALUE`)
   *   when it is not 64 lowercase hex characters
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  unblockPeer(peerId: AgentId): void {
    const native = this.#core.use();
    checkPeerId(peerId);
    callNativeSync(() => native.unblockPeer(peerId));
  }

  /**
   * Connection events from now on, until the agent closes, the loop is left
   * or `options.signal` aborts. Each call is its own stream; a reader that
   * falls behind gets a {@link LaggedEvent} in place of what it lost.
   * @param options - aborting `signal` ends the stream
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  events(options?: EventsOptions): AsyncIterableIterator<ConnectionEvent> {
    return this.#core.openEvents((native) => native.connectionEvents(), toEvent, options);
  }
}

/**
 * Creates the transport view of an agent.
 *
 * @internal
 */
export function createTransport(core: AgentCore): TransportAdapter {
  return create(core);
}
