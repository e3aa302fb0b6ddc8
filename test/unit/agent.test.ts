// The Agent facade over a recording stand-in for the addon: checks what is
// validated in TypeScript before anything crosses, and the lifecycle rules.
// Real delivery over QUIC is the network tests' job.
import '../helpers/use-fake-binding.js';

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  AbortError,
  Agent,
  AlreadyBuiltError,
  AgentKeypair,
  BadAddressError,
  BadKeyError,
  ClosedError,
  GossipConfig,
  InvalidConfigError,
  InvalidTopicError,
  isAgentId,
  JoinFailedError,
  KeyFileError,
  MAX_PAYLOAD_BYTES,
  MAX_TOPIC_BYTES,
  PayloadTooLargeError,
} from '../../src/index.js';
import { FAKE_LIMITS, FakeAgent } from '../helpers/fake-binding.js';

function lastNative(): FakeAgent {
  const agent = FakeAgent.created.at(-1);
  if (!agent) throw new Error('no native agent was created');
  return agent;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'x0x-agent-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('limits', () => {
  it('come from the binding', () => {
    expect(MAX_PAYLOAD_BYTES).toBe(FAKE_LIMITS.MAX_PAYLOAD_BYTES);
    expect(MAX_TOPIC_BYTES).toBe(FAKE_LIMITS.MAX_TOPIC_BYTES);
  });
});

describe('AgentBuilder', () => {
  it('passes resolved options to the native side', async () => {
    const agent = await Agent.builder()
      .withBindAddress('[::1]:0')
      .withConfig({ probeInterval: 250 })
      .withDataDir(dir)
      .build();
    const native = lastNative();
    expect(native.options).toStrictEqual({
      bindAddr: '[::1]:0',
      config: new GossipConfig({ probeInterval: 250 }).toNative(),
      dataDir: dir,
      upnp: false,
    });
    expect(agent.config.probeInterval).toBe(250);
    expect(isAgentId(agent.agentId)).toBe(true);
    await agent.close();
  });

  it('defaults to 127.0.0.1:0, default config, no data dir, no UPnP', async () => {
    const agent = await Agent.builder().build();
    expect(lastNative().options).toStrictEqual({
      bindAddr: '127.0.0.1:0',
      config: new GossipConfig().toNative(),
      upnp: false,
    });
    await agent.close();
  });

  it('validates synchronously, before anything native runs', () => {
    const builder = Agent.builder();
    expect(() => builder.withBindAddress('localhost:80')).toThrow(BadAddressError);
    expect(() => builder.withBootstrapPeers(['127.0.0.1:0'])).toThrow(BadAddressError);
    expect(() => builder.withConfig({ activeViewSize: 99 })).toThrow(InvalidConfigError);
    expect(() => builder.withDataDir('')).toThrow(InvalidConfigError);
    expect(() => builder.withKeypair({} as AgentKeypair)).toThrow(TypeError);
    expect(() => builder.withAnnounceAddrs(['seed.example:5483'])).toThrow(BadAddressError);
    expect(() => builder.withAnnounceAddrs(['0.0.0.0:5483'])).toThrow(/wildcard.*"0\.0\.0\.0:5483"/);
    expect(() => builder.withAnnounceAddrs(['[::]:5483'])).toThrow(BadAddressError);
    expect(() => builder.withAnnounceAddrs(['100.64.0.1:0'])).toThrow(BadAddressError);
    expect(() => builder.withAnnounceAddrs(Array.from({ length: 17 }, (_, i) => `100.64.0.${i + 1}:1`))).toThrow(
      InvalidConfigError,
    );
    expect(() => builder.withUpnp('yes' as unknown as boolean)).toThrow(InvalidConfigError);
  });

  it('passes announce addresses and UPnP (off unless asked) to the native agent', async () => {
    await using plain = await Agent.builder().build();
    expect(lastNative().options.upnp).toBe(false);
    expect(lastNative().options.announceAddrs).toBeUndefined();
    await using announced = await Agent.builder().withAnnounceAddrs(['100.64.0.9:443']).withUpnp(true).build();
    expect(lastNative().options.announceAddrs).toStrictEqual(['100.64.0.9:443']);
    expect(lastNative().options.upnp).toBe(true);
    expect([plain.closed, announced.closed]).toStrictEqual([false, false]);
  });

  it('builds once', async () => {
    const builder = Agent.builder();
    const agent = await builder.build();
    await expect(builder.build()).rejects.toMatchObject({ code: 'ERR_X0X_ALREADY_BUILT' });
    await expect(builder.build()).rejects.toBeInstanceOf(AlreadyBuiltError);
    expect(() => builder.withBindAddress('127.0.0.1:0')).toThrow(AlreadyBuiltError);
    await agent.close();
  });

  it('maps a native creation failure to its class', async () => {
    await expect(Agent.builder().withBindAddress('127.0.0.1:1').build()).rejects.toBeInstanceOf(BadAddressError);
  });

  it('withKeyFile generates and saves a missing key, then reuses it', async () => {
    const file = path.join(dir, 'agent.key');
    const first = await Agent.builder().withKeyFile(file).build();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = await Agent.builder().withKeyFile(file).build();
    expect(second.agentId).toBe(first.agentId);
    await Promise.all([first.close(), second.close()]);
  });

  it('withKeyFile never overwrites a corrupt key file', async () => {
    const file = path.join(dir, 'agent.key');
    writeFileSync(file, 'garbage!');
    await expect(Agent.builder().withKeyFile(file).build()).rejects.toBeInstanceOf(BadKeyError);
    expect(readFileSync(file, 'utf8')).toBe('garbage!');
  });

  it('withKeyFile reports an unreachable path as KeyFileError', async () => {
    const notADir = path.join(dir, 'file');
    writeFileSync(notADir, '');
    await expect(
      Agent.builder().withKeyFile(path.join(notADir, 'agent.key')).build(),
    ).rejects.toBeInstanceOf(KeyFileError);
  });

  it('withKeypair uses the given identity', async () => {
    const keypair = AgentKeypair.generate();
    const agent = await Agent.builder().withKeypair(keypair).build();
    expect(agent.agentId).toBe(keypair.agentId);
    await agent.close();
  });
});

