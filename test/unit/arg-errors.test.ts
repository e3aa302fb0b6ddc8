// Programmer errors carry Node's codes: every public entry point that
// refuses a bad argument in TypeScript throws (or rejects with) a TypeError
// whose `code` is ERR_INVALID_ARG_TYPE (wrong JavaScript type) or
// ERR_INVALID_ARG_VALUE (an agent id string of the wrong form), and a
// second iteration of a subscription ERR_INVALID_STATE. Options arguments
// (null, non-objects, a bad signal) are enumerated in options-arg.test.ts.
// Over the recording stand-in for the addon: every check runs before
// anything native.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { invalidArgType, invalidArgValue, invalidState } from '../../src/arg-errors.js';
import { Agent, AgentKeypair, InvalidConfigError, rankHolders, shardId, type ProgrammerErrorCode } from '../../src/index.js';
import { registerX0xMetrics } from '../../src/prom-client.js';
import { createTestnet } from '../../src/testnet.js';

const ID = 'ab'.repeat(32);

/** What a coded programmer error looks like: a TypeError with this `code`, message kept. */
function coded(code: ProgrammerErrorCode, message?: RegExp): unknown {
  const fields = message === undefined ? {} : { message: expect.stringMatching(message) };
  return expect.objectContaining({ name: 'TypeError', code, ...fields });
}

/** The synchronous throw of `fn`, checked to be a TypeError with `code`. */
function thrown(fn: () => unknown, code: ProgrammerErrorCode, message?: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TypeError);
  expect(err).toEqual(coded(code, message));
}

/** The rejection of `promise`, checked to be a TypeError with `code`. */
async function rejected(promise: Promise<unknown>, code: ProgrammerErrorCode, message?: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TypeError);
  expect(err).toEqual(coded(code, message));
}

describe('the helpers', () => {
  it('make TypeErrors with a read-only, enumerable code and the message unchanged', () => {
    for (const [make, code] of [
      [invalidArgType, 'ERR_INVALID_ARG_TYPE'],
      [invalidArgValue, 'ERR_INVALID_ARG_VALUE'],
      [invalidState, 'ERR_INVALID_STATE'],
    ] as const) {
      const err = make('x must be y');
      expect(err).toBeInstanceOf(TypeError);
      expect(err.message).toBe('x must be y');
      expect(err.code).toBe(code);
      expect(Object.getOwnPropertyDescriptor(err, 'code')).toMatchObject({ enumerable: true, writable: false });
      expect(() => {
        (err as { code: string }).code = 'other';
      }).toThrow(TypeError);
    }
  });
});

describe('AgentBuilder', () => {
  it('gives a wrong type ERR_INVALID_ARG_TYPE', () => {
    const builder = Agent.builder();
    thrown(() => builder.withKeypair({} as never), 'ERR_INVALID_ARG_TYPE', /withKeypair\(\) expects an AgentKeypair/);
    thrown(() => builder.withKeyFile(42 as never), 'ERR_INVALID_ARG_TYPE', /withKeyFile\(\) expects a file path string/);
    thrown(() => builder.withBootstrapPeers('127.0.0.1:5483' as never), 'ERR_INVALID_ARG_TYPE', /withBootstrapPeers/);
    thrown(() => builder.withAnnounceAddrs('100.64.0.1:5483' as never), 'ERR_INVALID_ARG_TYPE', /withAnnounceAddrs/);
    thrown(
      () => builder.withUpnp('yes' as never),
      'ERR_INVALID_ARG_TYPE',
      /withUpnp\(\) expects true or false \(got string\)/,
    );
    thrown(() => builder.withDataDir(5 as never), 'ERR_INVALID_ARG_TYPE', /withDataDir/);
    thrown(() => builder.withLogger('log' as never), 'ERR_INVALID_ARG_TYPE', /withLogger/);
  });

  it('keeps what was already coded ERR_X0X_*', () => {
    const builder = Agent.builder();
    expect(() => builder.withKeyFile('')).toThrow(expect.objectContaining({ code: 'ERR_X0X_INVALID_CONFIG' }));
    expect(() => builder.withDataDir('')).toThrow(InvalidConfigError);
    expect(() => builder.withBootstrapPeers([5 as never])).toThrow(expect.objectContaining({ code: 'ERR_X0X_BAD_ADDRESS' }));
  });
});

describe('AgentKeypair', () => {
  it('gives a wrong type ERR_INVALID_ARG_TYPE', async () => {
    thrown(() => AgentKeypair.fromBytes([1, 2] as never), 'ERR_INVALID_ARG_TYPE', /fromBytes\(\) expects a Uint8Array/);
    await rejected(Promise.resolve().then(() => AgentKeypair.load(5 as never)), 'ERR_INVALID_ARG_TYPE', /load\(\)/);
    const keypair = AgentKeypair.generate();
    await rejected(Promise.resolve().then(() => keypair.save(5 as never)), 'ERR_INVALID_ARG_TYPE', /save\(\)/);
  });
});

