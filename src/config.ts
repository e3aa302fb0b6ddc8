/**
 * Gossip tuning: defaults, ranges and validation.
 *
 * All validation happens here, before the native boundary, so a bad value
 * fails synchronously with a message that names the field and its range, and
 * the native core receives only resolved, in-range numbers.
 *
 * @module
 */

import { InvalidConfigError } from './errors.js';
import type { NativeConfig } from './native.js';

/** The tunable fields of {@link GossipConfig}. Durations are in milliseconds. */
export interface GossipConfigFields {
  /**
   * HyParView active view: peers this agent keeps open connections to and
   * gossips with directly. Integer from 8 to 12.
   * @defaultValue 10
   */
  readonly activeViewSize: number;
  /**
   * HyParView passive view: known peers kept as replacements for failed
   * active peers. Integer from 64 to 128.
   * @defaultValue 96
   */
  readonly passiveViewSize: number;
  /**
   * SWIM failure detector: time between two probes of a random active peer,
   * in milliseconds. Integer from 100 to 60000.
   * @defaultValue 1000
   */
  readonly probeInterval: number;
  /**
   * SWIM failure detector: how long a peer may stay suspect before it is
   * declared dead and dropped from the views, in milliseconds.
   * Integer from 100 to 600000.
   * @defaultValue 3000
   */
  readonly suspectTimeout: number;
  /**
   * Lifetime of a presence beacon: how long other agents keep treating this
   * agent as online after its last beacon, in milliseconds.
   * Integer from 1000 to 86400000 (one day).
   * @defaultValue 900000 (15 minutes)
   */
  readonly presenceBeaconTtl: number;
  /**
   * Time between two anti-entropy rounds, in which neighbours reconcile the
   * message ids they hold so that messages lost to churn are repaired, in
   * milliseconds. Integer from 100 to 3600000 (one hour).
   * @defaultValue 30000
   */
  readonly antiEntropyInterval: number;
  /**
   * Friend-of-a-friend lookups: how many hops a query may travel before it is
   * dropped. Integer from 1 to 10.
   * @defaultValue 3
   */
  readonly foafTtl: number;
  /**
   * Friend-of-a-friend lookups: how many neighbours each hop forwards a query
   * to. Integer from 1 to 16.
   * @defaultValue 4
   */
  readonly foafFanout: number;
  /**
   * How many delivered messages one subscription buffers while its reader is
   * busy. When the buffer is full, newer messages are dropped for that
   * subscription and counted (`Subscription.dropped`,
   * `pubsubStats().laggedDropped`), so a stalled reader costs bounded memory.
   * Integer from 1 to 1000000.
   * @defaultValue 10000
   */
  readonly subscriptionBuffer: number;
  /**
   * How many message ids the de-duplication cache holds; older entries are
   * evicted first. Integer from 1 to 10000000.
   * @defaultValue 10000
   */
  readonly messageCacheSize: number;
  /**
   * How long a message id stays in the de-duplication cache, in milliseconds.
   * Integer from 1000 to 86400000 (one day).
   * @defaultValue 300000 (5 minutes)
   */
  readonly messageCacheTtl: number;
  /**
   * How long a coordinator advert stays valid, in milliseconds; a
   * coordinator re-advertises every half of it, and an advert not renewed in
   * time drops out of everyone's `getCoordinators()`.
   * Integer from 1000 to 604800000 (one week).
   * @defaultValue 86400000 (24 hours)
   */
  readonly coordinatorAdvertTtl: number;
  /**
   * Lifetime of a rendezvous registration, in milliseconds: holders forget
   * it after this unless renewed, and a registered agent renews it every
   * half of it. Integer from 10000 to 86400000 (one day).
   * @defaultValue 3600000 (one hour)
   */
  readonly rendezvousTtl: number;
  /**
   * How many holders keep each rendezvous registration (the highest-ranked
   * coordinators for the agent's shard). More holders survive more
   * coordinator failures; each lookup asks all of them. Integer from 1 to 16.
   * @defaultValue 3
   */
  readonly rendezvousReplicas: number;
  /**
   * Advertise this agent as a coordinator (a publicly reachable node others
   * may use for rendezvous) as soon as it joins; same as calling
   * `agent.coordinators.advertiseAsCoordinator()` after `joinNetwork()`.
   * @defaultValue false
   */
  readonly coordinator: boolean;
  /**
   * Presence group key: 32 random bytes, given as a `Uint8Array` or as 64
   * hex characters (stored as lowercase hex). With a key, presence beacons
   * are sealed (ChaCha20-Poly1305 under a key derived with HKDF-SHA-256) and
   * only agents holding the same key see each other; without one, beacons
   * are signed but readable by every agent. Make one with
   * `crypto.randomBytes(32).toString('hex')` and share it out of band.
   * `toJSON()` and `util.inspect()` show it as {@link REDACTED_KEY}, so a
   * config in a log line gives nothing away; keep the key itself apart
   * (a key file, an environment variable) and pass it in.
   * @defaultValue null (beacons in the clear)
   */
  readonly presenceGroupKey: string | null;
}

