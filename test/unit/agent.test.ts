// The Agent facade over a recording stand-in for the addon: checks what is
// validated in TypeScript before anything crosses, what crosses, how native
// failures map, and the lifecycle rules. Keys, delivery and every counter
// come from Rust: the network tests (test/net/identity.test.ts,
// skeleton.test.ts, pubsub.test.ts) check those against the real addon.
import '../helpers/use-fake-binding.js';

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  JoinFailedError,
  KeyFileError,
  MAX_PAYLOAD_BYTES,
  MAX_TOPIC_BYTES,
  PayloadTooLargeError,
} from '../../src/index.js';
import { FAKE_LIMITS, FakeAgent, FakeKeypair, fakeLog, nativeError } from '../helpers/fake-binding.js';

function lastNative(): FakeAgent {
  const agent = FakeAgent.created.at(-1);
  if (!agent) throw new Error('no native agent was created');
  return agent;
}

function lastKeypair(): FakeKeypair {
  const keypair = FakeKeypair.created.at(-1);
  if (!keypair) throw new Error('no native keypair was created');
  return keypair;
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
    // A wrong type is a TypeError; a value of the right type that is no
    // usable setting is an InvalidConfigError naming the setting.
    expect(() => builder.withUpnp('yes' as unknown as boolean)).toThrow(TypeError);
    expect(() => builder.withDataDir(5 as unknown as string)).toThrow(TypeError);
    expect(() => builder.withKeyFile(5 as unknown as string)).toThrow(TypeError);
    expect(() => builder.withKeyFile('')).toThrow(expect.objectContaining({ code: 'ERR_X0X_INVALID_CONFIG', field: 'keyFile' }));
    expect(() => builder.withLogger(() => {}, { level: 'verbose' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_X0X_INVALID_CONFIG', field: 'level' }),
    );
  });

  it('passes announce addresses and UPnP (off unless asked) to the native agent', async () => {
    const plain = await Agent.builder().build();
    expect(lastNative().options.upnp).toBe(false);
    expect(lastNative().options.announceAddrs).toBeUndefined();
    const announced = await Agent.builder().withAnnounceAddrs(['100.64.0.9:443']).withUpnp(true).build();
    expect(lastNative().options.announceAddrs).toStrictEqual(['100.64.0.9:443']);
    expect(lastNative().options.upnp).toBe(true);
    await Promise.all([plain.close(), announced.close()]);
  });

  it('builds once', async () => {
    const builder = Agent.builder();
    const agent = await builder.build();
    await expect(builder.build()).rejects.toMatchObject({ code: 'ERR_X0X_ALREADY_BUILT' });
    await expect(builder.build()).rejects.toBeInstanceOf(AlreadyBuiltError);
    expect(() => builder.withBindAddress('127.0.0.1:0')).toThrow(AlreadyBuiltError);
    await agent.close();
  });

  it('maps a native creation failure to its class, and lets go of the Rust log bridge', async () => {
    const filters = fakeLog.filters.length;
    FakeAgent.failure = nativeError('ERR_X0X_BAD_ADDRESS', 'cannot bind 127.0.0.1:1');
    const err = await Agent.builder()
      .withLogger(() => {}, { level: 'info' })
      .build()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadAddressError);
    expect((err as Error).message).toBe('cannot bind 127.0.0.1:1');
    // Attached before create (to keep Rust's startup records), so a failed
    // create must detach it or the process would keep logging for nobody.
    expect(fakeLog.filters.slice(filters)).toStrictEqual([
      { debugNames: [], debugSkips: [], loggerLevel: 'info' },
      { debugNames: [], debugSkips: [] },
    ]);
  });

  it('withKeyFile generates and saves a key where there is no file, and loads the file once there is one', async () => {
    const file = path.join(dir, 'agent.key');
    const calls = FakeKeypair.calls.length;
    const first = await Agent.builder().withKeyFile(file).build();
    expect(FakeKeypair.calls.slice(calls)).toStrictEqual(['generate', `save:${file}`]);
    expect(first.agentId).toBe(lastNative().keypair.agentId);

    writeFileSync(file, 'a key file');
    const loadedAt = FakeKeypair.calls.length;
    const second = await Agent.builder().withKeyFile(file).build();
    expect(FakeKeypair.calls.slice(loadedAt)).toStrictEqual([`load:${file}`]);
    expect(second.agentId).toBe(lastNative().keypair.agentId);
    await Promise.all([first.close(), second.close()]);
  });

  it('withKeyFile never replaces a key file that fails to load', async () => {
    const file = path.join(dir, 'agent.key');
    writeFileSync(file, 'garbage!');
    const calls = FakeKeypair.calls.length;
    FakeKeypair.failure = nativeError('ERR_X0X_KEY_FILE', `key file ${file} is invalid`);
    await expect(Agent.builder().withKeyFile(file).build()).rejects.toBeInstanceOf(KeyFileError);
    expect(FakeKeypair.calls.slice(calls)).toStrictEqual([`load:${file}`]);
    expect(readFileSync(file, 'utf8')).toBe('garbage!');
  });

  it('withKeyFile reports a path it cannot look at as KeyFileError, without generating a key', async () => {
    const notADir = path.join(dir, 'file');
    writeFileSync(notADir, '');
    const calls = FakeKeypair.calls.length;
    const err = await Agent.builder()
      .withKeyFile(path.join(notADir, 'agent.key'))
      .build()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyFileError);
    expect((err as KeyFileError).cause).toMatchObject({ code: 'ENOTDIR' });
    expect(FakeKeypair.calls.slice(calls)).toStrictEqual([]);
  });

  it('withKeypair hands that keypair to the native agent', async () => {
    const keypair = AgentKeypair.generate();
    const agent = await Agent.builder().withKeypair(keypair).build();
    expect(lastNative().keypair.agentId).toBe(keypair.agentId);
    expect(agent.agentId).toBe(keypair.agentId);
    await agent.close();
  });
});

