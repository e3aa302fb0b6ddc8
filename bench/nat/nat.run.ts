// NAT traversal figures (issue 15; a benchmark, not a test). Real agent
// processes in network namespaces with nftables home routers, as in
// test/net/nat.test.ts; root only (it says so and prints nothing otherwise).
//
// Two topologies, each built afresh for every round:
// - cone: a public agent P (coordinator) and three agents behind cone NATs
//   (plain masquerade) that know only P;
// - symmetric: P, two agents behind cone NATs and one behind a symmetric NAT
//   (masquerade random,fully-random), which no punch reaches.
//
// Printed per topology, over every round:
// - the time from each NATed agent's join() resolving to its first
//   connection with another NATed agent (cone only; all of them punched);
// - every dial through ant-quic's fallback ladder (direct, then a
//   coordinated punch, then a relay) by how it ended, summed over the NATed
//   agents: punch attempts are the dials that did not connect directly,
//   successes those that punched or relayed.
//
// npm run bench:nat   (X0X_BENCH_NAT_ROUNDS=n, default 5; 2 with X0X_BENCH_QUICK=1)
import { afterAll, describe, it } from 'vitest';

import { pollUntil, spawnAgent, useNetHarness, type AgentProcess } from '../../test/net/harness.js';
import { netnsAvailable, useNetLab, WAN_PREFIX, type NatKind } from '../../test/net/netns.js';

const run = netnsAvailable('bench/nat/nat.run.ts');
const ROUNDS = Number(process.env.X0X_BENCH_NAT_ROUNDS ?? (process.env.X0X_BENCH_QUICK === '1' ? 2 : 5));
/** How long the symmetric round watches: its agent cannot be reached, so nothing ends the wait sooner. */
const SYMMETRIC_WINDOW_MS = 20_000;
const FORM_TIMEOUT_MS = 90_000;
const LADDER = ['direct', 'holepunched', 'relayed', 'failed', 'timedOut'] as const;
type Ladder = Record<(typeof LADDER)[number], number>;

const firstLinkMs: number[] = [];
const ladders: Record<'cone' | 'symmetric', Ladder[]> = { cone: [], symmetric: [] };

async function ladderOf(agent: AgentProcess): Promise<Ladder> {
  const d = await agent.diagnostics();
  return Object.fromEntries(LADDER.map((k) => [k, d[`transport.ladder.${k}`] ?? 0])) as Ladder;
}

function sum(list: readonly Ladder[]): Ladder {
  return Object.fromEntries(LADDER.map((k) => [k, list.reduce((n, l) => n + l[k], 0)])) as Ladder;
}

function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

describe.runIf(run)('NAT traversal figures (network namespaces)', () => {
  useNetHarness();
  const lab = useNetLab();

  /** P, then one agent behind a router of `kinds[i]` each, joined through P in order. */
  async function topology(kinds: readonly NatKind[]): Promise<{ p: AgentProcess; natted: AgentProcess[]; joinedAt: number[] }> {
    const wan = lab.segment('wan', WAN_PREFIX);
    const pub = lab.host('p', wan, 10);
    const p = await spawnAgent({ name: 'p', netns: pub.ns, bindAddr: '0.0.0.0:5483', config: { coordinator: true } });
    const natted: AgentProcess[] = [];
    const joinedAt: number[] = [];
    for (const [i, kind] of kinds.entries()) {
      const router = lab.natRouter(`r${i + 1}`, wan, 2 + i, i + 1, kind);
      const home = lab.host(`h${i + 1}`, router.lan, 2);
      const agent = await spawnAgent({ name: `h${i + 1}-${kind}`, netns: home.ns, bindAddr: '0.0.0.0:0', bootstrap: [`${pub.ip}:5483`] });
      await agent.join();
      joinedAt.push(Date.now());
      natted.push(agent);
    }
    return { p, natted, joinedAt };
  }

  for (let round = 1; round <= ROUNDS; round += 1) {
    it(`cone, round ${round}`, async () => {
      const { natted, joinedAt } = await topology(['cone', 'cone', 'cone']);
      const others = (i: number): string[] => natted.filter((_, j) => j !== i).map((a) => a.agentId);
      await Promise.all(
        natted.map(async (agent, i) => {
          await pollUntil(
            () => agent.connectedPeers(),
            (list) => list.some((c) => others(i).includes(c.peerId)),
            { timeoutMs: FORM_TIMEOUT_MS, intervalMs: 20, what: `${agent.name}'s first link to another NATed agent` },
          );
          firstLinkMs.push(Date.now() - joinedAt[i]!);
          await pollUntil(
            () => agent.connectedPeers(),
            (list) => others(i).every((id) => list.some((c) => c.peerId === id)),
            { timeoutMs: FORM_TIMEOUT_MS, what: `${agent.name} linked to both other NATed agents` },
          );
        }),
      );
      ladders.cone.push(...(await Promise.all(natted.map(ladderOf))));
    });

    it(`symmetric, round ${round}`, async () => {
      const { natted, joinedAt } = await topology(['cone', 'cone', 'symmetric']);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, joinedAt[2]! + SYMMETRIC_WINDOW_MS - Date.now())));
      ladders.symmetric.push(...(await Promise.all(natted.map(ladderOf))));
    });
  }

  afterAll(() => {
    const line = (name: string, l: Ladder): string => {
      const attempts = l.holepunched + l.relayed + l.failed + l.timedOut;
      return (
        `${name.padEnd(10)} ${String(l.direct + attempts).padStart(6)} ${String(l.direct).padStart(7)} ${String(l.holepunched).padStart(7)} ` +
        `${String(l.relayed).padStart(8)} ${String(l.failed).padStart(7)} ${String(l.timedOut).padStart(9)}   ` +
        `punch attempts ${attempts}, successes ${l.holepunched + l.relayed}`
      );
    };
    console.log(`\n== NAT traversal, ${ROUNDS} rounds per topology (bench/nat/nat.run.ts) ==`);
    if (firstLinkMs.length > 0) {
      console.log(
        `cone: first link between NATed agents after join, over ${firstLinkMs.length} agents: ` +
          `p50 ${quantile(firstLinkMs, 0.5)} ms, p90 ${quantile(firstLinkMs, 0.9)} ms, max ${Math.max(...firstLinkMs)} ms`,
      );
    }
    console.log('ladder dials by outcome, summed over the NATed agents (the dialling side counts):');
    console.log('topology    dials  direct punched  relayed  failed  timed out');
    for (const kind of ['cone', 'symmetric'] as const) if (ladders[kind].length > 0) console.log(line(kind, sum(ladders[kind])));
  });
});
