// Issue 15, test 1 (LAN) and test 4 (bad input), in network namespaces: each
// agent on a host of its own (eth0 on one switch, 100.100.1.0/24), bound to
// the wildcard 0.0.0.0 as a user on a real LAN would bind it.
//
// What a host advertises must be its LAN address, never loopback: a third
// agent that learns of a host only through rendezvous, or only through a
// FOAF lookup (it blocks the host until then, so neither gossip nor the
// address book can have told it), dials that address, reaches the host and
// receives its messages.
import { describe, expect, it } from 'vitest';

import { explainFailure, pollUntil, spawnAgent, useNetHarness, waitUntilMeshed, type AgentProcess } from './harness.js';
import { lanPrefix, netnsAvailable, useNetLab, type Host } from './netns.js';

const run = netnsAvailable('test/net/lan.test.ts');

/** Bound of adverts reaching everyone and of connections forming (generous: the machine is shared). */
const SPREAD_TIMEOUT_MS = 60_000;

const portOf = (addr: string): string => addr.slice(addr.lastIndexOf(':') + 1);
const isLoopback = (addr: string): boolean => addr.startsWith('127.') || addr.startsWith('[::1]') || addr.startsWith('[::ffff:127.');

describe.runIf(run)('across a LAN (network namespaces)', () => {
  useNetHarness();
  const lab = useNetLab();

  async function wildcard(name: string, host: Host, bootstrap: string[] = []): Promise<AgentProcess> {
    const agent = await spawnAgent({
      name,
      netns: host.ns,
      bindAddr: '0.0.0.0:0',
      bootstrap,
      config: { coordinator: name === 'a', rendezvousReplicas: 1 },
    });
    await agent.join();
    return agent;
  }

  it('hosts bound to 0.0.0.0 advertise their LAN address; an agent that learns it by rendezvous or FOAF connects there', async () => {
    const lan = lab.segment('lan', lanPrefix(1));
    const [ha, hb, hc, hd] = ['a', 'b', 'c', 'd'].map((n, i) => lab.host(n, lan, 10 + i)) as [Host, Host, Host, Host];

    const a = await wildcard('a', ha);
    // listenAddrs says what is bound; advertisedAddrs what others should dial.
    expect(a.addrs).toStrictEqual([`0.0.0.0:${portOf(a.addrs[0]!)}`]);
    expect(a.advertised).toStrictEqual([`${ha.ip}:${portOf(a.addrs[0]!)}`]);
    const b = await wildcard('b', hb, [a.advertised[0]!]);
    expect(b.advertised[0]).toBe(`${hb.ip}:${portOf(b.addrs[0]!)}`);
    for (const agent of [a, b]) {
      expect((await agent.advertisedAddrs()).filter(isLoopback)).toStrictEqual([]);
    }

    // The signed records carry it: A's coordinator advert and both beacons.
    // B joined after A advertised, so only anti-entropy can bring it.
    const adverts = await explainFailure([a, b], () =>
      pollUntil(() => b.call('coordinators', {}), (list) => list.length === 1, {
        timeoutMs: SPREAD_TIMEOUT_MS,
        what: "b to hold a's coordinator advert",
      }),
    );
    expect(adverts[0]!.addrs).toStrictEqual(a.advertised);
    const online = await pollUntil(() => a.call('onlineAgents', {}), (list) => list.some((x) => x.agentId === b.agentId), {
      timeoutMs: SPREAD_TIMEOUT_MS,
      what: "a to see b's presence beacon",
    });
    expect(online.find((x) => x.agentId === b.agentId)!.addrs).toStrictEqual(b.advertised);

    // C and D block B before they join: whatever they learn of B comes from
    // the lookup alone.
    const [c, d] = await Promise.all(
      [['c', hc], ['d', hd]].map(async ([name, host]) => {
        const agent = await spawnAgent({ name: name as string, netns: (host as Host).ns, bindAddr: '0.0.0.0:0', bootstrap: [a.advertised[0]!] });
        await agent.blockPeer(b.agentId);
        await b.blockPeer(agent.agentId);
        await agent.join();
        return agent;
      }),
    ) as [AgentProcess, AgentProcess];
    await pollUntil(() => c.call('coordinators', {}), (list) => list.length === 1, {
      timeoutMs: SPREAD_TIMEOUT_MS,
      what: "c to hold a's coordinator advert",
    });
    expect((await b.rendezvousRegister()).registration?.holders.map((h) => h.outcome)).toStrictEqual(['stored']);

    const byRendezvous = await c.rendezvousLookup(b.agentId);
    expect(byRendezvous.found?.addrs).toStrictEqual(b.advertised);
    const byFoaf = await d.findAgent(b.agentId, { timeoutMs: 20_000 });
    expect(byFoaf.found?.addrs).toStrictEqual(b.advertised);

    // Each dials what it found and gets B's messages.
    for (const learner of [c, d]) {
      await learner.unblockPeer(b.agentId);
      await b.unblockPeer(learner.agentId);
      await learner.membershipJoin([...b.advertised]);
      const peers = await pollUntil(() => learner.connectedPeers(), (list) => list.some((p) => p.peerId === b.agentId), {
        timeoutMs: SPREAD_TIMEOUT_MS,
        what: `${learner.name} connected to b`,
      });
      expect(peers.find((p) => p.peerId === b.agentId)!.addr).toBe(b.advertised[0]);
    }
    const [, hc2, hd2] = await waitUntilMeshed([b, c, d], 'lan', { publishers: [b] });
    await b.publish('lan', { text: 'from b, over the LAN' });
    for (const [learner, handle] of [[c, hc2], [d, hd2]] as const) {
      const got = await learner.waitForMessages(1, { where: (m) => m.handle === handle });
      expect(got.map((m) => [m.from, m.text])).toStrictEqual([[b.agentId, 'from b, over the LAN']]);
    }
  });

  it('bad input gets a coded error naming the value: unresolvable bootstrap host, port 0, an announce value that is no address', async () => {
    const lan = lab.segment('lan', lanPrefix(2));
    const h = lab.host('h', lan, 10);
    const probe = await spawnAgent({ name: 'probe', netns: h.ns, bindAddr: '0.0.0.0:0' });

    // Inside the namespace no resolver is reachable, so nothing leaves the lab.
    const unresolvable = await probe.tryBuild({ bootstrap: ['nosuch.invalid:5483'], join: true });
    expect(unresolvable.error).toMatchObject({ code: 'ERR_X0X_BAD_ADDRESS', address: 'nosuch.invalid:5483' });
    expect(unresolvable.error?.message).toContain('"nosuch.invalid"');

    const portZero = await probe.tryBuild({ bootstrap: [`${lanPrefix(2)}.11:0`] });
    expect(portZero.error).toMatchObject({ code: 'ERR_X0X_BAD_ADDRESS', address: `${lanPrefix(2)}.11:0` });
    const namedPortZero = await probe.tryBuild({ bootstrap: ['seed.example:0'] });
    expect(namedPortZero.error).toMatchObject({ code: 'ERR_X0X_BAD_ADDRESS', address: 'seed.example:0' });

    for (const bad of ['not-an-address', 'seed.example:5483', '0.0.0.0:5483', `${lanPrefix(2)}.10:0`]) {
      const announce = await probe.tryBuild({ announceAddrs: [bad] });
      expect(announce.error, bad).toMatchObject({ code: 'ERR_X0X_BAD_ADDRESS', address: bad });
      expect(announce.error?.message, bad).toContain(JSON.stringify(bad));
    }

    // And the good forms work: a name from /etc/hosts, and an announce address.
    const seed = await spawnAgent({ name: 'seed', netns: h.ns, bindAddr: '127.0.0.1:0' });
    expect((await probe.tryBuild({ bindAddr: '127.0.0.1:0', bootstrap: [`localhost:${portOf(seed.addr)}`], join: true })).ok).toBe(true);
    const announced = await spawnAgent({ name: 'announced', netns: h.ns, bindAddr: '0.0.0.0:0', announceAddrs: ['100.64.0.99:443'] });
    expect(announced.advertised).toStrictEqual(['100.64.0.99:443']);
  });

  it('bind means bind for loopback: an agent bound to 127.0.0.1 cannot be reached from the LAN, though ant-quic opens every interface', async () => {
    const lan = lab.segment('lan', lanPrefix(3));
    const [ha, hb] = [lab.host('a', lan, 10), lab.host('b', lan, 11)];
    const local = await spawnAgent({ name: 'local', netns: ha.ns, bindAddr: '127.0.0.1:5483' });
    expect(local.advertised).toStrictEqual(['127.0.0.1:5483']);
    // ant-quic's socket answers on eth0 too; the agent refuses the peer.
    const outsider = await spawnAgent({ name: 'outsider', netns: hb.ns, bindAddr: '0.0.0.0:0' });
    await expect(outsider.membershipJoin([`${ha.ip}:5483`])).rejects.toThrow();
    expect(await local.connectedPeers()).toStrictEqual([]);
    // A neighbour on the same host, over loopback, is welcome.
    const neighbour = await spawnAgent({ name: 'neighbour', netns: ha.ns, bindAddr: '127.0.0.1:0', bootstrap: ['127.0.0.1:5483'] });
    await neighbour.join();
    expect((await neighbour.connectedPeers()).map((p) => p.peerId)).toStrictEqual([local.agentId]);
    expect((await local.connectedPeers()).map((p) => p.peerId)).not.toContain(outsider.agentId);
  });
});
