import { inspect } from 'node:util';

import { describe, expect, it } from 'vitest';

import { GossipConfig, REDACTED_KEY, type NumericConfigField } from '../../src/config.js';
import { InvalidConfigError } from '../../src/errors.js';

// The specification, written out independently of src/config.ts.
const SPEC: Record<NumericConfigField, { def: number; min: number; max: number }> = {
  activeViewSize: { def: 10, min: 8, max: 12 },
  passiveViewSize: { def: 96, min: 64, max: 128 },
  probeInterval: { def: 1000, min: 100, max: 60000 },
  suspectTimeout: { def: 3000, min: 100, max: 600000 },
  presenceBeaconTtl: { def: 900000, min: 1000, max: 86400000 },
  antiEntropyInterval: { def: 30000, min: 100, max: 3600000 },
  foafTtl: { def: 3, min: 1, max: 10 },
  foafFanout: { def: 4, min: 1, max: 16 },
  subscriptionBuffer: { def: 10000, min: 1, max: 1000000 },
  messageCacheSize: { def: 10000, min: 1, max: 10000000 },
  messageCacheTtl: { def: 300000, min: 1000, max: 86400000 },
  coordinatorAdvertTtl: { def: 86400000, min: 1000, max: 604800000 },
  rendezvousTtl: { def: 3600000, min: 10000, max: 86400000 },
  rendezvousReplicas: { def: 3, min: 1, max: 16 },
};
const FIELDS = Object.keys(SPEC) as NumericConfigField[];
/** The non-numeric fields and their defaults. */
const OTHER_DEFAULTS = { coordinator: false, presenceGroupKey: null };

function rejection(fn: () => unknown): InvalidConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    return err as InvalidConfigError;
  }
  throw new Error('expected InvalidConfigError, nothing was thrown');
}

describe('GossipConfig defaults', () => {
  it('has exactly the specified fields and default values', () => {
    const expected = { ...Object.fromEntries(FIELDS.map((f) => [f, SPEC[f].def])), ...OTHER_DEFAULTS };
    expect(new GossipConfig().toJSON()).toStrictEqual(expected);
    expect({ ...GossipConfig.DEFAULTS }).toStrictEqual(expected);
  });

  it('freezes DEFAULTS and every instance', () => {
    expect(Object.isFrozen(GossipConfig.DEFAULTS)).toBe(true);
    const config = new GossipConfig();
    expect(Object.isFrozen(config)).toBe(true);
    expect(Reflect.set(config, 'activeViewSize', 11)).toBe(false);
    expect(config.activeViewSize).toBe(10);
  });

  it('keeps defaults for omitted and undefined fields', () => {
    const config = new GossipConfig({ foafTtl: 5, activeViewSize: undefined } as never);
    expect(config.foafTtl).toBe(5);
    expect(config.activeViewSize).toBe(10);
  });
});

describe.each(FIELDS)('GossipConfig.%s', (field) => {
  const { min, max } = SPEC[field];

  it('accepts both ends of its range', () => {
    expect(new GossipConfig({ [field]: min })[field]).toBe(min);
    expect(new GossipConfig({ [field]: max })[field]).toBe(max);
  });

  it.each([
    ['below the range', min - 1, String(min - 1)],
    ['above the range', max + 1, String(max + 1)],
    ['a fraction', min + 0.5, String(min + 0.5)],
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
    ['a numeric string', String(min), JSON.stringify(String(min))],
    ['null', null, 'null'],
  ])('rejects %s, naming the field, range and value', (_label, value, shown) => {
    const err = rejection(() => new GossipConfig({ [field]: value } as never));
    expect(err.code).toBe('ERR_X0X_INVALID_CONFIG');
    expect(err.field).toBe(field);
    expect(err.message).toContain(`${field} must be an integer from ${min} to ${max}`);
    expect(err.message).toContain(`(got ${shown})`);
  });
});

describe('GossipConfig input checks', () => {
  it('uses the documented message format', () => {
    expect(rejection(() => new GossipConfig({ activeViewSize: 20 })).message).toBe(
      'activeViewSize must be an integer from 8 to 12 (got 20)',
    );
    expect(rejection(() => new GossipConfig({ probeInterval: 50 })).message).toBe(
      'probeInterval must be an integer from 100 to 60000 ms (got 50)',
    );
  });

  it('rejects unknown keys, naming them', () => {
    const err = rejection(() => new GossipConfig({ activeViewsize: 10 } as never));
    expect(err.field).toBe('activeViewsize');
    expect(err.message).toContain('"activeViewsize"');
  });

  it.each([
    ['null', null],
    ['an array', []],
    ['a string', '{}'],
    ['a class instance', new Date()],
  ])('rejects %s as the whole config', (_label, value) => {
    const err = rejection(() => new GossipConfig(value as never));
    expect(err.field).toBeUndefined();
  });
});