/**
 * What the {@link GossipConfig} constructor accepts: the fields, with the
 * presence group key also as raw bytes.
 */
export type GossipConfigInput = Omit<GossipConfigFields, 'presenceGroupKey'> & {
  /**
   * {@inheritDoc GossipConfigFields.presenceGroupKey}
   * @defaultValue null (beacons in the clear)
   */
  readonly presenceGroupKey: string | Uint8Array | null;
};

/** Name of one field of {@link GossipConfigFields}. */
export type GossipConfigField = keyof GossipConfigFields;

/** The integer fields of {@link GossipConfigFields}. */
export type NumericConfigField = {
  [K in GossipConfigField]: GossipConfigFields[K] extends number ? K : never;
}[GossipConfigField];

/** Bytes of a presence group key. */
export const PRESENCE_GROUP_KEY_BYTES = 32;

interface FieldRule {
  readonly min: number;
  readonly max: number;
  /** Appended to the range in messages, so "100 to 60000 ms" reads as a duration. */
  readonly unit: '' | ' ms';
}

// Iteration order of this table is the order of toJSON() and of error checks.
const RULES: { readonly [K in NumericConfigField]: FieldRule } = {
  activeViewSize: { min: 8, max: 12, unit: '' },
  passiveViewSize: { min: 64, max: 128, unit: '' },
  probeInterval: { min: 100, max: 60_000, unit: ' ms' },
  suspectTimeout: { min: 100, max: 600_000, unit: ' ms' },
  presenceBeaconTtl: { min: 1_000, max: 86_400_000, unit: ' ms' },
  antiEntropyInterval: { min: 100, max: 3_600_000, unit: ' ms' },
  foafTtl: { min: 1, max: 10, unit: '' },
  foafFanout: { min: 1, max: 16, unit: '' },
  subscriptionBuffer: { min: 1, max: 1_000_000, unit: '' },
  messageCacheSize: { min: 1, max: 10_000_000, unit: '' },
  messageCacheTtl: { min: 1_000, max: 86_400_000, unit: ' ms' },
  coordinatorAdvertTtl: { min: 1_000, max: 604_800_000, unit: ' ms' },
  rendezvousTtl: { min: 10_000, max: 86_400_000, unit: ' ms' },
  rendezvousReplicas: { min: 1, max: 16, unit: '' },
};

const FIELDS: readonly GossipConfigField[] = [
  ...(Object.keys(RULES) as NumericConfigField[]),
  'coordinator',
  'presenceGroupKey',
];

const DEFAULTS: Readonly<GossipConfigFields> = Object.freeze({
  activeViewSize: 10,
  passiveViewSize: 96,
  probeInterval: 1_000,
  suspectTimeout: 3_000,
  presenceBeaconTtl: 900_000,
  antiEntropyInterval: 30_000,
  foafTtl: 3,
  foafFanout: 4,
  subscriptionBuffer: 10_000,
  messageCacheSize: 10_000,
  messageCacheTtl: 300_000,
  coordinatorAdvertTtl: 86_400_000,
  rendezvousTtl: 3_600_000,
  rendezvousReplicas: 3,
  coordinator: false,
  presenceGroupKey: null,
});

function isField(key: string): key is GossipConfigField {
  return (FIELDS as readonly string[]).includes(key);
}

/** Renders a rejected value so that `"10"` and `10` read differently. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

function checkCoordinator(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  throw new InvalidConfigError(`coordinator must be true or false (got ${describe(value)})`, {
    field: 'coordinator',
  });
}

/**
 * How {@link GossipConfig.toJSON} writes a presence group key: never the
 * key itself.
 */
export const REDACTED_KEY = '[redacted]';

