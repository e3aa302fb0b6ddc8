// agent.antiEntropy over the recording stand-in for the addon: what crosses
// the boundary, the config field, and the closed-agent rule. The figures a
// round and stats() report come straight from the core, so they are checked
// where they are made: across processes in test/net/anti-entropy.test.ts.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { Agent, AntiEntropyManager, ClosedError, GossipConfig, InvalidConfigError } from '../../src/index.js';
import { FakeAgent } from '../helpers/fake-binding.js';

describe('agent.antiEntropy', () => {
  it('hands the core its interval and runs a round there when asked', async () => {
    const agent = await Agent.builder().withConfig({ antiEntropyInterval: 2_000 }).build();
    const native = FakeAgent.created.at(-1)!;
    expect(agent.antiEntropy).toBeInstanceOf(AntiEntropyManager);
    expect(native.options.config.antiEntropyIntervalMs).toBe(2_000);
    await agent.antiEntropy.reconcile();
    expect(native.calls.filter((c) => c === 'reconcile')).toHaveLength(1);
    await agent.close();
  });

  it('rejects with ClosedError once the agent is closed', async () => {
    const agent = await Agent.builder().build();
    await agent.close();
    await expect(agent.antiEntropy.reconcile()).rejects.toBeInstanceOf(ClosedError);
    expect(() => agent.antiEntropy.stats()).toThrow(ClosedError);
  });

  it('validates antiEntropyInterval with a field-named range error', () => {
    for (const bad of [99, 3_600_001, 1.5, '30000']) {
      let err: unknown;
      try {
        new GossipConfig({ antiEntropyInterval: bad as number });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidConfigError);
      expect((err as InvalidConfigError).field).toBe('antiEntropyInterval');
    }
    expect(new GossipConfig().antiEntropyInterval).toBe(30_000);
  });
});
