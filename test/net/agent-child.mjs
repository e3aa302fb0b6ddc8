// One x0x agent in its own Node process, driven over the IPC channel by
// test/net/harness.ts. Plain ESM over the built package (`npm run build:ts`),
// so the tests exercise what users import.
//
// Protocol (parent -> child):   { id, cmd, args }
//           (child -> parent):  { id, ok: true, result } | { id, ok: false, error: { code, message } }
// Unsolicited events (child -> parent), in the order they happened:
//   { event: 'message', handle, topic, from, id, publishedAt, receivedAt,
//     payloadLen, payloadSha, payloadB64? }   payloadB64 only up to INLINE_PAYLOAD_BYTES
//   { event: 'subscriptionEnd', handle, error? }
//   { event: 'connection', type, peerId, addr?, at }
//   { event: 'membership', type, peerId, addr, reason?, at }
//
// IPC preserves order, so every event sent before a reply reaches the parent
// before that reply does.
//
// The child never exits on its own initiative: `close` closes the agent,
// replies and drops the IPC channel; the process must then end because
// nothing is left on the event loop. The tests rely on that to detect native
// handles that outlive `Agent.close()`.
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

import {
  Agent,
  COORDINATORS_TOPIC,
  MAX_PAYLOAD_BYTES,
  MAX_TOPIC_BYTES,
  verifyCoordinatorAdvert,
} from '../../dist/esm/index.mjs';

// Forged records need a second signing key; the package offers none on
// purpose, so the child takes it from the addon directly.
const { NativeKeypair } = createRequire(import.meta.url)('../../native/index.cjs');
const COORDINATOR_KIND = 2;

// Test hooks (forged and repeated frames) live in test code, not in the
// package; the frame hooks work only when the harness started this child on
// the test addon (spawnAgent({ hooks: true })).
const testing = createRequire(import.meta.url)('../helpers/hooks.cjs');

/** Payloads up to this size travel over IPC; bigger ones only as length + sha256. */
const INLINE_PAYLOAD_BYTES = 4096;

/** @type {import('../../dist/cjs/index.js').Agent | undefined} */
let agent;
/** @type {Map<number, import('../../dist/cjs/index.js').Subscription>} */
const subscriptions = new Map();
let nextHandle = 1;

function send(message) {
  // After disconnect (the parent went away, or close() finished) there is no one to tell.
  if (process.connected) process.send(message);
}

function errorInfo(err) {
  if (err instanceof Error) {
    const code = typeof err.code === 'string' ? err.code : err.name;
    return { code, message: err.message };
  }
  return { code: 'ERR_CHILD_NON_ERROR', message: String(err) };
}

function requireAgent() {
  if (agent === undefined) {
    const err = new Error('start() has not been called');
    err.code = 'ERR_CHILD_NOT_STARTED';
    throw err;
  }
  return agent;
}

function payloadOf(spec) {
  if (typeof spec?.text === 'string') return spec.text;
  if (Number.isInteger(spec?.zeros)) return new Uint8Array(spec.zeros);
  if (Number.isInteger(spec?.random)) return new Uint8Array(randomBytes(spec.random));
  if (typeof spec?.bytesB64 === 'string') return new Uint8Array(Buffer.from(spec.bytesB64, 'base64'));
  throw new TypeError(`publish payload must be {text}, {zeros}, {random} or {bytesB64}, got ${JSON.stringify(spec)}`);
}

async function pump(handle, subscription) {
  let error;
  try {
    for await (const msg of subscription) {
      const bytes = Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength);
      send({
        event: 'message',
        handle,
        topic: msg.topic,
        from: msg.from,
        id: msg.id,
        publishedAt: msg.publishedAt,
        receivedAt: msg.receivedAt,
        payloadLen: bytes.length,
        payloadSha: createHash('sha256').update(bytes).digest('hex'),
        ...(bytes.length <= INLINE_PAYLOAD_BYTES ? { payloadB64: bytes.toString('base64') } : {}),
      });
    }
  } catch (err) {
    error = errorInfo(err);
  } finally {
    subscriptions.delete(handle);
  }
  send({ event: 'subscriptionEnd', handle, ...(error ? { error } : {}) });
}

async function pumpPresence(events) {
  try {
    for await (const event of events) send({ event: 'presence', ...event });
  } catch {
    // Ends with the agent; nothing to report.
  }
}

function advertBody(addrs) {
  return Buffer.from(JSON.stringify({ addrs }), 'utf8');
}

