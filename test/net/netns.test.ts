// The network-namespace kit itself (test/net/netns.ts): agents in separate
// namespaces talk over real QUIC across a switch, a NAT router lets its
// hosts out but nothing in, nothing can leave the lab, and every namespace
// is gone after teardown.
import { execFileSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { pollUntil, spawnAgent, useNetHarness, waitUntilMeshed } from './harness.js';
import { netnsAvailable, useNetLab, WAN_PREFIX } from './netns.js';

const run = netnsAvailable('test/net/netns.test.ts');

function namespacesNow(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

/** The kernel's route lookup (no packet is sent); throws when there is no route. */
function routeTo(lab: ReturnType<typeof useNetLab>, ns: string, dest: string): string {
  return lab.exec(ns, ['ip', 'route', 'get', dest]);
}

describe.runIf(run)('netns kit', () => {
  useNetHarness();
  const lab = useNetLab();

  it('agents in two namespaces on one switch exchange messages over QUIC', async () => {
    const wan = lab.segment('wan', WAN_PREFIX);
    const a = lab.host('a', wan, 10);
    const b = lab.host('b', wan, 11);
    const seed = await spawnAgent({ name: 'a', netns: a.ns, bindAddr: `${a.ip}:5483` });
    const peer = await spawnAgent({ name: 'b', netns: b.ns, bindAddr: `${b.ip}:0`, bootstrap: [seed.addr] });
    await peer.join();
    const [, hb] = await waitUntilMeshed([seed, peer], 'kit');
    await seed.publish('kit', { text: 'across namespaces' });
    const got = await peer.waitForMessages(1, { where: (m) => m.handle === hb });
    expect(got.map((m) => m.text)).toStrictEqual(['across namespaces']);
    const peers = await peer.connectedPeers();
    expect(peers.map((p) => p.addr)).toStrictEqual([`${a.ip}:5483`]);
  });

  it('a NAT router lets its host out and nothing in; no namespace has a route out of the lab', async () => {
    const wan = lab.segment('wan', WAN_PREFIX);
    const pub = lab.host('p', wan, 10);
    const router = lab.natRouter('r1', wan, 2, 1);
    const inside = lab.host('h', router.lan, 2);

    // Out: the NATed host joins the public one, which sees it at the router's address.
    const p = await spawnAgent({ name: 'p', netns: pub.ns, bindAddr: `${pub.ip}:5483` });
    const h = await spawnAgent({ name: 'h', netns: inside.ns, bindAddr: '0.0.0.0:0', bootstrap: [p.addr] });
    await h.join();
    const seen = await pollUntil(() => p.connectedPeers(), (peers) => peers.length > 0, {
      timeoutMs: 20_000,
      what: 'p to see the NATed host connected',
    });
    expect(seen.map((peer) => peer.addr.split(':')[0])).toStrictEqual([router.wanIp]);

    // In: the public side has no route to the LAN, and the router drops what
    // is sent to its own WAN address unasked.
    expect(() => routeTo(lab, pub.ns, inside.ip)).toThrow();
    const stranger = await spawnAgent({ name: 'stranger', netns: pub.ns, bindAddr: `${pub.ip}:0` });
    const port = seen[0]!.addr.split(':')[1];
    await expect(stranger.membershipJoin([`${router.wanIp}:${port}`])).rejects.toThrow();

    for (const ns of [pub.ns, router.ns, inside.ns]) {
      expect(() => routeTo(lab, ns, '1.1.1.1')).toThrow();
      expect(() => routeTo(lab, ns, '10.0.0.1')).toThrow();
    }
  });

  it('teardown removes every namespace it made', async () => {
    const wan = lab.segment('wan', WAN_PREFIX);
    lab.host('x', wan, 10);
    lab.natRouter('r', wan, 2, 3, 'symmetric');
    const made = [...lab.namespaces];
    expect(made.length).toBe(4);
    expect(namespacesNow()).toEqual(expect.arrayContaining(made));
    lab.teardown();
    const left = namespacesNow();
    expect(made.filter((ns) => left.includes(ns))).toStrictEqual([]);
  });
});
