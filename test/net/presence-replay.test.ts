// A presence beacon captured off the wire and flooded again later must not
// bring its agent back: the receiver drops it as a replay (its timestamp is
// not newer than the last one it accepted from that signer) and counts it.
// Three agents in this process over real QUIC on 127.0.0.1; the replayer
// uses the shipped addon's own flood, no test hook.
import { describe, expect, it } from 'vitest';

import { coreOf } from '../../src/core-registry.js';
import { Agent, type PresenceEvent } from '../../src/index.js';

/** Generous bound of every wait: the box is shared by several builds. */
const WAIT_MS = 45_000;

/** Polls `probe` until `ok` holds, running `nudge` about once a second meanwhile. */
async function until<T>(
  what: string,
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean,
  nudge?: () => Promise<unknown>,
): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  let nudged = 0;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting until ${what} (last: ${JSON.stringify(value)})`);
    if (nudge !== undefined && Date.now() - nudged >= 1_000) {
      nudged = Date.now();
      await nudge();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const sees = (agent: Agent, id: string): boolean => agent.presence.getOnlineAgents().some((a) => a.agentId === id);

describe('presence replays', () => {
  it('a beacon replayed after its agent left is dropped, counted, and never reports it online again', async () => {
    const b = await Agent.builder().build();
    const x = await Agent.builder().withBootstrapPeers(b.listenAddrs).build();
    let c: Agent | undefined;
    try {
      await b.joinNetwork();
      // X keeps every flooded payload it receives; with B its only peer,
      // those are B's beacons.
      const captured: Buffer[] = [];
      const floods = coreOf(x).use().floodPayloads();
      void (async () => {
        for (;;) {
          const f = await floods.next();
          if (f === null) return;
          if (f.type === 'payload') captured.push(Buffer.from(f.payload));
        }
      })();
      await x.joinNetwork();
      await until('X captured a beacon of B', () => captured.length, (n) => n >= 1, () => b.presence.broadcastPresence());
      const old = captured[0]!;

      // C arrives after that beacon went round, so no layer of C has seen
      // those bytes: only presence's own bookkeeping can refuse them.
      c = await Agent.builder().withBootstrapPeers(x.listenAddrs).build();
      const cAgent = c;
      const events: PresenceEvent[] = [];
      void (async () => {
        for await (const e of cAgent.presence.events()) events.push(e);
      })();
      await c.joinNetwork();
      await until('C sees B online', () => sees(cAgent, b.agentId), Boolean, () => b.presence.broadcastPresence());

      await b.close();
      await until('C sees B offline after its goodbye', () => sees(cAgent, b.agentId), (online) => !online);

      const before = c.presence.stats();
      const shown = events.length;
      expect(await coreOf(x).use().flood(old), 'X reaches C').toBeGreaterThanOrEqual(1);
      const after = await until(
        'C counted the replay',
        () => cAgent.presence.stats(),
        (s) => s.replaysDropped > before.replaysDropped,
      );
      expect(after.replaysDropped - before.replaysDropped).toBe(1);
      expect(after.invalidDropped, 'a genuine, unexpired beacon: refused as a replay, not as invalid').toBe(before.invalidDropped);
      expect(sees(c, b.agentId)).toBe(false);
      expect(events.slice(shown).filter((e) => e.type === 'agent-online')).toStrictEqual([]);
    } finally {
      await Promise.all([b.close(), x.close(), c?.close()]);
    }
  });
});