function checkGroupKey(value: unknown): string | null {
  if (value === null) return null;
  if (value === REDACTED_KEY) {
    throw new InvalidConfigError(
      'presenceGroupKey was redacted when this config was serialised; pass the key itself (32 bytes or 64 hex characters)',
      { field: 'presenceGroupKey' },
    );
  }
  if (value instanceof Uint8Array && value.byteLength === PRESENCE_GROUP_KEY_BYTES) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  }
  if (typeof value === 'string' && /^[0-9a-fA-F]{64}$/.test(value)) return value.toLowerCase();
  const got =
    value instanceof Uint8Array ? `${value.byteLength} bytes` : typeof value === 'string' ? `a string of ${value.length} characters` : describe(value);
  throw new InvalidConfigError(
    `presenceGroupKey must be ${PRESENCE_GROUP_KEY_BYTES} bytes (a Uint8Array or 64 hex characters) or null (got ${got})`,
    { field: 'presenceGroupKey' },
  );
}

function checkField(field: NumericConfigField, value: unknown): number {
  const { min, max, unit } = RULES[field];
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) {
    return value;
  }
  throw new InvalidConfigError(
    `${field} must be an integer from ${min} to ${max}${unit} (got ${describe(value)})`,
    { field },
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Immutable, validated gossip settings.
 *
 * Construct with the fields to change; the rest keep their defaults. Every
 * value must be an integer inside its documented range, and unknown keys are
 * rejected so that a typo cannot silently fall back to a default.
 *
 * @example
 * ```ts
 * const config = new GossipConfig({ probeInterval: 500 });
 * config.activeViewSize; // 10
 * JSON.stringify(config); // every field, defaults included
 * ```
 */
export class GossipConfig implements GossipConfigFields {
  /** The default value of every field, frozen. */
  static readonly DEFAULTS: Readonly<GossipConfigFields> = DEFAULTS;

  /** {@inheritDoc GossipConfigFields.activeViewSize} */
  readonly activeViewSize: number;
  /** {@inheritDoc GossipConfigFields.passiveViewSize} */
  readonly passiveViewSize: number;
  /** {@inheritDoc GossipConfigFields.probeInterval} */
  readonly probeInterval: number;
  /** {@inheritDoc GossipConfigFields.suspectTimeout} */
  readonly suspectTimeout: number;
  /** {@inheritDoc GossipConfigFields.presenceBeaconTtl} */
  readonly presenceBeaconTtl: number;
  /** {@inheritDoc GossipConfigFields.antiEntropyInterval} */
  readonly antiEntropyInterval: number;
  /** {@inheritDoc GossipConfigFields.foafTtl} */
  readonly foafTtl: number;
  /** {@inheritDoc GossipConfigFields.foafFanout} */
  readonly foafFanout: number;
  /** {@inheritDoc GossipConfigFields.subscriptionBuffer} */
  readonly subscriptionBuffer: number;
  /** {@inheritDoc GossipConfigFields.messageCacheSize} */
  readonly messageCacheSize: number;
  /** {@inheritDoc GossipConfigFields.messageCacheTtl} */
  readonly messageCacheTtl: number;
  /** {@inheritDoc GossipConfigFields.coordinatorAdvertTtl} */
  readonly coordinatorAdvertTtl: number;
  /** {@inheritDoc GossipConfigFields.rendezvousTtl} */
  readonly rendezvousTtl: number;
  /** {@inheritDoc GossipConfigFields.rendezvousReplicas} */
  readonly rendezvousReplicas: number;
  /** {@inheritDoc GossipConfigFields.coordinator} */
  readonly coordinator: boolean;
  /** {@inheritDoc GossipConfigFields.presenceGroupKey} */
  readonly presenceGroupKey: string | null;

  /**
   * Validates `fields` and fills in the defaults of the rest. The result is
   * frozen: make a new config to change a field.
   *
   * @param fields - fields to override; omitted or `undefined` fields keep their default
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`) when `fields` is not a plain object, has
   *   an unknown key, or holds a value that is not an integer in range
   */
  constructor(fields: Partial<GossipConfigInput> = {}) {
    if (!isPlainObject(fields)) {
      throw new InvalidConfigError(
        `gossip config must be a plain object (got ${describe(fields)})`,
      );
    }
    for (const key of Object.keys(fields)) {
      if (!isField(key)) {
        throw new InvalidConfigError(
          `unknown gossip config field ${JSON.stringify(key)} (known fields: ${FIELDS.join(', ')})`,
          { field: key },
        );
      }
    }
    const given = fields as Record<GossipConfigField, unknown>;
    const pick = (field: NumericConfigField): number =>
      given[field] === undefined ? DEFAULTS[field] : checkField(field, given[field]);
    this.activeViewSize = pick('activeViewSize');
    this.passiveViewSize = pick('passiveViewSize');
    this.probeInterval = pick('probeInterval');
    this.suspectTimeout = pick('suspectTimeout');
    this.presenceBeaconTtl = pick('presenceBeaconTtl');
    this.antiEntropyInterval = pick('antiEntropyInterval');
    this.foafTtl = pick('foafTtl');
    this.foafFanout = pick('foafFanout');
    this.subscriptionBuffer = pick('subscriptionBuffer');
    this.messageCacheSize = pick('messageCacheSize');
    this.messageCacheTtl = pick('messageCacheTtl');
    this.coordinatorAdvertTtl = pick('coordinatorAdvertTtl');
    this.rendezvousTtl = pick('rendezvousTtl');
    this.rendezvousReplicas = pick('rendezvousReplicas');
    this.coordinator = given.coordinator === undefined ? false : checkCoordinator(given.coordinator);
    this.presenceGroupKey =
      given.presenceGroupKey === undefined ? null : checkGroupKey(given.presenceGroupKey);
    Object.freeze(this);
  }

  /**
   * Parses and validates a config from JSON text or from an already parsed
   * object (e.g. one field of a larger config file).
   *
   * @param json - a JSON string or a plain object
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`) when the text is not JSON, or on any
   *   error the constructor reports
   */
  static fromJSON(json: unknown): GossipConfig {
    let value = json;
    if (typeof json === 'string') {
      try {
        value = JSON.parse(json) as unknown;
      } catch (err) {
        throw new InvalidConfigError('gossip config is not valid JSON', { cause: err });
      }
    }
    // Checked here rather than by the constructor's signature: JSON is untyped.
    return new GossipConfig(value as Partial<GossipConfigInput>);
  }

  /**
   * All fields as a plain object; `JSON.stringify` uses this, and
   * {@link GossipConfig.fromJSON} reads it back. A presence group key is
   * written as {@link REDACTED_KEY}, which `fromJSON` refuses: a serialised
   * config is safe to log, and never silently loses its key (that would
   * turn sealed beacons into readable ones).
   */
  toJSON(): GossipConfigFields {
    const out = {} as Record<GossipConfigField, unknown>;
    for (const field of FIELDS) out[field] = this[field];
    if (this.presenceGroupKey !== null) out.presenceGroupKey = REDACTED_KEY;
    return out as unknown as GossipConfigFields;
  }

  /**
   * A copy with `changes` applied, the presence group key included (which
   * a trip through {@link GossipConfig.toJSON} would not carry).
   *
   * @param changes - fields to change; the others keep this config's values
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`) as the constructor does
   */
  with(changes: Partial<GossipConfigInput>): GossipConfig {
    if (!isPlainObject(changes)) {
      throw new InvalidConfigError(`gossip config changes must be a plain object (got ${describe(changes)})`);
    }
    const fields = {} as Record<GossipConfigField, unknown>;
    for (const field of FIELDS) fields[field] = this[field];
    return new GossipConfig({ ...(fields as unknown as GossipConfigInput), ...changes });
  }

  /** What `console.log` and `util.inspect` show: {@link GossipConfig.toJSON}, the key redacted. */
  [Symbol.for('nodejs.util.inspect.custom')](): GossipConfigFields {
    return this.toJSON();
  }

  /**
   * The subset of fields the native core accepts, renamed to its
   * millisecond-suffixed names.
   *
   * @internal
   */
  toNative(): NativeConfig {
    // presenceBeaconTtl and presenceGroupKey go to the core through
    // `presence()` (src/presence.ts); coordinatorAdvertTtl, rendezvousTtl,
    // rendezvousReplicas and coordinator are used by the TypeScript managers.
    return {
      activeViewSize: this.activeViewSize,
      passiveViewSize: this.passiveViewSize,
      probeIntervalMs: this.probeInterval,
      suspectTimeoutMs: this.suspectTimeout,
      messageCacheSize: this.messageCacheSize,
      messageCacheTtlMs: this.messageCacheTtl,
      antiEntropyIntervalMs: this.antiEntropyInterval,
      foafTtl: this.foafTtl,
      foafFanout: this.foafFanout,
      subscriptionBuffer: this.subscriptionBuffer,
    };
  }
}