/** Record wire format v1 (x0x_core::records::codec), written out independently. */
function encodeRecord({ kind, signer, timestamp, expiresAt, body, publicKey, signature }) {
  const head = Buffer.alloc(52);
  head[0] = 1;
  head[1] = kind;
  Buffer.from(signer, 'hex').copy(head, 2);
  head.writeBigUInt64LE(BigInt(timestamp), 34);
  head.writeBigUInt64LE(BigInt(expiresAt), 42);
  head.writeUInt16LE(body.length, 50);
  return Buffer.concat([head, body, publicKey, signature]);
}

function advertInfo(advert) {
  const tampered = { ...advert, addrs: [...advert.addrs.slice(1), '203.0.113.9:1'] };
  return {
    peerId: advert.peerId,
    addrs: [...advert.addrs],
    timestamp: advert.timestamp,
    expiresAt: advert.expiresAt,
    signatureB64: Buffer.from(advert.signature).toString('base64'),
    publicKeyB64: Buffer.from(advert.publicKey).toString('base64'),
    verified: verifyCoordinatorAdvert(advert),
    tamperedVerified: verifyCoordinatorAdvert(tampered),
  };
}

function forgeAdvert(variant, victim) {
  const forger = NativeKeypair.generate();
  const now = Date.now();
  const ttl = 60_000;
  const body = advertBody(['198.51.100.7:9']);
  const parse = (bytes) => ({
    kind: COORDINATOR_KIND,
    signer: bytes.subarray(2, 34).toString('hex'),
    timestamp: now,
    expiresAt: now + ttl,
    body,
    publicKey: bytes.subarray(bytes.length - 3309 - 1952, bytes.length - 3309),
    signature: bytes.subarray(bytes.length - 3309),
  });
  switch (variant) {
    case 'claims-victim':
      return encodeRecord({ ...parse(forger.signRecord(COORDINATOR_KIND, body, now, now + ttl)), signer: victim.peerId });
    case 'stolen-key':
      return encodeRecord({
        ...parse(forger.signRecord(COORDINATOR_KIND, body, now, now + ttl)),
        signer: victim.peerId,
        publicKey: Buffer.from(victim.publicKeyB64, 'base64'),
      });
    case 'tampered-addr':
      return encodeRecord({
        kind: COORDINATOR_KIND,
        signer: victim.peerId,
        // Newer than the genuine one, so only the signature can catch it.
        timestamp: victim.timestamp + 1,
        expiresAt: victim.expiresAt,
        body: advertBody(['198.51.100.7:9', ...victim.addrs]),
        publicKey: Buffer.from(victim.publicKeyB64, 'base64'),
        signature: Buffer.from(victim.signatureB64, 'base64'),
      });
    case 'expired':
      return forger.signRecord(COORDINATOR_KIND, body, now - 20_000, now - 10_000);
    default:
      throw new TypeError(`unknown forged advert variant ${JSON.stringify(variant)}`);
  }
}

async function pumpConnections(events) {
  try {
    for await (const event of events) send({ event: 'connection', ...event });
  } catch {
    // Ends with the agent; nothing to report.
  }
}

async function pumpMembership(events) {
  try {
    for await (const e of events) {
      if (e.type === 'lagged') continue; // no test floods the membership stream
      send({
        event: 'membership',
        type: e.type,
        peerId: e.peer.peerId,
        addr: e.peer.addr,
        ...(e.type === 'peer-left' ? { reason: e.reason } : {}),
        at: e.at,
      });
    }
  } catch {
    // Ends with the agent; nothing to report.
  }
}

const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const unb64 = (text) => new Uint8Array(Buffer.from(text, 'base64'));