describe('AgentKeypair', () => {
  it('round-trips through bytes and files', () => {
    const keypair = AgentKeypair.generate();
    expect(AgentKeypair.fromBytes(keypair.toBytes()).agentId).toBe(keypair.agentId);
    const file = path.join(dir, 'k');
    keypair.save(file);
    expect(AgentKeypair.load(file).agentId).toBe(keypair.agentId);
    expect(Object.getPrototypeOf(keypair.publicKey)).toBe(Uint8Array.prototype);
  });

  it('maps native failures', () => {
    expect(() => AgentKeypair.load(path.join(dir, 'missing'))).toThrow(KeyFileError);
    expect(() => AgentKeypair.fromBytes(new Uint8Array([1, 2]))).toThrow(BadKeyError);
  });
});

describe('Agent', () => {
  it('validates topics and payloads before calling native', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    await expect(agent.publish('', 'x')).rejects.toBeInstanceOf(InvalidTopicError);
    await expect(agent.publish('t'.repeat(MAX_TOPIC_BYTES + 1), 'x')).rejects.toBeInstanceOf(InvalidTopicError);
    await expect(agent.subscribe('')).rejects.toBeInstanceOf(InvalidTopicError);
    await expect(agent.publish('t', new Uint8Array(MAX_PAYLOAD_BYTES + 1))).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    );
    await expect(agent.publish('t', 42 as never)).rejects.toBeInstanceOf(TypeError);
    expect(native.calls.filter((c) => c.startsWith('publish') || c.startsWith('subscribe'))).toStrictEqual([]);
    await agent.close();
  });

  it('publishes strings as UTF-8 and delivers to subscriptions', async () => {
    await using agent = await Agent.builder().build();
    const sub = await agent.subscribe('t');
    const id = await agent.publish('t', 'héllo');
    expect(lastNative().calls).toContain('publish t 6');
    for await (const msg of sub) {
      expect(msg.id).toBe(id);
      expect(new TextDecoder().decode(msg.payload)).toBe('héllo');
      break;
    }
  });

  it('joinNetwork with no bootstrap peers resolves without dialling', async () => {
    await using agent = await Agent.builder().build();
    await agent.joinNetwork();
    expect(lastNative().calls.filter((c) => c.startsWith('join'))).toStrictEqual([]);
  });

  it('joinNetwork dials the bootstrap peers and maps failures', async () => {
    await using agent = await Agent.builder().withBootstrapPeers(['10.0.0.1:9', '[::1]:7']).build();
    await expect(agent.joinNetwork()).rejects.toBeInstanceOf(JoinFailedError);
    expect(lastNative().calls).toContain('join 10.0.0.1:9,[::1]:7');
  });

  it('joinNetwork stops waiting when aborted', async () => {
    await using agent = await Agent.builder().withBootstrapPeers(['127.0.0.1:7']).build();
    lastNative().joinGate = new Promise(() => undefined);
    const controller = new AbortController();
    const joining = agent.joinNetwork({ signal: controller.signal });
    controller.abort();
    await expect(joining).rejects.toBeInstanceOf(AbortError);
    await expect(agent.joinNetwork({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  });

  it('subscribe with an aborted signal rejects; aborting later ends the loop', async () => {
    await using agent = await Agent.builder().build();
    await expect(agent.subscribe('t', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    const controller = new AbortController();
    const sub = await agent.subscribe('t', { signal: controller.signal });
    const loop = (async () => {
      for await (const _ of sub) {
        // no messages are published
      }
    })();
    controller.abort();
    await expect(loop).rejects.toBeInstanceOf(AbortError);
    expect(lastNative().subscriptions.at(-1)?.closeCalls).toBe(1);
  });

  it('exposes views and stats', async () => {
    await using agent = await Agent.builder().build();
    expect(agent.pubsubStats()).toStrictEqual({
      published: 1,
      delivered: 2,
      duplicatesDropped: 3,
      invalidDropped: 4,
      oversizedDropped: 6,
      staleDropped: 7,
      laggedDropped: 8,
      cacheSize: 5,
    });
    expect(agent.listenAddrs).toStrictEqual(['127.0.0.1:40000']);
    expect(agent.transport.localPeerId).toBe(agent.agentId);
  });

  it('close() is idempotent, ends loops and makes every other call fail with ClosedError', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    const sub = await agent.subscribe('t');
    const events = agent.transport.events();
    const loop = (async () => {
      for await (const _ of sub) {
        // ended by close()
      }
    })();
    const pendingEvent = events.next();
    await Promise.all([agent.close(), agent.close()]);
    await agent.close();
    expect(native.calls.filter((c) => c === 'close')).toHaveLength(1);
    await expect(loop).resolves.toBeUndefined();
    await expect(pendingEvent).resolves.toMatchObject({ done: true });
    expect(agent.closed).toBe(true);
    expect(agent.runtime.isRunning).toBe(false);

    await expect(agent.publish('t', 'x')).rejects.toBeInstanceOf(ClosedError);
    await expect(agent.subscribe('t')).rejects.toBeInstanceOf(ClosedError);
    await expect(agent.joinNetwork()).rejects.toBeInstanceOf(ClosedError);
    await expect(agent.connectedPeers()).rejects.toBeInstanceOf(ClosedError);
    await expect(agent.membership.activeView()).rejects.toBeInstanceOf(ClosedError);
    await expect(agent.membership.passiveView()).rejects.toBeInstanceOf(ClosedError);
    expect(() => agent.pubsubStats()).toThrow(ClosedError);
    expect(() => agent.listenAddrs).toThrow(ClosedError);
    expect(() => agent.transport.events()).toThrow(ClosedError);
  });

  it('closes with await using', async () => {
    let native: FakeAgent;
    {
      await using agent = await Agent.builder().build();
      native = lastNative();
      expect(agent.runtime.isRunning).toBe(true);
    }
    expect(native.closed).toBe(true);
  });
});
