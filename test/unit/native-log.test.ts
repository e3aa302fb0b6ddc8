// The TypeScript end of the Rust log bridge, over the stand-in addon: what
// filter the facade pushes to Rust as agents with loggers open and close,
// and where a batch of Rust records goes. That Rust really bridges its
// `tracing` events is test/net/logging.test.ts's job.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { Agent, type LogRecord } from '../../src/index.js';
import { fakeLog } from '../helpers/fake-binding.js';

const rustRecord = {
  level: 'debug' as const,
  namespace: 'x0x:membership',
  target: 'saorsa_gossip_membership',
  message: 'Added to active view',
  fields: [
    { name: 'peer_id', value: 'ab12' },
    { name: 'n', value: 3 },
    { name: 'ok', value: true },
  ],
};

describe('Rust log bridge (TypeScript end)', () => {
  it('pushes no filter while nothing wants Rust records', async () => {
    const agent = await Agent.builder().build();
    await agent.close();
    expect(fakeLog.filters).toStrictEqual([]);
    expect(fakeLog.sink).toBeUndefined();
  });

  it('turns Rust logging on at the logger level while the agent is open, and off after close', async () => {
    const records: LogRecord[] = [];
    const agent = await Agent.builder()
      .withLogger((r) => records.push(r), { level: 'info' })
      .build();
    expect(fakeLog.filters.at(-1)).toStrictEqual({ debugNames: [], debugSkips: [], loggerLevel: 'info' });
    expect(fakeLog.sink).toBeTypeOf('function');

    const deliver = fakeLog.sink!;
    deliver({ records: [{ ...rustRecord, level: 'info' }, rustRecord], dropped: 2 });
    expect(records.filter((r) => r.module !== undefined || r.target === 'x0x:core')).toStrictEqual([
      {
        level: 'info',
        target: 'x0x:membership',
        message: 'Added to active view',
        fields: { peer_id: 'ab12', n: 3, ok: true },
        module: 'saorsa_gossip_membership',
      },
      {
        level: 'warn',
        target: 'x0x:core',
        message: 'log records dropped: the queue from Rust was full',
        fields: { dropped: 2 },
      },
    ]);

    await agent.close();
    expect(fakeLog.filters.at(-1)).toStrictEqual({ debugNames: [], debugSkips: [] });
    const before = records.length;
    deliver({ records: [{ ...rustRecord, level: 'error' }], dropped: 0 });
    expect(records.length).toBe(before);
  });

  it('runtime.shutdown() detaches the logger as close() does: "closed" is its last record', async () => {
    const records: LogRecord[] = [];
    const agent = await Agent.builder().withLogger((r) => records.push(r)).build();
    const deliver = fakeLog.sink!;
    await agent.runtime.shutdown();
    expect(agent.closed).toBe(true);
    expect(fakeLog.filters.at(-1)).toStrictEqual({ debugNames: [], debugSkips: [] });
    expect(records.at(-1)).toMatchObject({ target: 'x0x:agent', message: 'closed' });
    const before = records.length;
    deliver({ records: [{ ...rustRecord, level: 'error' }], dropped: 0 });
    await agent.close();
    expect(records.length).toBe(before);
  });

  it('the most verbose open logger sets the level; a throwing logger does not stop the others', async () => {
    const got: LogRecord[] = [];
    const quiet = await Agent.builder()
      .withLogger(() => {
        throw new Error('broken logger');
      }, { level: 'error' })
      .build();
    const loud = await Agent.builder()
      .withLogger((r) => got.push(r), { level: 'trace' })
      .build();
    expect(fakeLog.filters.at(-1)?.loggerLevel).toBe('trace');
    expect(() => fakeLog.sink!({ records: [{ ...rustRecord, level: 'error' }], dropped: 0 })).not.toThrow();
    expect(got.filter((r) => r.module !== undefined)).toHaveLength(1);
    await loud.close();
    expect(fakeLog.filters.at(-1)?.loggerLevel).toBe('error');
    await quiet.close();
  });

  it('refuses an unknown logger level as a bad option, naming it', () => {
    expect(() => Agent.builder().withLogger(() => {}, { level: 'verbose' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_X0X_INVALID_CONFIG', field: 'level' }),
    );
  });
});