describe('GossipConfig JSON', () => {
  const custom = new GossipConfig({ activeViewSize: 12, probeInterval: 250, messageCacheTtl: 1000 });

  it('round-trips through JSON text', () => {
    const back = GossipConfig.fromJSON(JSON.stringify(custom));
    expect(back).toBeInstanceOf(GossipConfig);
    expect(back.toJSON()).toStrictEqual(custom.toJSON());
  });

  it('accepts an already parsed object', () => {
    expect(GossipConfig.fromJSON({ foafFanout: 16 }).foafFanout).toBe(16);
  });

  it('toJSON returns a plain object, not the instance', () => {
    const json = custom.toJSON();
    expect(Object.getPrototypeOf(json)).toBe(Object.prototype);
    expect(Object.isFrozen(json)).toBe(false);
  });

  it('validates what it parses', () => {
    expect(rejection(() => GossipConfig.fromJSON('{"foafTtl": 0}')).field).toBe('foafTtl');
    expect(rejection(() => GossipConfig.fromJSON('{"nope": 1}')).field).toBe('nope');
    expect(rejection(() => GossipConfig.fromJSON('[1, 2]')).field).toBeUndefined();
  });

  it('reports malformed JSON with the parse error as cause', () => {
    const err = rejection(() => GossipConfig.fromJSON('{activeViewSize: 10'));
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });
});

describe('GossipConfig.toNative', () => {
  it('renames durations to the binding names', () => {
    const config = new GossipConfig({ probeInterval: 200, suspectTimeout: 400, messageCacheTtl: 5000 });
    expect(config.toNative()).toStrictEqual({
      activeViewSize: 10,
      passiveViewSize: 96,
      probeIntervalMs: 200,
      suspectTimeoutMs: 400,
      messageCacheSize: 10000,
      messageCacheTtlMs: 5000,
      antiEntropyIntervalMs: 30000,
      foafTtl: 3,
      foafFanout: 4,
      subscriptionBuffer: 10000,
    });
  });
});

describe('GossipConfig record fields', () => {
  it('accepts coordinator as a boolean only, naming the field otherwise', () => {
    expect(new GossipConfig({ coordinator: true }).coordinator).toBe(true);
    for (const bad of [1, 'true', null, {}]) {
      const err = rejection(() => new GossipConfig({ coordinator: bad as never }));
      expect(err.field).toBe('coordinator');
    }
  });

  it('takes a 32-byte presence group key as bytes or hex and stores lowercase hex', () => {
    const bytes = new Uint8Array(32).map((_, i) => i * 7);
    const hex = Buffer.from(bytes).toString('hex');
    expect(new GossipConfig({ presenceGroupKey: bytes }).presenceGroupKey).toBe(hex);
    expect(new GossipConfig({ presenceGroupKey: hex.toUpperCase() }).presenceGroupKey).toBe(hex);
    expect(new GossipConfig({ presenceGroupKey: null }).presenceGroupKey).toBeNull();
    // A config file written by hand carries the key in.
    expect(GossipConfig.fromJSON(JSON.stringify({ presenceGroupKey: hex })).presenceGroupKey).toBe(hex);
  });

  it('never writes the presence group key out, and refuses the redacted form back', () => {
    const hex = 'ab'.repeat(32);
    const keyed = new GossipConfig({ presenceGroupKey: hex, foafFanout: 5 });
    const text = JSON.stringify(keyed);
    expect(text).not.toContain(hex);
    expect(inspect(keyed)).not.toContain(hex);
    expect(keyed.toJSON().presenceGroupKey).toBe(REDACTED_KEY);
    expect(new GossipConfig().toJSON().presenceGroupKey).toBeNull();
    // Reading it back must not quietly drop the key (sealed beacons would go out readable).
    const err = rejection(() => GossipConfig.fromJSON(text));
    expect(err.field).toBe('presenceGroupKey');
    expect(err.message).toContain('redacted');
  });

  it('with() changes fields and keeps the rest, the key included', () => {
    const hex = 'cd'.repeat(32);
    const keyed = new GossipConfig({ presenceGroupKey: hex, foafFanout: 5 });
    const coord = keyed.with({ coordinator: true });
    expect(coord).toBeInstanceOf(GossipConfig);
    expect([coord.coordinator, coord.foafFanout, coord.presenceGroupKey]).toStrictEqual([true, 5, hex]);
    expect(keyed.coordinator).toBe(false);
    expect(rejection(() => keyed.with({ foafTtl: 0 })).field).toBe('foafTtl');
    expect(rejection(() => keyed.with([] as never)).field).toBeUndefined();
  });

  it.each([
    ['31 bytes', new Uint8Array(31)],
    ['33 bytes', new Uint8Array(33)],
    ['63 hex characters', 'a'.repeat(63)],
    ['non-hex characters', 'g'.repeat(64)],
    ['a number', 42],
    ['an array', Array.from({ length: 32 }, () => 0)],
  ])('rejects a presence group key of %s, naming the field and the size', (_label, value) => {
    const err = rejection(() => new GossipConfig({ presenceGroupKey: value as never }));
    expect(err.field).toBe('presenceGroupKey');
    expect(err.code).toBe('ERR_X0X_INVALID_CONFIG');
  });
});