const commands = {
  async start({ bindAddr, bootstrap, config, keyFile, announceAddrs } = {}) {
    if (agent !== undefined) throw new Error('start() was already called');
    let builder = Agent.builder();
    if (bindAddr !== undefined) builder = builder.withBindAddress(bindAddr);
    if (bootstrap !== undefined) builder = builder.withBootstrapPeers(bootstrap);
    if (announceAddrs !== undefined) builder = builder.withAnnounceAddrs(announceAddrs);
    if (config !== undefined) builder = builder.withConfig(config);
    if (keyFile !== undefined) builder = builder.withKeyFile(keyFile);
    agent = await builder.build();
    void pumpConnections(agent.transport.events());
    void pumpMembership(agent.membership.events());
    void pumpPresence(agent.presence.events());
    return {
      agentId: agent.agentId,
      addrs: agent.listenAddrs,
      advertised: agent.advertisedAddrs,
      limits: { maxPayloadBytes: MAX_PAYLOAD_BYTES, maxTopicBytes: MAX_TOPIC_BYTES },
    };
  },

  async join() {
    await requireAgent().joinNetwork();
    return null;
  },

  async subscribe({ topic }) {
    const subscription = await requireAgent().subscribe(topic);
    const handle = nextHandle++;
    subscriptions.set(handle, subscription);
    void pump(handle, subscription);
    return handle;
  },

  async unsubscribe({ handle }) {
    const subscription = subscriptions.get(handle);
    if (subscription === undefined) throw new Error(`no open subscription with handle ${handle}`);
    await subscription.unsubscribe();
    return null;
  },

  async publish({ topic, payload }) {
    return requireAgent().publish(topic, payloadOf(payload));
  },

  /** `count` publishes back to back, each awaited, as an application loop would. Resolves with their ids. */
  async publishMany({ topic, payload, count }) {
    const a = requireAgent();
    const ids = [];
    for (let k = 0; k < count; k += 1) ids.push(await a.publish(topic, payloadOf(payload)));
    return ids;
  },

  async stats() {
    return requireAgent().pubsubStats();
  },

  async diagnostics() {
    return testing.diagnostics(requireAgent());
  },

  async connectedPeers() {
    return requireAgent().connectedPeers();
  },

  async advertisedAddrs() {
    return requireAgent().advertisedAddrs;
  },

  async transportStats() {
    return requireAgent().transport.stats();
  },

  /** What building an agent with these options fails with (the builder's or the join's error). */
  async tryBuild({ bindAddr, bootstrap, announceAddrs, join }) {
    try {
      let builder = Agent.builder();
      if (bindAddr !== undefined) builder = builder.withBindAddress(bindAddr);
      if (bootstrap !== undefined) builder = builder.withBootstrapPeers(bootstrap);
      if (announceAddrs !== undefined) builder = builder.withAnnounceAddrs(announceAddrs);
      const built = await builder.build();
      try {
        if (join) await built.joinNetwork();
      } finally {
        await built.close();
      }
      return { ok: true };
    } catch (err) {
      return { ok: false, error: { ...errorInfo(err), address: err?.address ?? null } };
    }
  },

  async activeView() {
    return (await requireAgent().membership.activeView()).map((p) => p.peerId);
  },

  async activePeers() {
    return requireAgent().membership.activeView();
  },

  async passivePeers() {
    return requireAgent().membership.passiveView();
  },

  /** `membership.waitForPeers(count)`, given up after `timeoutMs`; reports the view or the error. */
  async waitForPeers({ count, timeoutMs }) {
    try {
      const view = await requireAgent().membership.waitForPeers(count, { signal: AbortSignal.timeout(timeoutMs) });
      return { view };
    } catch (err) {
      return { error: errorInfo(err) };
    }
  },

  /** `pubsub.waitForTopicPeers(topic, count)`, given up after `timeoutMs`; reports the peers or the error. */
  async waitForTopicPeers({ topic, count, timeoutMs }) {
    try {
      const peers = await requireAgent().pubsub.waitForTopicPeers(topic, count, { signal: AbortSignal.timeout(timeoutMs) });
      return { peers };
    } catch (err) {
      return { error: errorInfo(err) };
    }
  },

  async membershipStats() {
    return requireAgent().membership.stats();
  },

  async membershipJoin({ peers }) {
    await requireAgent().membership.join(peers);
    return null;
  },

  async sealFrame({ topic, payloadB64 }) {
    return b64(testing.sealFrame(requireAgent(), topic, unb64(payloadB64)));
  },

  async resealFrame({ topic, frameB64 }) {
    return b64(testing.resealFrame(requireAgent(), topic, unb64(frameB64)));
  },

  async publishRaw({ topic, frameB64 }) {
    await testing.publishRawFrame(requireAgent(), topic, unb64(frameB64));
    return null;
  },

  async joinPeers({ addrs }) {
    await requireAgent().membership.join(addrs);
    return null;
  },

  async reconcile() {
    return requireAgent().antiEntropy.reconcile();
  },

  async antiEntropyStats() {
    return requireAgent().antiEntropy.stats();
  },

  async blockPeer({ peerId }) {
    await requireAgent().transport.blockPeer(peerId);
    return null;
  },

  async unblockPeer({ peerId }) {
    requireAgent().transport.unblockPeer(peerId);
    return null;
  },

  async onlineAgents() {
    return requireAgent().presence.getOnlineAgents();
  },

  async presenceStats() {
    return requireAgent().presence.stats();
  },

  async advertiseAsCoordinator() {
    return advertInfo(await requireAgent().coordinators.advertiseAsCoordinator());
  },

  async coordinators() {
    return requireAgent().coordinators.getCoordinators().map(advertInfo);
  },

  async coordinatorStats() {
    return requireAgent().coordinators.stats();
  },

  /** Publishes a forged advert (see ForgedAdvertVariant in harness.ts); returns the message id. */
  async injectAdvert({ variant, victim }) {
    return requireAgent().publish(COORDINATORS_TOPIC, forgeAdvert(variant, victim));
  },

  async findAgent({ agentId, timeoutMs, abortAfterStart }) {
    const controller = new AbortController();
    const pending = requireAgent().discovery.findAgent(agentId, {
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      signal: controller.signal,
    });
    if (abortAfterStart) controller.abort();
    try {
      const found = await pending;
      return { found: found === null ? null : { agentId: found.agentId, addrs: [...found.addrs] } };
    } catch (err) {
      return { found: null, error: errorInfo(err) };
    }
  },

  async discoveryStats() {
    return requireAgent().discovery.stats();
  },

  async rendezvousRegister({ agentId, addrs, timeoutMs }) {
    const a = requireAgent();
    try {
      const options = timeoutMs === undefined ? {} : { timeoutMs };
      // An id first only where a test names one: the removed parameter, refused.
      const r = await (agentId === undefined ? a.rendezvous.register(addrs, options) : a.rendezvous.register(agentId, addrs, options));
      return { registration: { shard: r.shard, addrs: [...r.addrs], holders: r.holders.map((h) => ({ ...h })) } };
    } catch (err) {
      return { error: errorInfo(err) };
    }
  },

  async rendezvousUnregister({ agentId, timeoutMs }) {
    const a = requireAgent();
    try {
      const options = timeoutMs === undefined ? {} : { timeoutMs };
      const r = await (agentId === undefined ? a.rendezvous.unregister(options) : a.rendezvous.unregister(agentId, options));
      return { registration: { shard: r.shard, addrs: [...r.addrs], holders: r.holders.map((h) => ({ ...h })) } };
    } catch (err) {
      return { error: errorInfo(err) };
    }
  },

  async rendezvousLookup({ agentId, timeoutMs }) {
    try {
      const found = await requireAgent().rendezvous.lookup(agentId, timeoutMs === undefined ? {} : { timeoutMs });
      return { found: found === null ? null : { agentId: found.agentId, addrs: [...found.addrs] } };
    } catch (err) {
      return { found: null, error: errorInfo(err) };
    }
  },

  async rendezvousHolders({ agentId }) {
    return requireAgent().rendezvous.holdersFor(agentId).map((h) => ({ agentId: h.agentId, addrs: [...h.addrs] }));
  },

  async rendezvousStats() {
    return requireAgent().rendezvous.stats();
  },

  async ownAddrRecord() {
    return testing.ownAddrRecord(requireAgent()).toString('base64');
  },

  /** Sends a record to `agentId`'s holders: as given, or forged (victim's key, our signature) when `forgeAddrs` is set. */
  async storeAddrRecord({ agentId, recordB64, forgeAddrs }) {
    const a = requireAgent();
    const record = Buffer.from(recordB64, 'base64');
    const bytes = forgeAddrs === undefined ? record : testing.forgeAddrRecord(a, record, forgeAddrs);
    return testing.storeAtHolders(a, agentId, bytes);
  },

  async setAdvertise({ on }) {
    if (on) requireAgent().discovery.advertiseSelf();
    else requireAgent().discovery.stopAdvertising();
    return null;
  },

  /**
   * Closes the agent, then reports how a publish after close failed (the
   * facade must refuse it with ERR_X0X_CLOSED). The channel is dropped after
   * the reply has been sent; see the top of the file.
   */
  async close() {
    const current = requireAgent();
    await current.close();
    let publishAfterClose = { code: null, message: 'publish after close resolved' };
    try {
      await current.publish('after-close', 'x');
    } catch (err) {
      publishAfterClose = errorInfo(err);
    }
    return { publishAfterClose, closed: current.closed };
  },
};

process.on('message', async (request) => {
  const { id, cmd, args } = request;
  let reply;
  try {
    const run = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined;
    if (run === undefined) throw new Error(`unknown command ${JSON.stringify(cmd)}`);
    reply = { id, ok: true, result: await run(args ?? {}) };
  } catch (err) {
    reply = { id, ok: false, error: errorInfo(err) };
  }
  if (cmd === 'close' && reply.ok) {
    // Disconnect only once the reply is flushed to the channel.
    if (process.connected) process.send(reply, () => process.disconnect());
  } else {
    send(reply);
  }
});

// The parent vanished (or dropped the channel) without `close`: release the
// agent so that the process can end, rather than linger as an orphan.
process.on('disconnect', () => {
  if (agent !== undefined && !agent.closed) {
    agent.close().catch((err) => console.error('closing the agent after disconnect failed:', err));
  }
});
