// The part of a benchmark node that does not depend on the stack: the IPC
// command loop, the payload format, and what a node measures while a case
// runs. x0x-node.mjs and libp2p-node.mjs each supply an adapter:
//
//   { start(opts) -> { id, addrs }, connect(addrs), subscribe(topic, onPayload),
//     publish(topic, bytes), transmissions() -> number | null, stats?() -> object,
//     counters?() -> { name: number } | null, close() }
//
// `transmissions` is how many copies of a payload this node has received
// from the network so far, duplicates included (null when the stack cannot
// say); the driver divides it by the deliveries.
//
// Payload layout (little-endian), then random bytes up to the payload size.
// Random, because saorsa-gossip neither forwards payloads with long zero runs
// nor delivers a payload it has seen before on the topic.
//   u8 kind (0 probe, 1 data) | u16 case id | u16 publisher | u32 seq | f64 send time (ms, epoch)
import { randomFillSync } from 'node:crypto';

export const HEADER_BYTES = 17;
const KIND_PROBE = 0;
const KIND_DATA = 1;

/** Wall clock with sub-millisecond resolution, comparable across processes of one machine. */
export function nowMs() {
  return performance.timeOrigin + performance.now();
}

function encode(kind, caseId, publisher, seq, size) {
  const bytes = new Uint8Array(Math.max(size, HEADER_BYTES));
  randomFillSync(bytes, HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, kind);
  view.setUint16(1, caseId, true);
  view.setUint16(3, publisher, true);
  view.setUint32(5, seq, true);
  view.setFloat64(9, nowMs(), true);
  return bytes;
}

function decode(bytes) {
  if (bytes.byteLength < HEADER_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    kind: view.getUint8(0),
    caseId: view.getUint16(1, true),
    publisher: view.getUint16(3, true),
    seq: view.getUint32(5, true),
    sentAt: view.getFloat64(9, true),
  };
}

/**
 * Runs the command loop of one benchmark node over `adapter`. Never exits on
 * its own: `close` closes the stack and drops the channel, and the process
 * ends when nothing is left on its event loop.
 */
export function serve(adapter) {
  let index = -1;
  let topic = '';
  /** Probe rounds: round -> publishers seen. */
  const probes = new Map();
  let current = newCase(-1, 0);

  function newCase(id, expected) {
    return {
      id,
      expected,
      seen: new Set(),
      latencies: [],
      appDuplicates: 0,
      foreign: 0,
      lastDeliveryAt: 0,
      cpu: process.cpuUsage(),
      /** CPU at this node's last delivery or publish: idle time after the case is not its cost. */
      cpuAtLast: undefined,
      fromPublisher: new Map(),
      tx: adapter.transmissions(),
      counters: adapter.counters?.() ?? null,
      done: expected === 0,
    };
  }

  /** How much each of the stack's counters grew since the case began. */
  function counterDelta() {
    const now = adapter.counters?.() ?? null;
    if (now === null || current.counters === null) return null;
    return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (current.counters[k] ?? 0)]));
  }

  function send(message) {
    if (process.connected) process.send(message);
  }

  function onPayload(bytes) {
    const at = nowMs();
    const h = decode(bytes);
    if (h === undefined) return;
    if (h.kind === KIND_PROBE) {
      let set = probes.get(h.caseId);
      if (set === undefined) probes.set(h.caseId, (set = new Set()));
      set.add(h.publisher);
      return;
    }
    if (h.kind !== KIND_DATA || h.publisher === index) return;
    if (h.caseId !== current.id) {
      // A straggler of an earlier case: neither a delivery nor a latency of this one.
      current.foreign += 1;
      return;
    }
    const key = h.publisher * 2 ** 32 + h.seq;
    if (current.seen.has(key)) {
      current.appDuplicates += 1;
      return;
    }
    current.seen.add(key);
    current.latencies.push(at - h.sentAt);
    current.lastDeliveryAt = at;
    current.cpuAtLast = process.cpuUsage(current.cpu);
    current.fromPublisher.set(h.publisher, (current.fromPublisher.get(h.publisher) ?? 0) + 1);
    if (!current.done && current.seen.size >= current.expected) {
      current.done = true;
      send({ event: 'done', caseId: current.id });
    }
  }

  const commands = {
    async start(args) {
      index = args.index;
      return adapter.start(args);
    },
    async connect({ addrs }) {
      await adapter.connect(addrs);
      return null;
    },
    async subscribe(args) {
      topic = args.topic;
      await adapter.subscribe(topic, onPayload);
      return null;
    },
    async probe({ round }) {
      try {
        await adapter.publish(topic, encode(KIND_PROBE, round, index, 0, HEADER_BYTES));
        return true;
      } catch {
        // gossipsub refuses to publish before it knows a subscribed peer.
        return false;
      }
    },
    async probeStatus({ round }) {
      return [...(probes.get(round) ?? [])];
    },
    async beginCase({ caseId, expected }) {
      current = newCase(caseId, expected);
      return null;
    },
    /**
     * Publishes `count` messages, each awaited, as an application loop would:
     * back to back, or with `intervalMs` set, one every `intervalMs` (a
     * message whose slot has passed goes out at once).
     */
    async publish({ caseId, count, size, intervalMs = 0 }) {
      const startedAt = nowMs();
      let errors = 0;
      let lastError = '';
      for (let seq = 0; seq < count; seq += 1) {
        const wait = startedAt + seq * intervalMs - nowMs();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        try {
          await adapter.publish(topic, encode(KIND_DATA, caseId, index, seq, size));
        } catch (err) {
          errors += 1;
          lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        }
      }
      if (current.id === caseId) current.cpuAtLast = process.cpuUsage(current.cpu);
      return { startedAt, endedAt: nowMs(), errors, lastError };
    },
    /** CPU time (ms) since the process started, and RSS. */
    async usage() {
      const cpu = process.cpuUsage();
      return { cpuMs: (cpu.user + cpu.system) / 1000, rssBytes: process.memoryUsage().rss };
    },
    async progress() {
      return current.seen.size;
    },
    /** The case's figures so far; may be called again after a repair wait, with more deliveries. */
    async endCase() {
      const cpu = current.cpuAtLast ?? process.cpuUsage(current.cpu);
      const tx = adapter.transmissions();
      return {
        delivered: current.seen.size,
        expected: current.expected,
        appDuplicates: current.appDuplicates,
        foreign: current.foreign,
        latencies: current.latencies,
        lastDeliveryAt: current.lastDeliveryAt,
        cpuMs: (cpu.user + cpu.system) / 1000,
        rssBytes: process.memoryUsage().rss,
        transmissions: tx === null || current.tx === null ? null : tx - current.tx,
        fromPublisher: Object.fromEntries(current.fromPublisher),
        stackStats: adapter.stats?.() ?? null,
        counters: counterDelta(),
      };
    },
    async close() {
      await adapter.close();
      return null;
    },
  };

  process.on('message', async ({ id, cmd, args }) => {
    let reply;
    try {
      const run = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined;
      if (run === undefined) throw new Error(`unknown command ${JSON.stringify(cmd)}`);
      reply = { id, ok: true, result: await run(args ?? {}) };
    } catch (err) {
      reply = { id, ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
    }
    if (cmd === 'close' && process.connected) {
      process.send(reply, () => process.disconnect());
    } else {
      send(reply);
    }
  });

  // The driver went away without `close`: release the stack so the process ends.
  process.on('disconnect', () => {
    adapter.close().catch(() => {});
  });
}
