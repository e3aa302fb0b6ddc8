// Issue 15, test 2 (cone NAT), in network namespaces: a public agent P
// (100.64.0.10) and three agents, each behind a home router of its own
// (nftables masquerade, which Linux maps endpoint-independently; NEW
// inbound packets dropped). The three know only P. They must get direct
// connections to each other, through their routers' public mappings, with
// the transport saying how each was made; and once P is SIGKILLed they must
// still get every message the other two publish.
import { describe, expect, it } from 'vitest';

import { pollUntil, spawnAgent, useNetHarness, waitUntilMeshed, type AgentProcess, type Peer } from './harness.js';
import { netnsAvailable, useNetLab, WAN_PREFIX, type NatRouter } from './netns.js';

const run = netnsAvailable('test/net/nat.test.ts');

/** Bound of the overlay forming through the NATs (generous: the machine is shared). */
const FORM_TIMEOUT_MS = 90_000;

/** The IP of an `ip:port`, IPv4-mapped IPv6 (how a dual-stack socket names IPv4 peers) as plain IPv4. */
const hostOf = (addr: string): string => addr.slice(0, addr.lastIndexOf(':')).replace(/^\[::ffff:(.*)\]$/, '$1');

describe.runIf(run)('behind cone NATs (network namespaces)', () => {
  useNetHarness();
  const lab = useNetLab();

  it('three NATed agents joined through P get direct, hole-punched links to each other and survive P being killed', async () => {
    const wan = lab.segment('wan', WAN_PREFIX);
    const pub = lab.host('p', wan, 10);
    const routers: NatRouter[] = [1, 2, 3].map((i) => lab.natRouter(`r${i}`, wan, 1 + i, i, 'cone'));
    const homes = routers.map((r, i) => lab.host(`h${i + 1}`, r.lan, 2));

    const p = await spawnAgent({ name: 'p', netns: pub.ns, bindAddr: '0.0.0.0:5483', config: { coordinator: true } });
    expect(p.advertised).toStrictEqual([`${pub.ip}:5483`]);
    const natted: AgentProcess[] = [];
    for (const [i, home] of homes.entries()) {
      const agent = await spawnAgent({ name: `h${i + 1}`, netns: home.ns, bindAddr: '0.0.0.0:0', bootstrap: [`${pub.ip}:5483`] });
      await agent.join();
      natted.push(agent);
    }

    // Each NATed agent reaches the other two at their routers' public
    // addresses: a direct path, not through P.
    const links = new Map<AgentProcess, Peer[]>();
    for (const [i, agent] of natted.entries()) {
      const others = natted.filter((_, j) => j !== i);
      const peers = await pollUntil(
        () => agent.connectedPeers(),
        (list) => others.every((o) => list.some((c) => c.peerId === o.agentId)),
        { timeoutMs: FORM_TIMEOUT_MS, what: `${agent.name} connected to the other two NATed agents` },
      );
      for (const other of others) {
        const link = peers.find((c) => c.peerId === other.agentId)!;
        expect(hostOf(link.addr), `${agent.name} -> ${other.name}`).toBe(routers[natted.indexOf(other)]!.wanIp);
      }
      links.set(agent, peers);
    }
    // The transport says how each link was made; between two NATs it can
    // only have been a punch, so no pair may call its link `direct` on both
    // ends. Read again until it settles: when both sides dial at once,
    // ant-quic may replace the first connection of a pair by the second,
    // and a snapshot taken in between names two different connections.
    const pathsOf = (lists: Peer[][], a: number, b: number): (string | undefined)[] => [
      lists[a]!.find((c) => c.peerId === natted[b]!.agentId)?.path,
      lists[b]!.find((c) => c.peerId === natted[a]!.agentId)?.path,
    ];
    const pairs = [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const;
    await pollUntil(
      () => Promise.all(natted.map((a) => a.connectedPeers())),
      (lists) => pairs.every(([a, b]) => pathsOf(lists, a, b).includes('holepunched')),
      { timeoutMs: FORM_TIMEOUT_MS, what: 'each NATed pair to call its link holepunched on at least one end' },
    );
    const stats = await Promise.all(natted.map((a) => a.transportStats()));
    expect(stats.reduce((n, s) => n + s.holepunched, 0)).toBeGreaterThanOrEqual(3);
    // Which punches ant-quic coordinated and which came in through a NAT
    // (coordinated by the other side, or a simultaneous dial), for the log.
    console.info(`[nat] transport stats of h1..h3: ${JSON.stringify(stats)}`);
    // The dialling sides saw ant-quic's ladder end in a coordinated punch
    // (the counters bench/nat reads).
    const ladders = await Promise.all(natted.map((a) => a.diagnostics()));
    expect(ladders.reduce((n, d) => n + (d['transport.ladder.holepunched'] ?? 0), 0)).toBeGreaterThanOrEqual(1);
    // The connection to P is a plain one.
    for (const agent of natted) {
      expect(links.get(agent)!.find((c) => c.peerId === p.agentId)?.path).toBe('direct');
    }

    const handles = await waitUntilMeshed(natted, 'nat', { publishers: natted, timeoutMs: FORM_TIMEOUT_MS });
    await p.kill('SIGKILL');

    for (const [i, agent] of natted.entries()) await agent.publish('nat', { text: `after P died, from h${i + 1}` });
    for (const [i, agent] of natted.entries()) {
      const want = natted.filter((_, j) => j !== i).map((o) => o.agentId).sort();
      const got = await agent.waitForMessages((ms) => want.every((id) => ms.some((m) => m.from === id)), {
        where: (m) => m.handle === handles[i] && m.from !== agent.agentId && m.text?.startsWith('after P died') === true,
        timeoutMs: FORM_TIMEOUT_MS,
      });
      expect([...new Set(got.map((m) => m.from))].sort()).toStrictEqual(want);
    }
  });
});

// Issue 15, test 3 (symmetric NAT): h1, h2 and h3 behind cone NATs as
// above, and s behind a router that maps every destination to a fresh random
// port (`masquerade random,fully-random`). No punch can reach s: the port its
// peers learn from P is not the port its router opens towards them. s must
// still get every message the others publish, and they every one of its,
// through P (the overlay relays; ant-quic 0.27 has no relay path), and its
// stats must say so: no punched or relayed link, one direct link to P.
describe.runIf(run)('behind a symmetric NAT (network namespaces)', () => {
  useNetHarness();
  const lab = useNetLab();

  it('an agent behind a symmetric NAT gets no punched link, yet exchanges every message with NATed peers through P, and its stats say so', async () => {
    const wan = lab.segment('wan', WAN_PREFIX);
    const pub = lab.host('p', wan, 10);
    // s joins third and h3 last: h3 punching through to h1 and h2 shows that
    // s, there longer, had every chance to be punched to as well.
    const names = ['h1', 'h2', 's', 'h3'];
    const routers = names.map((name, i) => lab.natRouter(`r${name}`, wan, 2 + i, i + 1, name === 's' ? 'symmetric' : 'cone'));
    const homes = routers.map((r, i) => lab.host(names[i]!, r.lan, 2));

    const p = await spawnAgent({ name: 'p', netns: pub.ns, bindAddr: '0.0.0.0:5483', config: { coordinator: true } });
    const natted: AgentProcess[] = [];
    for (const [i, home] of homes.entries()) {
      const agent = await spawnAgent({ name: names[i]!, netns: home.ns, bindAddr: '0.0.0.0:0', bootstrap: [`${pub.ip}:5483`] });
      await agent.join();
      natted.push(agent);
    }
    const [h1, h2, s, h3] = natted as [AgentProcess, AgentProcess, AgentProcess, AgentProcess];

    await pollUntil(
      () => h3.connectedPeers(),
      (list) => [h1, h2].every((o) => list.some((c) => c.peerId === o.agentId)),
      { timeoutMs: FORM_TIMEOUT_MS, what: 'h3 (cone, joined after s) connected to h1 and h2' },
    );

    const handles = await waitUntilMeshed(natted, 'sym', { publishers: natted, timeoutMs: FORM_TIMEOUT_MS });
    const ROUNDS = 5;
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const agent of natted) await agent.publish('sym', { text: `real ${round} from ${agent.name}` });
    }
    for (const [i, agent] of natted.entries()) {
      const want = natted.filter((_, j) => j !== i).flatMap((o) => Array.from({ length: ROUNDS }, (_, r) => `real ${r} from ${o.name}`));
      const got = await agent.waitForMessages((ms) => want.every((t) => ms.some((m) => m.text === t)), {
        where: (m) => m.handle === handles[i] && m.from !== agent.agentId && m.text?.startsWith('real ') === true,
        timeoutMs: FORM_TIMEOUT_MS,
      });
      // Every message once: relaying through P must not duplicate.
      expect(got.map((m) => m.text).sort(), `${agent.name} received`).toStrictEqual([...want].sort());
    }

    // How s is connected: only through P, directly; nothing was punched or
    // relayed, in its links and in its stats alike.
    const links = await s.connectedPeers();
    expect(links.map((c) => [c.peerId, c.path])).toStrictEqual([[p.agentId, 'direct']]);
    const stats = await s.transportStats();
    console.info(`[nat] transport stats of s (symmetric): ${JSON.stringify(stats)}`);
    expect(stats).toMatchObject({ holepunched: 0, relayed: 0, holepunchedByCoordination: 0 });
    expect(stats.direct).toBeGreaterThanOrEqual(1);
  });
});