describe('AgentKeypair', () => {
  it('hands out plain Uint8Arrays: toBytes a view of the native bytes, publicKey a copy', () => {
    const keypair = AgentKeypair.generate();
    const native = lastKeypair();
    const bytes = keypair.toBytes();
    expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype);
    expect([bytes.buffer, bytes.byteOffset]).toStrictEqual([native.bytes.buffer, native.bytes.byteOffset]);
    expect([...bytes]).toStrictEqual([...native.bytes]);
    const publicKey = keypair.publicKey;
    expect(Object.getPrototypeOf(publicKey)).toBe(Uint8Array.prototype);
    publicKey[0] = 99;
    expect(native.publicKeyBuffer[0]).toBe(1);
  });

  it('fromBytes hands the native side a Buffer over the caller\'s bytes, slice offsets kept', () => {
    const backing = new Uint8Array([0, 1, 2, 3, 4, 5]);
    AgentKeypair.fromBytes(backing.subarray(1, 4));
    const given = lastKeypair().givenBytes!;
    expect(Buffer.isBuffer(given)).toBe(true);
    expect(given.buffer).toBe(backing.buffer);
    expect([given.byteOffset, given.byteLength]).toStrictEqual([1, 3]);
  });

  it('refuses a non-Uint8Array or an empty path before the native side', () => {
    const calls = FakeKeypair.calls.length;
    expect(() => AgentKeypair.fromBytes([1, 2] as never)).toThrow(TypeError);
    expect(() => AgentKeypair.load(5 as never)).toThrow(TypeError);
    expect(() => AgentKeypair.load('')).toThrow(expect.objectContaining({ code: 'ERR_X0X_INVALID_CONFIG', field: 'path' }));
    expect(() => AgentKeypair.generate().save('')).toThrow(expect.objectContaining({ field: 'path' }));
    expect(FakeKeypair.calls.slice(calls)).toStrictEqual(['generate']);
  });

  it('maps native failures to their classes', () => {
    FakeKeypair.failure = nativeError('ERR_X0X_KEY_FILE', 'cannot read key file');
    expect(() => AgentKeypair.load(path.join(dir, 'missing'))).toThrow(KeyFileError);
    FakeKeypair.failure = nativeError('ERR_X0X_BAD_KEY', 'key data must be 5988 bytes (got 2)');
    expect(() => AgentKeypair.fromBytes(new Uint8Array([1, 2]))).toThrow(BadKeyError);
    const keypair = AgentKeypair.generate();
    FakeKeypair.failure = nativeError('ERR_X0X_KEY_FILE', 'cannot write key file');
    expect(() => keypair.save(path.join(dir, 'k'))).toThrow(KeyFileError);
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

  it('publishes a string as its UTF-8 bytes and resolves with the id the core gave', async () => {
    await using agent = await Agent.builder().build();
    const native = lastNative();
    native.publishId = '12'.repeat(32);
    expect(await agent.publish('t', 'héllo')).toBe('12'.repeat(32));
    expect(native.calls).toContain('publish t 6');
    expect([...native.payloads[0]!]).toStrictEqual([...Buffer.from('héllo', 'utf8')]);
  });

  it('publish with a signal waits in slices while the core holds it back, and sends nothing once aborted', async () => {
    await using agent = await Agent.builder().build();
    const native = lastNative();
    native.publishWithinAnswers = [null, null, 'ab'.repeat(32)];
    const live = new AbortController();
    expect(await agent.publish('t', 'x', { signal: live.signal })).toBe('ab'.repeat(32));
    expect(native.calls.filter((c) => c.startsWith('publishWithin'))).toStrictEqual([
      'publishWithin t 1 200',
      'publishWithin t 1 200',
      'publishWithin t 1 200',
    ]);

    const giveUp = new AbortController();
    native.publishWithinAnswers = [null];
    const pending = agent.publish('t', 'y', { signal: giveUp.signal });
    giveUp.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    const before = native.calls.length;
    await expect(agent.publish('t', 'z', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(native.calls.slice(before)).toStrictEqual([]);
  });

  it('a subscription yields what its native stream yields, as Messages, and only on the topic asked for', async () => {
    await using agent = await Agent.builder().build();
    const native = lastNative();
    const sub = await agent.subscribe('t');
    expect(native.calls).toContain('subscribe t');
    const payload = Buffer.from('héllo');
    native.subscriptions.at(-1)!.push({ topic: 't', payload, from: 'cd'.repeat(32), id: 'ef'.repeat(32), publishedAt: 3, receivedAt: 4 });
    for await (const msg of sub) {
      expect(msg).toStrictEqual({
        topic: 't',
        payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
        from: 'cd'.repeat(32),
        id: 'ef'.repeat(32),
        publishedAt: 3,
        receivedAt: 4,
      });
      expect(Object.getPrototypeOf(msg.payload)).toBe(Uint8Array.prototype);
      break;
    }
    expect(native.subscriptions.at(-1)!.closeCalls).toBe(1);
  });

  it('joinNetwork with no bootstrap peers resolves without dialling', async () => {
    await using agent = await Agent.builder().build();
    await agent.joinNetwork();
    expect(lastNative().calls.filter((c) => c.startsWith('join'))).toStrictEqual([]);
  });

  it('joinNetwork dials the bootstrap peers and maps failures', async () => {
    await using agent = await Agent.builder().withBootstrapPeers(['10.0.0.1:9', '[::1]:7']).build();
    lastNative().joinFailure = nativeError('ERR_X0X_JOIN_FAILED', 'nobody answered');
    await expect(agent.joinNetwork()).rejects.toBeInstanceOf(JoinFailedError);
    expect(lastNative().calls).toContain('join 10.0.0.1:9,[::1]:7');
    // Records start only once a join succeeded.
    expect(lastNative().calls).not.toContain('presence.start');
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
    expect(native.calls.at(-1)).toBe('close');
  });

  it('runtime.isRunning reports a native agent that stopped by itself while open', async () => {
    await using agent = await Agent.builder().build();
    lastNative().running = false;
    expect(agent.runtime.isRunning).toBe(false);
    expect(agent.closed).toBe(false);
  });
});