describe('agent methods', () => {
  it('give a wrong type ERR_INVALID_ARG_TYPE', async () => {
    await using agent = await Agent.builder().build();
    await rejected(
      agent.publish('t', 42 as never),
      'ERR_INVALID_ARG_TYPE',
      /payload must be a Uint8Array or a string \(got number\)/,
    );
    await rejected(agent.pubsub.publish('t', null as never), 'ERR_INVALID_ARG_TYPE', /got null/);
    await rejected(
      agent.membership.waitForPeers('2' as never),
      'ERR_INVALID_ARG_TYPE',
      /count must be a number \(got string\)/,
    );
    await rejected(agent.pubsub.waitForTopicPeers('t', '2' as never), 'ERR_INVALID_ARG_TYPE', /count must be a number/);
    await rejected(agent.discovery.findAgent(5 as never), 'ERR_INVALID_ARG_TYPE', /agentId must be/);
    await rejected(agent.rendezvous.lookup(undefined as never), 'ERR_INVALID_ARG_TYPE', /agentId must be/);
    thrown(() => agent.rendezvous.holdersFor(null as never), 'ERR_INVALID_ARG_TYPE', /agentId must be/);
    thrown(() => agent.rendezvous.shardId(7 as never), 'ERR_INVALID_ARG_TYPE', /agentId must be/);
    await rejected(agent.rendezvous.register('nope' as never), 'ERR_INVALID_ARG_TYPE', /register\(\) takes no agent id/);
    await rejected(agent.rendezvous.unregister('nope' as never), 'ERR_INVALID_ARG_TYPE', /unregister\(\) takes no agent id/);
    await rejected(agent.transport.blockPeer(7 as never), 'ERR_INVALID_ARG_TYPE', /peerId must be/);
    thrown(() => agent.transport.unblockPeer({} as never), 'ERR_INVALID_ARG_TYPE', /peerId must be/);
  });

  it('give an agent id string of the wrong form ERR_INVALID_ARG_VALUE', async () => {
    await using agent = await Agent.builder().build();
    const upper = 'AB'.repeat(32);
    await rejected(
      agent.discovery.findAgent('nope'),
      'ERR_INVALID_ARG_VALUE',
      /agentId must be a 64-character lowercase hex agent id \(got nope\)/,
    );
    await rejected(agent.rendezvous.lookup(upper), 'ERR_INVALID_ARG_VALUE', /agentId must be/);
    thrown(() => agent.rendezvous.holdersFor('ab'), 'ERR_INVALID_ARG_VALUE', /agentId must be/);
    thrown(() => agent.rendezvous.shardId(upper), 'ERR_INVALID_ARG_VALUE', /agentId must be/);
    await rejected(agent.transport.blockPeer('nope'), 'ERR_INVALID_ARG_VALUE', /peerId must be .* \(got nope\)/);
    thrown(() => agent.transport.unblockPeer(`${ID}0`), 'ERR_INVALID_ARG_VALUE', /peerId must be/);
  });

  it('give a second iteration of a subscription ERR_INVALID_STATE', async () => {
    await using agent = await Agent.builder().build();
    const sub = await agent.subscribe('t');
    sub[Symbol.asyncIterator]();
    thrown(() => sub[Symbol.asyncIterator](), 'ERR_INVALID_STATE', /already being iterated/);
  });
});

describe('rendezvous helpers', () => {
  it('give a wrong type ERR_INVALID_ARG_TYPE and a bad id ERR_INVALID_ARG_VALUE', () => {
    const a = { agentId: ID, addrs: [] };
    thrown(() => rankHolders('0' as never, [a], 1), 'ERR_INVALID_ARG_TYPE', /shard must be a number \(got string\)/);
    thrown(() => rankHolders(0, [a], '1' as never), 'ERR_INVALID_ARG_TYPE', /count must be a number/);
    thrown(() => rankHolders(0, [{ agentId: 5 as never, addrs: [] }], 1), 'ERR_INVALID_ARG_TYPE', /agentId must be/);
    thrown(() => rankHolders(0, [{ agentId: 'nope', addrs: [] }], 1), 'ERR_INVALID_ARG_VALUE', /agentId must be/);
    thrown(() => shardId(5 as never), 'ERR_INVALID_ARG_TYPE', /agentId must be/);
    thrown(() => shardId('abc'), 'ERR_INVALID_ARG_VALUE', /agentId must be/);
  });
});

describe('@x0x/node/testing', () => {
  it('createTestnet gives a wrong type ERR_INVALID_ARG_TYPE', async () => {
    await rejected(createTestnet('3' as never), 'ERR_INVALID_ARG_TYPE', /n must be a number \(got string\)/);
  });
});

describe('@x0x/node/prom-client', () => {
  it('registerX0xMetrics gives a non-agent and non-object options ERR_INVALID_ARG_TYPE', async () => {
    await rejected(registerX0xMetrics({} as never), 'ERR_INVALID_ARG_TYPE', /not an x0x Agent/);
    await using agent = await Agent.builder().build();
    await rejected(
      registerX0xMetrics(agent, 'registry' as never),
      'ERR_INVALID_ARG_TYPE',
      /^The "options" argument must be of type object\. Received type string \('registry'\)$/,
    );
    await rejected(
      registerX0xMetrics(agent, null as never),
      'ERR_INVALID_ARG_TYPE',
      /^The "options" argument must be of type object\. Received null$/,
    );
  });
});
